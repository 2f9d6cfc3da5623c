"""Reads for the device pages: recently viewed devices, and the one query path over the
inventory that the product device list and the expiry overview share. A product's coverage (the
device list's total) and the schedules' freshness are read from the counts the database keeps
(``devices.kept_counts``), not counted from the records, and not cached: exact at once after
any write."""

import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    DateField,
    DateTimeField,
    ExpressionWrapper,
    F,
    Func,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from certadmin.accounts.api_accounts import accounts_for
from certadmin.audit.key_lookup import InventoryHolder
from certadmin.devices.compiled import CompiledOnce
from certadmin.devices.expiry import (
    EXPIRY_COUNT_GROUPS,
    EXPIRY_STATES,
    STATE_GROUPS,
    expiry_counts_of,
    expiry_filter_q,
    expiry_state_rank,
    expiry_state_ranked_q,
)
from certadmin.devices.kept_counts import expiry_counts_kept, kept_scope_q, kept_where
from certadmin.devices.live_lookups import live_lookup_slot
from certadmin.devices.models import (
    LISTED_Q,
    REMOVED_STATE,
    CertificateRecord,
    ProductCounts,
    ProductDayCounts,
    ProductSync,
    RecentDevice,
    default_account_name,
)
from certadmin.devices.platform import iot_client
from certadmin.devices.services import RECENT_DEVICES_KEPT, DeviceList, device_list
from certadmin.iot.accounts import IotAccount
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


# The SQLite inventory's trigram index of DeviceName and nickname (devices migration 0020): it
# finds a part of 3 characters or more (a trigram); a shorter one is left to LIKE alone.
_NAME_FTS = "devices_certificaterecord_name_fts"
_NAME_FTS_SHORTEST = 3


def _name_part_indexed(text: str) -> bool:
    """Whether a search for ``text`` reads the SQLite name index (``_name_part_q``)."""
    return connection.vendor == "sqlite" and len(text) >= _NAME_FTS_SHORTEST


def _name_part_q(text: str) -> Q:
    """Records whose DeviceName or nickname contains ``text``, case-insensitive."""
    like = Q(device_name__icontains=text) | Q(nickname__icontains=text)
    if not _name_part_indexed(text):
        return like
    # The index narrows to the few records with the part's trigrams in a row (LIKE alone
    # scanned every record of the product, for the count and again for the rows); LIKE then
    # keeps exactly what it found before (the index also folds the case of non-ASCII letters,
    # LIKE only of ASCII ones). The part is one FTS5 string: its double quotes doubled,
    # nothing in it read as query syntax.
    phrase = '"' + text.replace('"', '""') + '"'
    # The table's name is this module's constant; the part is a parameter.
    indexed = RawSQL(  # noqa: S611
        f"SELECT rowid FROM {_NAME_FTS} WHERE {_NAME_FTS} MATCH %s",  # noqa: S608
        [phrase],
    )
    return Q(pk__in=indexed) & like


def _scope_indexed(*, q: str, product_key: str | None, sort: str) -> bool:
    """Whether ``inventory_devices`` lets SQLite choose an index for the account and product.
    Without statistics it took the product's index (every record of it) over a search's own
    (the name index's few records, CertSN, serial, fingerprint); and for every product by days
    left, the account's index, sorting every record of the account where the notAfter index
    gives the order (a page reads its own entries)."""
    if q and _name_part_indexed(q):
        return False
    return not (product_key is None and sort in ("days", "-days"))


def _search_q(text: str) -> Q:
    match = _name_part_q(text) | Q(cert_sn=text)
    hexed = _colon_hex(text)
    if hexed:
        match |= Q(serial=hexed) | Q(sha256_fingerprint=hexed)
    return match


INVENTORY_SORTS = ("name", "-name", "days", "-days", "status", "-status", "checked", "-checked")


# Ties of every sort: by name (and what tells two equal names apart).
_BY_NAME = ("device_name", "product_key", "iot_instance_id")


def _ordering(sort: str, now: datetime) -> list:
    by_name = list(_BY_NAME)
    if sort == "-name":
        return ["-device_name", "-product_key", "-iot_instance_id"]
    if sort == "days":
        return [F("not_after").asc(nulls_last=True), *by_name]
    if sort == "-days":
        return [F("not_after").desc(nulls_last=True), *by_name]
    if sort in ("status", "-status"):
        rank = expiry_state_rank(now=now)
        return [rank.asc() if sort == "status" else rank.desc(), *by_name]
    if sort == "checked":
        return [F("last_checked").asc(nulls_first=True), *by_name]
    if sort == "-checked":
        return [F("last_checked").desc(nulls_last=True), *by_name]
    return by_name


