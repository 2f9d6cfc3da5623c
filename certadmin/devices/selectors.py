"""Reads for the device pages: recently viewed devices, and the one query path over the
inventory that the product device list and the expiry overview share."""

import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext

from certadmin.accounts.api_accounts import accounts_for
from certadmin.audit.rows import PathFormat
from certadmin.audit.templatetags.timestamps import timestamp
from certadmin.devices.expiry import (
    EXPIRY_STATES,
    expiry_state_of,
    expiry_state_q,
)
from certadmin.devices.models import (
    CertificateRecord,
    ProductSync,
    RecentDevice,
    default_account_name,
)
from certadmin.devices.services import RECENT_DEVICES_KEPT, device_list, device_query
from certadmin.devices.templatetags.device_status import device_status_badge
from certadmin.iot.client import IotClient
from certadmin.iot.errors import IotError
from certadmin.iot.identity import DeviceRef, is_device_name

INVENTORY_PAGE_SIZE = 50
# Colon hex as the inventory stores serials and fingerprints, typed with or without colons.
_HEX_RE = re.compile(r"[0-9A-F]+")


def recent_devices(*, user) -> QuerySet[RecentDevice]:
    """The devices this user looked at most recently, newest first."""
    return RecentDevice.objects.filter(user=user).order_by("-viewed_at")[:RECENT_DEVICES_KEPT]


def _colon_hex(text: str) -> str | None:
    """``text`` as the inventory spells serials and fingerprints (``0A:1B:…``), or None when
    it is not hex."""
    digits = re.sub(r"[\s:]", "", text).upper()
    if not _HEX_RE.fullmatch(digits):
        return None
    digits = digits.zfill(len(digits) + len(digits) % 2)
    return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def _search_q(text: str) -> Q:
    match = Q(device_name__icontains=text) | Q(nickname__icontains=text) | Q(cert_sn=text)
    hexed = _colon_hex(text)
    if hexed:
        match |= Q(serial=hexed) | Q(sha256_fingerprint=hexed)
    return match


def _state_rank(now: datetime) -> Case:
    # The states in the order EXPIRY_STATES lists them: most urgent first.
    return Case(
        *(
            When(expiry_state_q(state, now=now), then=Value(rank))
            for rank, (state, _label) in enumerate(EXPIRY_STATES)
        ),
        default=Value(len(EXPIRY_STATES)),
        output_field=IntegerField(),
    )


INVENTORY_SORTS = ("name", "-name", "days", "-days", "status", "-status", "checked", "-checked")


def _ordering(sort: str, now: datetime) -> list:
    by_name = ["device_name", "product_key", "iot_instance_id"]
    if sort == "-name":
        return ["-device_name", "-product_key", "-iot_instance_id"]
    if sort == "days":
        return [F("not_after").asc(nulls_last=True), *by_name]
    if sort == "-days":
        return [F("not_after").desc(nulls_last=True), *by_name]
    if sort in ("status", "-status"):
        rank = _state_rank(now)
        return [rank.asc() if sort == "status" else rank.desc(), *by_name]
    if sort == "checked":
        return [F("last_checked").asc(nulls_first=True), *by_name]
    if sort == "-checked":
        return [F("last_checked").desc(nulls_last=True), *by_name]
    return by_name


def inventory_scope(
    *,
    product_key: str | None,
    iot_instance_id: str = "",
    account: str = "",
    accounts: Collection[str] | None = None,
) -> QuerySet[CertificateRecord]:
    """Every inventory record of one product of API account ``account`` ("": the default
    account), or (``product_key`` None) of every product of ``accounts`` (None: of all)."""
    records = CertificateRecord.objects.all()
    if product_key is not None:
        records = records.filter(
            account=account or default_account_name(),
            product_key=product_key,
            iot_instance_id=iot_instance_id,
        )
    elif accounts is not None:
        records = records.filter(account__in=list(accounts))
    return records


def inventory_batches(
    records: QuerySet[CertificateRecord], *, batch_size: int = 2000
) -> Iterator[CertificateRecord]:
    """Every record of an ordered queryset, fetched ``batch_size`` at a time, so an export of
    a whole fleet never holds it all in memory nor a cursor open across the response."""
    start = 0
    while True:
        batch = list(records[start : start + batch_size])
        yield from batch
        if len(batch) < batch_size:
            return
        start += batch_size


def inventory_devices(
    *,
    product_key: str | None,
    iot_instance_id: str = "",
    account: str = "",
    accounts: Collection[str] | None = None,
    q: str = "",
    state: str = "",
    sort: str = "name",
    now: datetime | None = None,
) -> QuerySet[CertificateRecord]:
    """Inventory records of one product (``product_key`` None: every product).

    ``q`` matches a case-insensitive part of the DeviceName or nickname, or exactly a CertSN,
    a serial or a SHA-256 fingerprint (colons and case optional); ``state`` is one of
    ``EXPIRY_STATES`` or empty; ``sort`` one of ``INVENTORY_SORTS`` (ties by name).
    """
    now = now or timezone.now()
    records = inventory_scope(
        product_key=product_key, iot_instance_id=iot_instance_id, account=account, accounts=accounts
    )
    if q.strip():
        records = records.filter(_search_q(q.strip()))
    if state:
        records = records.filter(expiry_state_q(state, now=now))
    # No expiry-state column: the rows of a page work theirs out in Python (``inventory_rows``),
    # so the database is not asked to evaluate the classification for every matching record.
    return records.order_by(*_ordering(sort, now))


