"""The device tables' rows as a page shows them, built in Python once per page.

The product device list and the expiry overview show one inventory table
(``devices/inventory_table.html``); its rows are worked out here from records the selectors
fetched: each label translated once per page, the device link from one reversed URL, each
row's ``<tr>`` one string (as ``audit.rows`` builds the audit tables). Selectors return data;
what a row says, and how, is decided here.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext

from certadmin.audit.rows import PathFormat
from certadmin.certs.details import expiry_days_left
from certadmin.devices.expiry import expiry_state_label, expiry_state_of
from certadmin.devices.models import CertificateRecord, NodeType
from certadmin.devices.services import device_query
from certadmin.devices.templatetags.device_status import device_status_badge
from certadmin.web.times import LocalTimes


@dataclass(frozen=True, slots=True)
class InventoryRow:
    """One row of a device table, with what the table shows beyond the stored fields worked
    out once (labels translated once per page, the device link from one reversed URL)."""

    record: CertificateRecord
    state: str
    state_label: str
    # Whole days until notAfter, toward zero (``certs.details.expiry_days_left``: negative
    # once expired, 0 within a day either side); None without a certificate date.
    days_left: int | None
    stale: bool
    device_url: str
    device_status: SafeString
    node_type: SafeString
    # notAfter in the active time zone: ISO 8601 for <time datetime>, and the date shown.
    not_after_iso: str
    not_after_date: str
    # "3 days left" / "2 days ago"; "" without a certificate date.
    days_text: str
    last_checked: SafeString


def _days_text(days_left: int | None, *, expired: bool) -> str:
    # ``expired`` rather than the sign: within a day after notAfter the count is 0 and the
    # certificate has expired ("0 days ago", as the certificate page's "expired 0 days ago").
    if days_left is None:
        return ""
    if expired:
        return ngettext("%(days)s day ago", "%(days)s days ago", -days_left) % {"days": -days_left}
    return ngettext("%(days)s day left", "%(days)s days left", days_left) % {"days": days_left}


def _device_url(path: PathFormat, record: CertificateRecord) -> str:
    # As ``views.search.device_url``, from the one reversed pattern.
    url = path.path(record.product_key, record.device_name)
    return url + device_query(record) if url else url


def node_type_labels() -> dict[int, SafeString]:
    """What a device table shows for each node type, in the active language: a gateway stands
    out (its sub-devices depend on it); nothing for a type not known yet."""
    return {
        NodeType.GATEWAY: format_html(
            '<span class="badge badge-info node-type-gateway">{}</span>', gettext("gateway")
        ),
        NodeType.DEVICE: format_html('<span class="node-type-device">{}</span>', gettext("device")),
    }


def inventory_rows(
    records: Iterable[CertificateRecord], *, now: datetime | None = None
) -> list[InventoryRow]:
    """The table rows of already fetched ``records``, in the active language and time zone:
    each record's expiry state (``expiry.expiry_state_of``, the rules the state filter and the
    counts use), days left, staleness and what its cells show."""
    now = now or timezone.now()
    stale_before = now - timedelta(hours=settings.INVENTORY_STALE_HOURS)
    badges: dict[str, SafeString] = {}
    # Each (state, certificate Status) label translated once per page.
    labels: dict[tuple[str, int | None], str] = {}
    node_types = node_type_labels()
    device_path = PathFormat("devices:device", 2)
    times = LocalTimes()
    rows = []
    for record in records:
        state = expiry_state_of(record, now=now)
        days_left = None
        if record.not_after is not None:
            days_left = expiry_days_left(not_after=record.not_after, now=now)
        if (state, record.status) not in labels:
            labels[state, record.status] = expiry_state_label(state=state, status=record.status)
        if record.device_status not in badges:
            badges[record.device_status] = device_status_badge(record.device_status)
        local_not_after = timezone.localtime(record.not_after) if record.not_after else None
        rows.append(
            InventoryRow(
                record=record,
                state=state,
                state_label=labels[state, record.status],
                days_left=days_left,
                stale=record.last_checked is not None and record.last_checked < stale_before,
                device_url=_device_url(device_path, record),
                device_status=badges[record.device_status],
                node_type=node_types.get(record.node_type, ""),
                not_after_iso=local_not_after.isoformat() if local_not_after else "",
                not_after_date=local_not_after.strftime("%Y-%m-%d") if local_not_after else "",
                days_text=_days_text(
                    days_left, expired=record.not_after is not None and record.not_after < now
                ),
                last_checked=times.html(record.last_checked) if record.last_checked else "",
            )
        )
    return rows


def inventory_rows_html(rows: Iterable[InventoryRow], *, all_products: bool) -> SafeString:
    """The ``<tr>`` of every row of ``devices/inventory_table.html``, built here once rather
    than by ~20 template variable lookups per row; every stored value is escaped."""
    label = {
        "product_key": escape(gettext("ProductKey")),
        "device_name": escape(gettext("DeviceName")),
        "nickname": escape(gettext("Nickname")),
        "device_status": escape(gettext("Device status")),
        "node_type": escape(gettext("Node type")),
        "certificate": escape(gettext("Certificate")),
        "expires": escape(gettext("Expires")),
        "last_checked": escape(gettext("Last checked")),
    }
    stale = format_html(
        ' <span class="badge badge-warn stale-marker" title="{}">{}</span>',
        gettext("Older than the freshness limit: sync again for current data."),
        gettext("stale"),
    )
    never = format_html('<span class="muted">{}</span>', gettext("never"))
    no_date = mark_safe('<span class="muted">—</span>')
    parts = []
    for row in rows:
        record = row.record
        cells = ["<tr>"]
        if all_products:
            instance = (
                format_html(' <span class="muted">({})</span>', record.iot_instance_id)
                if record.iot_instance_id
                else ""
            )
            cells.append(
                f'<td data-label="{label["product_key"]}" class="mono">'
                f"{escape(record.product_key)}{instance}</td>"
            )
        if row.device_url:
            name = format_html(
                '<a class="mono" href="{}">{}</a>', row.device_url, record.device_name
            )
        else:
            name = format_html('<span class="mono">{}</span>', record.device_name)
        cells.append(f'<td data-label="{label["device_name"]}">{name}</td>')
        cells.append(f'<td data-label="{label["nickname"]}">{escape(record.nickname)}</td>')
        cells.append(f'<td data-label="{label["device_status"]}">{row.device_status}</td>')
        cells.append(f'<td data-label="{label["node_type"]}">{row.node_type}</td>')
        error = (
            format_html(' <code class="error-code">{}</code>', record.last_error_code)
            if record.last_error_code
            else ""
        )
        cells.append(
            format_html(
                '<td data-label="{}"><span class="badge expiry-{}">{}</span>{}</td>',
                label["certificate"],
                row.state,
                row.state_label,
                error,
            )
        )
        if row.not_after_iso:
            expires = format_html(
                '<time datetime="{}">{}</time> <span class="muted">{}</span>',
                row.not_after_iso,
                row.not_after_date,
                row.days_text,
            )
        else:
            expires = no_date
        cells.append(f'<td data-label="{label["expires"]}">{expires}</td>')
        checked = f"{row.last_checked}{stale if row.stale else ''}" if row.last_checked else never
        cells.append(f'<td data-label="{label["last_checked"]}">{checked}</td>')
        cells.append("</tr>")
        parts.append("".join(cells))
    return mark_safe("\n".join(parts))  # noqa: S308 (every value above is escaped)