class _SqliteUnindexed(Func):
    """``+column`` in SQLite: the same value, but no index is chosen for a test of it."""

    template = "+%(expressions)s"
    output_field = DateTimeField()


# The columns of ``inventory_scope``'s account and product.
_SCOPE_COLUMNS = ("account", "product_key", "iot_instance_id")


def inventory_scope(
    *,
    product_key: str | None,
    iot_instance_id: str = "",
    account: str = "",
    accounts: Collection[str] | None = None,
    removed: bool = False,
    device_statuses: Collection[str] = (),
    node_type: int | None = None,
    scope_indexed: bool = True,
) -> QuerySet[CertificateRecord]:
    """Every inventory record of one product of API account ``account`` ("": the default
    account), or (``product_key`` None) of every product of ``accounts`` (None: of all): of
    the devices the platform lists, or (``removed``) of those it no longer lists; of devices
    with one of ``device_statuses`` (the platform's words; empty: any) and of ``node_type``
    (None: any). ``scope_indexed`` False: on SQLite, no index is chosen for the account and
    product (a narrower condition of the caller's should choose it)."""
    records = CertificateRecord.objects.filter(LISTED_Q if not removed else ~LISTED_Q)
    if not scope_indexed and connection.vendor == "sqlite":
        records = records.alias(
            **{
                f"unindexed_{name}": _SqliteUnindexed(F(name), output_field=CharField())
                for name in _SCOPE_COLUMNS
            }
        )
        fields = {name: f"unindexed_{name}" for name in _SCOPE_COLUMNS}
    else:
        fields = {name: name for name in _SCOPE_COLUMNS}
    if product_key is not None:
        records = records.filter(
            **{
                fields["account"]: account or default_account_name(),
                fields["product_key"]: product_key,
                fields["iot_instance_id"]: iot_instance_id,
            }
        )
    elif accounts is not None:
        records = records.filter(**{f"{fields['account']}__in": list(accounts)})
    if device_statuses:
        records = records.filter(device_status__in=list(device_statuses))
    if node_type is not None:
        records = records.filter(node_type=node_type)
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
    device_statuses: Collection[str] = (),
    node_type: int | None = None,
    q: str = "",
    state: str = "",
    sort: str = "name",
    now: datetime | None = None,
) -> QuerySet[CertificateRecord]:
    """Inventory records of one product (``product_key`` None: every product).

    ``q`` matches a case-insensitive part of the DeviceName or nickname, or exactly a CertSN,
    a serial or a SHA-256 fingerprint (colons and case optional); ``state`` is one of
    ``EXPIRY_STATES``, a group of them (``STATE_GROUPS``), ``REMOVED_STATE`` (the devices the
    platform no longer lists, whatever their expiry) or empty; ``device_statuses`` and
    ``node_type`` as ``inventory_scope``; ``sort`` one of ``INVENTORY_SORTS`` (ties by name).
    """
    now = now or timezone.now()
    removed = state == REMOVED_STATE
    q = q.strip()
    records = inventory_scope(
        product_key=product_key,
        iot_instance_id=iot_instance_id,
        account=account,
        accounts=accounts,
        removed=removed,
        device_statuses=device_statuses,
        node_type=node_type,
        scope_indexed=_scope_indexed(q=q, product_key=product_key, sort=sort),
    )
    if q:
        records = records.filter(_search_q(q))
    if state and not removed:
        records = records.filter(expiry_filter_q(state, now=now))
    # No expiry-state column: the rows of a page work theirs out in Python
    # (``rows.inventory_rows``), so the database is not asked to classify every matching record.
    return records.order_by(*_ordering(sort, now))


