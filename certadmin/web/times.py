"""Moments as the dashboard writes them for people and for files: one function per form.

- ``utc_text``: ``2026-03-01T08:00:00Z``, ISO 8601 in UTC to the second: the inventory CSV,
  ``cert_expiry_report``, the certificate export's index and the ``querydevicecert`` CLI.
- ``utc_stamp``: ``20260301T080000Z``, the same instant in ISO 8601's basic form, for a file
  name (no colon, which some file systems refuse): the bulk certificate export's ZIP.
- ``local_time_text``: ``2026-11-26 14:03:07 CST (UTC+08:00)``, in the active time zone and
  labelled with it, the same numeric form in every language, so that a time read off a page, a
  screenshot or an export means one instant. ``local_time_html`` wraps it in ``<time>``;
  ``LocalTimes`` writes a page's many, the zone's label worked out once per offset.

Also the template tag library ``timestamps`` (registered in settings):
``{% timestamp value %}`` and ``{% time_zone_label %}``::

    <time datetime="2026-11-26T06:03:07+00:00">2026-11-26 14:03:07 CST (UTC+08:00)</time>

Not here, on purpose: texts that are hashed, signed or read by another program keep their own
fixed form where they are written (the audit chain's ``created_at`` text and the checkpoint
and export manifests in ``certadmin.audit``, the API's signature timestamps in
``certadmin.iot.client``, a key bundle's ``device.json`` in ``certadmin.certs.bundles``).
"""

from datetime import UTC, datetime
from html import escape

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
UTC_STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


def utc_text(moment: datetime | None) -> str:
    """``moment`` as ISO 8601 in UTC with a ``Z``, to the second; "" for None."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime(UTC_FORMAT)


def utc_stamp(moment: datetime) -> str:
    """``moment`` as ISO 8601's basic form in UTC with a ``Z``, to the second, for file names."""
    return moment.astimezone(UTC).strftime(UTC_STAMP_FORMAT)


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


def _shown(local: datetime, label: str) -> str:
    # The digits without strftime (a page writes many), except below the year 1000, where
    # strftime's own year (unpadded on glibc) is what the pages have always shown.
    if local.year < 1000:
        digits = local.strftime(DATETIME_FORMAT)
    else:
        digits = (
            f"{local.year:04d}-{local.month:02d}-{local.day:02d} "
            f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
        )
    return f"{digits} {label}".rstrip()


def local_time_text(moment: datetime) -> str:
    """``2026-11-26 14:03:07 CST (UTC+08:00)``: the moment in the active time zone, labelled."""
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    return _shown(local, zone_label(local))


def _time_element(moment: datetime, shown_html: str) -> SafeString:
    machine = escape(moment.isoformat(timespec="seconds"))
    return mark_safe(f'<time datetime="{machine}">{shown_html}</time>')  # noqa: S308


def local_time_html(moment: datetime) -> SafeString:
    """A ``<time>`` element: the moment as written (machine) and as ``local_time_text``."""
    return _time_element(moment, escape(local_time_text(moment)))


class LocalTimes:
    """One page's times, each as ``local_time_html`` writes it, in the time zone active when
    the page began: the zone's label worked out (and escaped) once per offset."""

    def __init__(self) -> None:
        self._zone = timezone.get_current_timezone()
        self._labels: dict[tuple, str] = {}

    def html(self, moment: datetime) -> SafeString:
        if not timezone.is_aware(moment):
            return local_time_html(moment)
        local = moment.astimezone(self._zone)
        key = (local.utcoffset(), local.tzname())
        label = self._labels.get(key)
        if label is None:
            label = self._labels[key] = escape(zone_label(local))
        return _time_element(moment, _shown(local, label))


@register.simple_tag
def timestamp(moment: datetime | None, empty: str = "—") -> str:
    """``{% timestamp value %}``: ``local_time_html`` of ``moment`` (``empty`` if None)."""
    if moment is None:
        return empty
    return local_time_html(moment)


@register.simple_tag
def time_zone_label() -> str:
    """``{% time_zone_label %}``: the active time zone, labelled as times label it, e.g.
    ``CST (UTC+08:00)``."""
    return zone_label(timezone.localtime(timezone.now()))