@dataclass(frozen=True, slots=True)
class InventoryRow:
    """One row of a device table, with what the table shows beyond the stored fields worked
    out once (labels translated once per page, the device link from one reversed URL)."""

    record: CertificateRecord
    state: str
    state_label: str
    # Whole days until notAfter (negative once expired); None without a certificate date.
    days_left: int | None
    stale: bool
    device_url: str
    device_status: SafeString
    # notAfter in the active time zone: ISO 8601 for <time datetime>, and the date shown.
    not_after_iso: str
    not_after_date: str
    # "3 days left" / "2 days ago"; "" without a certificate date.
    days_text: str
    last_checked: SafeString


def _days_text(days_left: int | None) -> str:
    if days_left is None:
        return ""
    if days_left < 0:
        return ngettext("%(days)s day ago", "%(days)s days ago", -days_left) % {"days": -days_left}
    return ngettext("%(days)s day left", "%(days)s days left", days_left) % {"days": days_left}


def _device_url(path: PathFormat, record: CertificateRecord) -> str:
    # As ``views.search.device_url``, from the one reversed pattern.
    url = path.path(record.product_key, record.device_name)
    return url + device_query(record) if url else url


def inventory_rows(
    records: Iterable[CertificateRecord], *, now: datetime | None = None
) -> list[InventoryRow]:
    """The table rows of already fetched ``records``, in the active language and time zone:
    each record's expiry state (``expiry.expiry_state_of``, the rules the state filter and the
    counts use), days left, staleness and what its cells show."""
    now = now or timezone.now()
    stale_before = now - timedelta(hours=settings.INVENTORY_STALE_HOURS)
    labels = {state: str(label) for state, label in EXPIRY_STATES}
    badges: dict[str, SafeString] = {}
    device_path = PathFormat("devices:device", 2)
    rows = []
    for record in records:
        state = expiry_state_of(record, now=now)
        days_left = None
        if record.not_after is not None:
            days_left = (record.not_after - now) // timedelta(days=1)
        if record.device_status not in badges:
            badges[record.device_status] = device_status_badge(record.device_status)
        local_not_after = timezone.localtime(record.not_after) if record.not_after else None
        rows.append(
            InventoryRow(
                record=record,
                state=state,
                state_label=labels.get(state, state),
                days_left=days_left,
                stale=record.last_checked is not None and record.last_checked < stale_before,
                device_url=_device_url(device_path, record),
                device_status=badges[record.device_status],
                not_after_iso=local_not_after.isoformat() if local_not_after else "",
                not_after_date=local_not_after.strftime("%Y-%m-%d") if local_not_after else "",
                days_text=_days_text(days_left),
                last_checked=timestamp(record.last_checked) if record.last_checked else "",
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


# A product's sync under way: syncs are background jobs, in the jobs app above this one, which
# installs the lookup at startup (certadmin/jobs/apps.py).
def _no_running_sync(**scope: str) -> None:
    return None


_running_sync_find: Callable[..., Any] = _no_running_sync


def running_sync_finder_use(find: Callable[..., Any]) -> None:
    """Find a product's running sync with ``find(account=, product_key=, iot_instance_id=)``
    (the job, or None)."""
    global _running_sync_find
    _running_sync_find = find


@dataclass(frozen=True)
class ProductInventory:
    """Whether a product's device list can come from the inventory: its last complete sync,
    and a sync of it under way (a job)."""

    sync: ProductSync | None
    running: Any

    @property
    def synced(self) -> bool:
        return self.sync is not None


def product_inventory(
    *, product_key: str, iot_instance_id: str = "", account: str = ""
) -> ProductInventory:
    """The product's last complete sync (None if never synced) and its running sync, if any
    (of API account ``account``; "": the default account)."""
    scope = {
        "account": account or default_account_name(),
        "product_key": product_key,
        "iot_instance_id": iot_instance_id,
    }
    return ProductInventory(
        sync=ProductSync.objects.filter(**scope).first(),
        running=_running_sync_find(**scope),
    )


# How many ProductKeys (and instances) the search form suggests.
PRODUCT_SUGGESTIONS_KEPT = 50


@dataclass(frozen=True)
class ProductSuggestions:
    """What the search form offers in its ProductKey and IotInstanceId fields."""

    product_keys: list[str]
    instances: list[str]


# The distinct (ProductKey, IotInstanceId) pairs of one account's inventory, in order, by a
# loose index scan: each pair is the first one after the previous, found by one index probe, so
# the cost grows with the number of products, not of devices. PostgreSQL only; elsewhere
# DISTINCT.
_INVENTORY_PRODUCTS_SQL = """
WITH RECURSIVE pairs AS (
  (SELECT product_key, iot_instance_id FROM {table} WHERE account = %s
   ORDER BY product_key, iot_instance_id LIMIT 1)
  UNION ALL
  SELECT following.product_key, following.iot_instance_id FROM pairs CROSS JOIN LATERAL (
    SELECT r.product_key, r.iot_instance_id FROM {table} r
    WHERE r.account = %s
      AND (r.product_key, r.iot_instance_id) > (pairs.product_key, pairs.iot_instance_id)
    ORDER BY r.product_key, r.iot_instance_id LIMIT 1
  ) AS following
)
SELECT product_key, iot_instance_id FROM pairs LIMIT %s
"""


def inventory_products(*, account: str, limit: int) -> list[tuple[str, str]]:
    """The (ProductKey, IotInstanceId) pairs of ``account``'s inventory, sorted, at most
    ``limit``: on PostgreSQL one index probe per product."""
    if connection.vendor != "postgresql":
        return list(
            CertificateRecord.objects.filter(account=account)
            .order_by("product_key", "iot_instance_id")
            .values_list("product_key", "iot_instance_id")
            .distinct()[:limit]
        )
    table = connection.ops.quote_name(CertificateRecord._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(_INVENTORY_PRODUCTS_SQL.format(table=table), [account, account, limit])
        return [(product, instance) for product, instance in cursor.fetchall()]


def product_suggestions(*, user) -> ProductSuggestions:
    """The ProductKeys and IotInstanceIds the dashboard has seen or been configured with, on
    the API accounts ``user`` may use: the accounts' instances, products synced, the user's
    recently viewed devices and the inventory. Sorted, at most ``PRODUCT_SUGGESTIONS_KEPT``
    of each."""
    usable = accounts_for(user=user)
    names = [account.name for account in usable]
    pairs: set[tuple[str, str]] = set()
    for name in names:
        pairs.update(inventory_products(account=name, limit=PRODUCT_SUGGESTIONS_KEPT))
    sources = (
        ProductSync.objects.filter(account__in=names),
        RecentDevice.objects.filter(user=user, account__in=names),
    )
    for source in sources:
        pairs.update(
            source.order_by("product_key", "iot_instance_id")
            .values_list("product_key", "iot_instance_id")
            .distinct()[:PRODUCT_SUGGESTIONS_KEPT]
        )
    instances = {instance for _product, instance in pairs if instance}
    instances.update(account.instance_id for account in usable if account.instance_id)
    return ProductSuggestions(
        product_keys=sorted({product for product, _instance in pairs})[:PRODUCT_SUGGESTIONS_KEPT],
        instances=sorted(instances)[:PRODUCT_SUGGESTIONS_KEPT],
    )


def device_status_of(
    *, product_key: str, device_name: str, iot_instance_id: str = "", account: str = ""
) -> str:
    """The device's status (ONLINE, OFFLINE, UNACTIVE, DISABLE) as the inventory last saw it,
    or "" when it never listed the device."""
    return (
        CertificateRecord.objects.filter(
            account=account or default_account_name(),
            product_key=product_key,
            device_name=device_name,
            iot_instance_id=iot_instance_id,
        )
        .values_list("device_status", flat=True)
        .first()
        or ""
    )


def device_search_target(
    *,
    product_key: str,
    iot_instance_id: str = "",
    name: str,
    account: str = "",
    client: IotClient | None = None,
    user=None,
) -> DeviceRef | None:
    """The device that Enter in the search form means, or None to show the list instead.

    The device named exactly ``name``, else the only device the list filtered by ``name``
    shows (from the inventory once the product was synced, else from the live scan). When the
    live scan covers only part of a large product, or cannot be made, a ``name`` that is a
    whole DeviceName is opened as typed: the certificate page says whether it exists.
    """
    if not name:
        return None
    account = account or default_account_name()
    whole_name = is_device_name(name)
    as_typed = DeviceRef(product_key, name, iot_instance_id, account)
    scope = {"product_key": product_key, "iot_instance_id": iot_instance_id, "account": account}
    if product_inventory(**scope).synced:
        matches = inventory_devices(**scope, q=name).values_list("device_name", flat=True)
        names = list(matches[:2])
        if name in names or (whole_name and matches.filter(device_name=name).exists()):
            return as_typed
        if len(names) == 1:
            return DeviceRef(product_key, names[0], iot_instance_id, account)
        return None
    try:
        listing = device_list(
            product_key=product_key,
            iot_instance_id=iot_instance_id,
            name_filter=name,
            account=account,
            client=client,
            user=user,
        )
    except IotError:
        # The list shows the platform's answer; a whole name can still be asked for directly.
        return as_typed if whole_name else None
    if any(device.device_name == name for device in listing.devices):
        return as_typed
    if listing.total == 1:
        return DeviceRef(product_key, listing.devices[0].device_name, iot_instance_id, account)
    if listing.truncated and whole_name:
        return as_typed
    return None