class StatusSortedRecords:
    """The records of ``inventory_devices(sort="status")`` (or ``"-status"``) in exactly its
    order, for a paginator, read one expiry state after another: a slice asks each state in
    rank order for its records by name (``expiry_state_ranked_q``: a range of the status-sort
    index, ``LIMIT`` the rows still missing; deep in a state, the keys first), instead of
    ranking every record of the product to sort them. Each state is one contiguous run of that
    order, so the pieces joined are the order.

    A page past the first counts only the states before it, to know where it starts: a group
    of them at a time (``expiry_counts_of``, at the same ``now``: one query an index answers,
    none for the groups after the page). The records with more than 90 days left (most of a
    fleet: counting them walks most of the index) are not counted when the total is known
    (``total``, or once ``count()`` ran, as a paginator's does): the total less the other
    groups; else a page that starts among them is asked for first, and they are counted only
    when it lies past them."""

    # Django's Paginator warns about an unordered list unless it says it is ordered.
    ordered = True

    def __init__(
        self,
        records: QuerySet[CertificateRecord],
        *,
        states: tuple[str, ...],
        now: datetime,
        total: int | None = None,
        counts: dict[str, int] | None = None,
    ) -> None:
        self._records = records.order_by()
        self._states = states
        self._now = now
        self._total = total
        # Every state's count at ``now``, when the caller has them (``inventory_state_counts``).
        self._counts: dict[str, int] = dict(counts or {})

    def count(self) -> int:
        if self._total is None:
            self._total = self._records.count()
        return self._total

    def __len__(self) -> int:
        return self.count()

    def _state_records(self, state: str) -> QuerySet[CertificateRecord]:
        if connection.vendor != "sqlite":
            in_state = expiry_state_ranked_q(state, now=self._now)
            return self._records.filter(in_state).order_by(*_BY_NAME)
        # SQLite, without statistics, took a ready window's notAfter range on the expiry index
        # and sorted the window by name; ``+not_after`` keeps that test off its choice of
        # index, so the status-sort index gives the order.
        in_state = expiry_state_ranked_q(state, now=self._now, not_after="unindexed_not_after")
        return (
            self._records.alias(unindexed_not_after=_SqliteUnindexed(F("not_after")))
            .filter(in_state)
            .order_by(*_BY_NAME)
        )

    def _state_window(self, state: str, start: int, stop: int | None) -> list[CertificateRecord]:
        records = self._state_records(state)
        if not start:
            return list(records[start:stop])
        # Deep in a state: the keys of the window first, skipping ``start`` entries of the
        # status-sort index alone (``certrecord_acct_rank_name``), then only those rows; an
        # OFFSET over the rows themselves reads every row it skips.
        keys = list(records.values_list("pk", flat=True)[start:stop])
        # By key alone: with the product's columns too, SQLite read the product's index.
        found = CertificateRecord.objects.defer("certificate").in_bulk(keys)
        return [found[key] for key in keys if key in found]

    def __getitem__(self, window: slice) -> list[CertificateRecord]:
        if not isinstance(window, slice) or window.step not in (None, 1):
            raise TypeError("StatusSortedRecords takes a slice of consecutive records")
        skip = window.start or 0
        wanted = None if window.stop is None else window.stop - skip
        if skip < 0 or (wanted is not None and wanted < 0):
            raise ValueError("negative indexing is not supported")
        found: list[CertificateRecord] = []
        for state in self._states:
            if wanted is not None and len(found) >= wanted:
                break
            stop = None if wanted is None else skip + wanted - len(found)
            if (
                skip
                and self._counted_alone(state)
                and self._total is None
                and state not in self._counts
            ):
                # Ask for the page first: rows mean it starts in this state.
                rows = self._state_window(state, skip, stop)
                if rows:
                    found += rows
                    skip = 0
                    continue
            if skip:
                counted = self._state_count(state)
                if skip >= counted:
                    skip -= counted  # the page starts after this state
                    continue
            found += self._state_window(state, skip, stop)
            skip = 0
        return found

    @staticmethod
    def _counted_alone(state: str) -> bool:
        return any(group == (state,) for group in EXPIRY_COUNT_GROUPS)

    def _group_count(self, group: tuple[str, ...]) -> None:
        if group[0] not in self._counts:
            self._counts.update(expiry_counts_of(self._records, now=self._now, group=group))

    def _state_count(self, state: str) -> int:
        if state in self._counts:
            return self._counts[state]
        group = next(group for group in EXPIRY_COUNT_GROUPS if state in group)
        if self._counted_alone(state) and self._total is not None:
            others = [other for other in EXPIRY_COUNT_GROUPS if other != group]
            for other in others:
                self._group_count(other)
            counted = sum(self._counts[name] for other in others for name in other)
            self._counts[state] = max(0, self._total - counted)
        else:
            self._group_count(group)
        return self._counts[state]


def inventory_status_sorted(
    records: QuerySet[CertificateRecord],
    *,
    state: str,
    descending: bool,
    now: datetime,
    total: int | None = None,
    counts: dict[str, int] | None = None,
) -> StatusSortedRecords:
    """``records`` (``inventory_devices``' for ``state``, any ``sort``) in the order of the
    status sort (``descending``: ``"-status"``), paged a state at a time
    (``StatusSortedRecords``; ``total``: how many ``records`` are, when the caller counted
    them; ``counts``: how many are in each state at ``now``, when the caller has them, so that
    no deep page counts). Only the states the filter ``state`` can hold are asked."""
    if state in STATE_GROUPS:
        states = STATE_GROUPS[state][1]
    elif state in dict(EXPIRY_STATES):
        states = (state,)
    else:  # no filter, or the removed devices (of any state)
        states = tuple(name for name, _label in EXPIRY_STATES)
    ranked = tuple(name for name, _label in EXPIRY_STATES if name in states)
    return StatusSortedRecords(
        records,
        states=ranked[::-1] if descending else ranked,
        now=now,
        total=total,
        counts=counts,
    )


