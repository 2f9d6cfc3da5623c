"""The site's one way to show a moment: ``{% timestamp value %}``.

    <time datetime="2026-11-26T06:03:07+00:00">2026-11-26 14:03:07 CST (UTC+08:00)</time>

Always the same numeric format in every language, always in the active time zone, always
labelled with it, so a time read off a page, a screenshot or an export means one instant.
"""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def zone_label(moment: datetime) -> str:
    """``CST (UTC+08:00)``; ``UTC`` for UTC; ``UTC+05:45`` where the zone has no abbreviation."""
    offset = moment.strftime("%z")  # +0800
    offset = f"{offset[:3]}:{offset[3:]}" if offset else ""
    if offset == "+00:00" and moment.tzname() in ("UTC", "GMT", "+00"):
        return "UTC"
    abbreviation = moment.tzname() or ""
    if not abbreviation or abbreviation[0] in "+-":
        return f"UTC{offset}"
    return f"{abbreviation} (UTC{offset})"


def timestamp_text(moment: datetime) -> str:
    """``2026-11-26 14:03:07 CST (UTC+08:00)``: the moment in the active time zone, labelled."""
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    return f"{local.strftime(DATETIME_FORMAT)} {zone_label(local)}".rstrip()


@register.simple_tag
def timestamp(moment: datetime | None, empty: str = "—") -> str:
    """A ``<time>`` element showing ``moment`` as ``timestamp_text`` does (``empty`` if None)."""
    if moment is None:
        return empty
    machine = moment.isoformat(timespec="seconds")
    return format_html('<time datetime="{}">{}</time>', machine, timestamp_text(moment))


@register.simple_tag
def time_zone_label() -> str:
    """The active time zone, labelled as timestamps label it, e.g. ``CST (UTC+08:00)``."""
    return zone_label(timezone.localtime(timezone.now()))
