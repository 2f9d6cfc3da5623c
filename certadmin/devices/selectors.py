"""Reads for the device pages: recently viewed devices, and the one query path over the
inventory that the product device list and the expiry overview share."""

import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from certadmin.accounts.api_accounts import accounts_for
from certadmin.devices.expiry import (
    EXPIRY_STATES,
    expiry_state_q,
)
from certadmin.devices.models import (
    CertificateRecord,
    ProductSync,
    RecentDevice,
    default_account_name,
)
from certadmin.devices.services import RECENT_DEVICES_KEPT, device_list
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
    # No expiry-state column: the rows of a page work theirs out in Python
    # (``rows.inventory_rows``), so the database is not asked to classify every matching record.
    return records.order_by(*_ordering(sort, now))


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


# A device's open findings: findings live in the findings app above this one, which installs
# the lookup at startup (certadmin/findings/apps.py). None: no findings app, so no card.
def _no_device_findings(**device: str) -> None:
    return None


_device_findings_find: Callable[..., Any] = _no_device_findings


def device_findings_finder_use(find: Callable[..., Any]) -> None:
    """Find a device's findings with ``find(account=, product_key=, iot_instance_id=,
    device_name=)`` (a list, or None when there are no findings to show)."""
    global _device_findings_find
    _device_findings_find = find


def device_findings(*, device: DeviceRef) -> Any:
    """The findings the certificate page shows for ``device`` (None: no findings card)."""
    return _device_findings_find(
        account=device.account,
        product_key=device.product_key,
        iot_instance_id=device.iot_instance_id,
        device_name=device.device_name,
    )


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