def inventory_state_counts(*, scope: dict, now: datetime) -> dict[str, int] | None:
    """How many listed records of ``scope`` (``inventory_scope``'s arguments: one product or
    every product of some accounts) are in each expiry state at ``now``, from the counts the
    database keeps (``devices.kept_counts``: a few rows, not the records); None when they do
    not answer for the scope (``kept_where``)."""
    where = kept_where(scope)
    if where is None:
        return None
    return expiry_counts_kept(inventory_scope(**scope), where=where, now=now)


def device_context(
    *, device: DeviceRef, served: CertificateRecord | None = None
) -> CertificateRecord | None:
    """What the inventory knows of ``device`` beyond its certificate, as the last sync recorded
    it (node type, firmware, activation: ``context_checked_at`` says when); None when the
    inventory has no such record or no details for it. ``served``: the device's listed record
    its certificate page was just served from (that row: not read again)."""
    if served is not None:
        return served if served.context_checked_at is not None else None
    return (
        inventory_scope(
            product_key=device.product_key,
            iot_instance_id=device.iot_instance_id,
            account=device.account,
        )
        .filter(device_name=device.device_name, context_checked_at__isnull=False)
        .only("node_type", "firmware_version", "activated_at", "context_checked_at")
        .first()
    )


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
    a sync of it under way (a job), and how much of it the inventory covers (None when it was
    never synced)."""

    sync: ProductSync | None
    running: Any
    coverage: "ProductCoverage | None" = None

    @property
    def synced(self) -> bool:
        return self.sync is not None


# A product's last complete sync, read on every view of its device list: compiled once.
_PRODUCT_SYNC = CompiledOnce(
    lambda **product: ProductSync.objects.filter(**product).order_by("pk")[:1],
    account="\x01account",
    product_key="\x01product",
    iot_instance_id="\x01instance",
)


def product_inventory(
    *, product_key: str, iot_instance_id: str = "", account: str = "", coverage: bool = True
) -> ProductInventory:
    """The product's last complete sync (None if never synced), its running sync, if any, and
    its coverage once synced, unless ``coverage`` is false (of API account ``account``; "":
    the default account)."""
    scope = {
        "account": account or default_account_name(),
        "product_key": product_key,
        "iot_instance_id": iot_instance_id,
    }
    sync = next(iter(_PRODUCT_SYNC.instances(**scope)), None)
    return ProductInventory(
        sync=sync,
        running=_running_sync_find(**scope),
        coverage=product_coverage(**scope) if coverage and sync is not None else None,
    )


def product_recheck_days(*, account: str, product_key: str) -> int:
    """The product's freshness bound in days (``CERTADMIN_SYNC_RECHECK_DAYS``: the default, or
    the product's own): an incremental sync looks each device up again within it, and a record
    not checked within it is stale (schedules page, metrics, the ``record.stale`` finding)."""
    own = product_recheck_days_own(account=account, product_key=product_key)
    return settings.SYNC_RECHECK_DAYS if own is None else own


def product_recheck_days_own(*, account: str, product_key: str) -> int | None:
    """The product's own freshness bound in days, or None when it has the default."""
    return settings.SYNC_RECHECK_DAYS_PER_PRODUCT.get(
        (account or default_account_name(), product_key)
    )


def stale_counts(
    records: QuerySet[CertificateRecord], *, now: datetime
) -> dict[tuple[str, str, str], int]:
    """How many of ``records`` are past their product's freshness bound (never checked
    included), by (account, ProductKey, IotInstanceId): one query for the products on the
    default bound, one for each product with a bound of its own."""

    def counted(queryset: QuerySet[CertificateRecord], days: int) -> dict:
        bound = now - timedelta(days=days)
        rows = (
            queryset.values_list("account", "product_key", "iot_instance_id")
            .annotate(
                # On ProductKey (never NULL): answered from the coverage index alone.
                n=Count(
                    "product_key",
                    filter=Q(last_checked__lt=bound) | Q(last_checked__isnull=True),
                )
            )
            .order_by()
        )
        return {(account, product, instance): n for account, product, instance, n in rows}

    own = settings.SYNC_RECHECK_DAYS_PER_PRODUCT
    default_rest = records
    for account, product_key in own:
        default_rest = default_rest.exclude(account=account, product_key=product_key)
    counts = counted(default_rest, settings.SYNC_RECHECK_DAYS)
    for (account, product_key), days in own.items():
        counts.update(counted(records.filter(account=account, product_key=product_key), days))
    return counts


