"""``{% device_status_badge status %}``: a device's status as a coloured badge in words;
``{% cert_status_badge status %}``: its certificate's (QueryDeviceCert Status) likewise."""

from django import template
from django.utils.html import format_html
from django.utils.text import slugify
from django.utils.translation import gettext

from certadmin.devices.display_names import CERT_STATUSES, DEVICE_STATUSES

register = template.Library()


@register.simple_tag
def device_status_badge(status: str) -> str:
    """The badge for a QueryDevice DeviceStatus; an unknown value is shown as it came, neutral;
    no status, nothing."""
    if not status:
        return ""
    label, tone = DEVICE_STATUSES.get(status, (status, "neutral"))
    return format_html(
        '<span class="badge badge-{} device-status device-status-{}">{}</span>',
        tone,
        # The platform's word stays out of the text, even of an attribute: the page says it
        # in the reader's language.
        slugify(status),
        gettext(label) if status in DEVICE_STATUSES else label,
    )


@register.simple_tag
def cert_status_badge(status: int | None) -> str:
    """The badge for a QueryDeviceCert Status (0 being generated, 1 generation failed, 2
    ready); an unknown value is shown as its number, neutral."""
    if status is None:
        return ""
    if status not in CERT_STATUSES:
        return format_html('<span class="badge badge-neutral cert-status">{}</span>', status)
    label, tone = CERT_STATUSES[status]
    return format_html(
        '<span class="badge badge-{} cert-status cert-status-{}">{}</span>',
        tone,
        int(status),
        gettext(label),
    )