@dataclass(frozen=True)
class ProductCoverage:
    """How much of a product the inventory covers: devices listed by the platform (at the
    last listing), of those looked up at least once (``synced``), devices the platform no
    longer lists (``removed``), the oldest and newest lookups of listed devices, the last
    listing, and the bound within which an incremental sync looks each device up again."""

    listed: int
    synced: int
    removed: int
    oldest_checked: datetime | None
    newest_checked: datetime | None
    last_listed: datetime | None
    recheck_days: int

    @classmethod
    def of(cls, numbers: dict[str, Any], *, account: str, product_key: str) -> "ProductCoverage":
        """The coverage of the product whose ``products_coverage`` numbers are ``numbers`` (none:
        a product without records)."""
        return cls(
            listed=numbers.get("listed", 0),
            synced=numbers.get("synced", 0),
            removed=numbers.get("removed", 0),
            oldest_checked=numbers.get("oldest_checked"),
            newest_checked=numbers.get("newest_checked"),
            last_listed=numbers.get("last_listed"),
            recheck_days=product_recheck_days(account=account, product_key=product_key),
        )

    @property
    def percent(self) -> int:
        """Devices synced ÷ devices listed, in whole percent (rounded down: 100 only when
        every device was looked up)."""
        return 100 * self.synced // self.listed if self.listed else 0


def _stale_bounds(now: datetime) -> dict[str, Any]:
    """Each product's freshness bound at ``now`` (``product_recheck_days``, a ``CASE`` on its
    columns), its UTC day and that day's first instant: for ``products_coverage``."""
    own = settings.SYNC_RECHECK_DAYS_PER_PRODUCT

    def per_product(value_of: Callable[[datetime], Any], output_field: Any) -> Any:
        default = Value(value_of(now - timedelta(days=settings.SYNC_RECHECK_DAYS)))
        if not own:
            return ExpressionWrapper(default, output_field=output_field)
        return Case(
            *(
                When(
                    account=account,
                    product_key=product_key,
                    then=Value(value_of(now - timedelta(days=days))),
                )
                for (account, product_key), days in own.items()
            ),
            default=default,
            output_field=output_field,
        )

    return {
        "stale_bound": per_product(lambda bound: bound, DateTimeField()),
        "stale_day": per_product(lambda bound: bound.astimezone(UTC).date(), DateField()),
        "stale_midnight": per_product(
            lambda bound: datetime.combine(bound.astimezone(UTC).date(), time(), tzinfo=UTC),
            DateTimeField(),
        ),
    }


def _coverage_rows(*, where: Q, now: datetime | None = None) -> QuerySet:
    """The rows of ``products_coverage``: one per product ``where`` selects.

    One query over the counts the database keeps (``devices.kept_counts``): the counts are
    read, the oldest and newest lookups and the last listing are index probes, and the stale
    records are the whole days before the bound's day plus that day's part before it."""
    product = {name: OuterRef(name) for name in _SCOPE_COLUMNS}
    listed_checked = CertificateRecord.objects.filter(
        **product, removed_at__isnull=True, last_checked__isnull=False
    ).order_by()
    days = ProductDayCounts.objects.filter(**product).order_by().values(*_SCOPE_COLUMNS)

    def summed(rows: QuerySet, aggregate: Any) -> Coalesce:
        return Coalesce(
            Subquery(rows.annotate(n=aggregate).values("n"), output_field=BigIntegerField()),
            Value(0),
        )

    # A product's counts may be several rows (``ProductCounts``): one row of each product
    # drives the query, and each count is the sum of the product's rows.
    counts = ProductCounts.objects.filter(**product).order_by().values(*_SCOPE_COLUMNS)
    rows = ProductCounts.objects.filter(
        pk__in=ProductCounts.objects.filter(where)
        .order_by()
        .values(*_SCOPE_COLUMNS)
        .annotate(first=Min("pk"))
        .values("first")
    )
    annotations: dict[str, Any] = {
        **{f"all_{name}": summed(counts, Sum(name)) for name in ("records", "never", "removed")},
        "synced": summed(days, Sum("checked")),
        "oldest_checked": Subquery(
            listed_checked.order_by("last_checked").values("last_checked")[:1]
        ),
        "newest_checked": Subquery(
            listed_checked.order_by("-last_checked").values("last_checked")[:1]
        ),
        "last_listed": Subquery(
            CertificateRecord.objects.filter(**product, listed_at__isnull=False)
            .order_by("-listed_at")
            .values("listed_at")[:1]
        ),
    }
    if now is not None:
        rows = rows.alias(**_stale_bounds(now))
        annotations["stale_days"] = summed(
            days.filter(day__lt=OuterRef("stale_day")), Sum("checked")
        )
        annotations["stale_part"] = summed(
            listed_checked.filter(
                last_checked__gte=OuterRef("stale_midnight"),
                last_checked__lt=OuterRef("stale_bound"),
            ).values(*_SCOPE_COLUMNS),
            Count("*"),
        )
    return rows.annotate(**annotations).filter(all_records__gt=0).order_by().values()


def _coverage_numbers(row: dict[str, Any], *, stale: bool) -> dict[str, Any]:
    numbers = {
        "listed": row["all_never"] + row["synced"],
        "synced": row["synced"],
        "removed": row["all_removed"],
        "oldest_checked": row["oldest_checked"],
        "newest_checked": row["newest_checked"],
        "last_listed": row["last_listed"],
    }
    if stale:
        numbers["stale"] = row["all_never"] + row["stale_days"] + row["stale_part"]
    return numbers


def products_coverage(
    *, where: Q, now: datetime | None = None
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The numbers of ``ProductCoverage`` (but its recheck bound) of every product of the
    inventory that ``where`` selects (on account, ProductKey and IotInstanceId), by (account,
    ProductKey, IotInstanceId); with ``now``, also ``stale``: the listed records past their
    product's freshness bound at ``now``, never checked included (``_coverage_rows``)."""
    return {
        (row["account"], row["product_key"], row["iot_instance_id"]): _coverage_numbers(
            row, stale=now is not None
        )
        for row in _coverage_rows(where=where, now=now)
    }


# One product's coverage, read on every view of its device list: compiled once.
_PRODUCT_COVERAGE = CompiledOnce(
    lambda **product: _coverage_rows(where=kept_scope_q(**product)),
    account="\x01account",
    product_key="\x01product",
    iot_instance_id="\x01instance",
)


def product_coverage(
    *, product_key: str, iot_instance_id: str = "", account: str = ""
) -> ProductCoverage:
    """The inventory's coverage of one product (see ``ProductCoverage``)."""
    account = account or default_account_name()
    rows = _PRODUCT_COVERAGE.rows(
        account=account, product_key=product_key, iot_instance_id=iot_instance_id
    )
    numbers = _coverage_numbers(rows[0], stale=False) if rows else {}
    return ProductCoverage.of(numbers, account=account, product_key=product_key)


# How many ProductKeys (and instances) the search form suggests.
PRODUCT_SUGGESTIONS_KEPT = 50


@dataclass(frozen=True)
class ProductSuggestions:
    """What the search form offers in its ProductKey and IotInstanceId fields."""

    product_keys: list[str]
    instances: list[str]


# The distinct (ProductKey, IotInstanceId) pairs of one account's inventory, in order, by a
# loose index scan: each pair is the first one after the previous, found by one index probe, so
# the cost grows with the number of products, not of devices. On PostgreSQL one recursive
# query; elsewhere the same probes one query each (SQLite has no LATERAL; its DISTINCT read
# every record's index entry, 30-60 ms a page at 100,000 records).
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
        pairs: list[tuple[str, str]] = []
        records = (
            CertificateRecord.objects.filter(account=account)
            .order_by("product_key", "iot_instance_id")
            .values_list("product_key", "iot_instance_id")
        )
        pair = records.first()
        while pair is not None and len(pairs) < limit:
            pairs.append(pair)
            product, instance = pair
            # Two seeks, not one OR (SQLite would read the whole product for it): the next
            # instance of this ProductKey, else the first of the next ProductKey.
            pair = (
                records.filter(product_key=product, iot_instance_id__gt=instance).first()
                or records.filter(product_key__gt=product).first()
            )
        return pairs
    table = connection.ops.quote_name(CertificateRecord._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(_INVENTORY_PRODUCTS_SQL.format(table=table), [account, account, limit])
        return [(product, instance) for product, instance in cursor.fetchall()]


# How many of each API account's products the expiry overview's product picker offers.
PRODUCT_CHOICES_KEPT = 200


@dataclass(frozen=True)
class InventoryProduct:
    """One product of the inventory: its API account, ProductKey and IotInstanceId."""

    account: str
    account_label: str
    product_key: str
    iot_instance_id: str


def inventory_products_visible(*, user) -> list[InventoryProduct]:
    """The inventory's products on the API accounts ``user`` may use (``accounts_for``), the
    default account's first, each account's sorted; at most ``PRODUCT_CHOICES_KEPT`` of each
    account (one index probe per product on PostgreSQL)."""
    return [
        InventoryProduct(account.name, account.display_name, product_key, instance)
        for account in accounts_for(user=user)
        for product_key, instance in inventory_products(
            account=account.name, limit=PRODUCT_CHOICES_KEPT
        )
    ]


def product_suggestions(
    *, user, recent: Iterable[RecentDevice] | None = None
) -> ProductSuggestions:
    """The ProductKeys and IotInstanceIds the dashboard has seen or been configured with, on
    the API accounts ``user`` may use: the accounts' instances, products synced, the user's
    recently viewed devices (``recent``: ``recent_devices`` already read, else read here) and
    the inventory. Sorted, at most ``PRODUCT_SUGGESTIONS_KEPT`` of each."""
    usable = accounts_for(user=user)
    names = [account.name for account in usable]
    pairs: set[tuple[str, str]] = set()
    for name in names:
        pairs.update(inventory_products(account=name, limit=PRODUCT_SUGGESTIONS_KEPT))
    # A person's recent devices are a few rows (``RECENT_DEVICES_KEPT``), all of them read.
    pairs.update(
        (device.product_key, device.iot_instance_id)
        for device in (recent_devices(user=user) if recent is None else recent)
        if device.account in names
    )
    pairs.update(
        ProductSync.objects.filter(account__in=names)
        .order_by("product_key", "iot_instance_id")
        .values_list("product_key", "iot_instance_id")
        .distinct()[:PRODUCT_SUGGESTIONS_KEPT]
    )
    instances = {instance for _product, instance in pairs if instance}
    instances.update(account.instance_id for account in usable if account.instance_id)
    return ProductSuggestions(
        product_keys=sorted({product for product, _instance in pairs})[:PRODUCT_SUGGESTIONS_KEPT],
        instances=sorted(instances)[:PRODUCT_SUGGESTIONS_KEPT],
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

    The device named exactly ``name`` (in the inventory, or in the live scan of a product not
    synced in full), else the only device whose name contains ``name``, when the search
    covered every device of the product: the inventory after a complete sync, or a live scan
    that listed them all. A ``name`` that no device has exactly is never opened as typed: it
    may be part of a name, and the search may not have covered the product (a large product's
    scan reaches only its first devices; the platform may not answer). The list shows what
    matched and offers the lookup of the exact name on the platform (``name_lookup_offer``).
    """
    if not name:
        return None
    account = account or default_account_name()
    scope = {"product_key": product_key, "iot_instance_id": iot_instance_id, "account": account}
    if inventory_scope(**scope).filter(device_name=name).exists():
        return DeviceRef(product_key, name, iot_instance_id, account)
    if product_inventory(**scope).synced:
        names = list(inventory_devices(**scope, q=name).values_list("device_name", flat=True)[:2])
        return (
            DeviceRef(product_key, names[0], iot_instance_id, account) if len(names) == 1 else None
        )
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
        # The list shows the platform's answer.
        return None
    if listing.name_listed:
        return DeviceRef(product_key, name, iot_instance_id, account)
    if listing.total == 1 and not listing.truncated:
        return DeviceRef(product_key, listing.devices[0].device_name, iot_instance_id, account)
    return None


# How many devices of an incomplete inventory whose names contain the typed text the offer
# lists (those the live scan did not reach).
OFFER_INVENTORY_MATCHES = 10


@dataclass(frozen=True)
class NameLookupOffer:
    """A whole DeviceName that the search found no device of: the device list offers to look
    it up on the platform, one click away, and says how much of the product the search
    covered (``coverage``):

    - ``inventory``: the inventory, complete at the product's last sync (``sync``);
    - ``scan``: a live scan that listed every device of the product;
    - ``partial``: an inventory that is not complete (``in_inventory`` of ``product_total``
      devices, the total when known), and a live scan of the first devices only, or none
      when the platform could not be asked. ``inventory_matches``: devices of the inventory
      whose names contain the text that the list does not show.
    """

    device: DeviceRef
    coverage: str
    sync: ProductSync | None = None
    in_inventory: int = 0
    product_total: int | None = None
    inventory_matches: list[str] = field(default_factory=list)


def name_lookup_offer(
    *,
    product_key: str,
    iot_instance_id: str = "",
    account: str = "",
    name: str,
    product: ProductInventory,
    listing: DeviceList | None = None,
) -> NameLookupOffer | None:
    """What the device list filtered by ``name`` offers when ``name`` is a whole DeviceName
    that no device shown has (None otherwise). ``product``: the product's inventory state;
    ``listing``: the live scan the list shows (None for an inventory list or a failed scan)."""
    name = name.strip()
    if not is_device_name(name) or (listing is not None and listing.name_listed):
        return None
    account = account or default_account_name()
    scope = {"product_key": product_key, "iot_instance_id": iot_instance_id, "account": account}
    records = inventory_scope(**scope)
    if records.filter(device_name=name).exists():
        return None
    device = DeviceRef(product_key, name, iot_instance_id, account)
    if product.synced:
        return NameLookupOffer(device=device, coverage="inventory", sync=product.sync)
    if listing is not None and not listing.truncated:
        return NameLookupOffer(device=device, coverage="scan", product_total=listing.product_total)
    shown = {d.device_name for d in listing.devices} if listing is not None else set()
    matches = inventory_devices(**scope, q=name).values_list("device_name", flat=True)
    running_total = getattr(product.running, "total", 0)
    return NameLookupOffer(
        device=device,
        coverage="partial",
        in_inventory=records.count(),
        product_total=listing.product_total if listing is not None else (running_total or None),
        inventory_matches=[
            match for match in matches[: OFFER_INVENTORY_MATCHES + len(shown)] if match not in shown
        ][:OFFER_INVENTORY_MATCHES],
    )


# How many of the person's other API accounts a page asks the platform about a product that
# is not in the chosen one (one QueryDevice of one row each, on a 50-per-second quota).
PRODUCT_ELSEWHERE_LIVE_CHECKS = 3


def product_accounts_elsewhere(
    *, user, product_key: str, iot_instance_id: str = "", account: str = ""
) -> list[IotAccount]:
    """The API accounts other than ``account`` that have product ``product_key``, among those
    ``user`` may use (never another): the accounts whose inventory knows the product (no
    platform call), else those of the first ``PRODUCT_ELSEWHERE_LIVE_CHECKS`` whose platform
    lists it (one device, in one of ``user``'s live lookup slots; an account that cannot
    answer is left out)."""
    account = account or default_account_name()
    others = [usable for usable in accounts_for(user=user) if usable.name != account]
    if not others:
        return []
    scope = {
        "account__in": [other.name for other in others],
        "product_key": product_key,
        "iot_instance_id": iot_instance_id,
    }
    known = set(
        CertificateRecord.objects.filter(**scope).order_by().values_list("account", flat=True)
    )
    known.update(ProductSync.objects.filter(**scope).values_list("account", flat=True))
    if known:
        return [other for other in others if other.name in known]
    found = []
    for other in others[:PRODUCT_ELSEWHERE_LIVE_CHECKS]:
        try:
            with live_lookup_slot(user=user):
                iot_client(account=other.name).query_device(
                    product_key=product_key, page_size=1, iot_instance_id=iot_instance_id or None
                )
        except IotError:
            continue
        found.append(other)
    return found


# How many inventory records a key lookup lists: a key pair shared by more devices is a finding
# of its own (key.shared), and the first ones make the point.
KEY_HOLDERS_LIMIT = 200


def inventory_key_holders(
    *, public_key_sha256: str, certificate_sha256: str, accounts: Collection[str] | None
) -> list[InventoryHolder]:
    """The inventory's devices whose certificate carries the key pair ``public_key_sha256``, or
    is the certificate ``certificate_sha256`` (either may be ""), of ``accounts`` (every
    account for None): the audit trail's key lookup (``certadmin.audit.key_lookup``), found on
    the two fingerprint indexes."""
    matching = Q(pk__in=[])
    if public_key_sha256:
        matching |= Q(public_key_sha256=public_key_sha256)
    if certificate_sha256:
        matching |= Q(sha256_fingerprint=certificate_sha256)
    records = CertificateRecord.objects.filter(matching)
    if accounts is not None:
        records = records.filter(account__in=list(accounts))
    rows = records.order_by("account", "product_key", "device_name", "iot_instance_id").values_list(
        "account",
        "product_key",
        "device_name",
        "iot_instance_id",
        "sha256_fingerprint",
        "cert_sn",
        "not_after",
    )[:KEY_HOLDERS_LIMIT]
    return [
        InventoryHolder(
            device=DeviceRef(product_key, device_name, instance, account),
            certificate_sha256=fingerprint,
            cert_sn=cert_sn,
            not_after=not_after,
        )
        for account, product_key, device_name, instance, fingerprint, cert_sn, not_after in rows
    ]
