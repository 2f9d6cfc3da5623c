"""The per-product counts the database keeps (devices migration 0021, ``devices.kept_counts``):
after any mix of writes, by any writer (the inventory functions, ``bulk_create``, upserts,
``update()``, ``delete()``), they equal a count of the records, for every state, window, month
and freshness bound, at instants inside a day and in a time zone half an hour off UTC; two
writers at once on PostgreSQL keep them exact; the migration counts the records already there
and its reverse takes everything away."""

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, F, Max, Min, Q
from django.utils import timezone

from certadmin.devices.expiry import expiry_counts, expiry_state_of
from certadmin.devices.expiry_cache import expiry_counts_cached
from certadmin.devices.expiry_chart import expiry_month_counts, expiry_month_starts
from certadmin.devices.inventory import (
    inventory_listing_store,
    inventory_mark_removed,
    inventory_store,
    inventory_store_failure,
    inventory_unlisted_mark_removed,
)
from certadmin.devices.kept_counts import (
    expiry_counts_kept,
    expiry_month_counts_kept,
    kept_scope_q,
)
from certadmin.devices.models import CertificateRecord, ProductCounts, ProductDayCounts
from certadmin.devices.selectors import (
    inventory_scope,
    product_coverage,
    products_coverage,
    stale_counts,
)
from certadmin.iot.identity import DeviceRef
from certadmin.iot.results import CertStatus, DeviceCert, DeviceListing
from tests.support.certificates import make_leaf
from tests.support.databases import migrate

ACCOUNTS = ("default", "second")
PRODUCTS = (("default", "pA", ""), ("default", "pB", "iot-cn-1"), ("second", "pA", ""))
KOLKATA = "Asia/Kolkata"  # UTC+5:30: its midnights fall inside a UTC day


def _scopes() -> list[dict]:
    products = [
        {"product_key": product, "iot_instance_id": instance, "account": account}
        for account, product, instance in PRODUCTS
    ]
    return [*products, {"product_key": None, "accounts": ["default"]}, {"product_key": None}]


def _kept_tables_recounted() -> tuple[dict, dict]:
    """What ``ProductCounts`` and ``ProductDayCounts`` should hold, from every record."""
    products: dict = {}
    days: Counter = Counter()
    for record in CertificateRecord.objects.all():
        key = (record.account, record.product_key, record.iot_instance_id)
        counts = products.setdefault(key, Counter(records=0))
        counts["records"] += 1
        if record.removed_at is not None:
            counts["removed"] += 1
            continue
        state = expiry_state_of(record, now=timezone.now())
        if state in ("never", "failed", "not_issued"):
            counts[state] += 1
        else:
            days[(*key, record.not_after.astimezone(UTC).date(), "ready")] += 1
        if record.last_checked is not None:
            days[(*key, record.last_checked.astimezone(UTC).date(), "checked")] += 1
    return products, days


def _kept_tables() -> tuple[dict, dict]:
    """What ``ProductCounts`` and ``ProductDayCounts`` hold: the sums of each product's (and
    day's) rows, those that sum to nothing left out."""
    products: dict = {}
    for row in ProductCounts.objects.all():
        counts = products.setdefault(
            (row.account, row.product_key, row.iot_instance_id), Counter(records=0)
        )
        counts.update(
            records=row.records,
            never=row.never,
            failed=row.failed,
            not_issued=row.not_issued,
            removed=row.removed,
        )
    days: Counter = Counter()
    for row in ProductDayCounts.objects.all():
        key = (row.account, row.product_key, row.iot_instance_id, row.day)
        days.update({(*key, "ready"): row.ready, (*key, "checked"): row.checked})
    products = {
        key: +counts | Counter(records=counts["records"])
        for key, counts in products.items()
        if counts["records"]
    }
    return products, +days


def _coverage_recounted(now: datetime) -> dict:
    """The coverage and staleness of each product as counted from its records (the queries
    the pages ran before the counts were kept)."""
    listed = Q(removed_at__isnull=True)
    rows = (
        CertificateRecord.objects.values_list("account", "product_key", "iot_instance_id")
        .annotate(
            listed=Count("id", filter=listed),
            synced=Count("id", filter=listed & Q(last_checked__isnull=False)),
            removed=Count("id", filter=~listed),
            oldest_checked=Min("last_checked", filter=listed),
            newest_checked=Max("last_checked", filter=listed),
            last_listed=Max("listed_at"),
        )
        .order_by()
    )
    stale = stale_counts(CertificateRecord.objects.filter(listed), now=now)
    names = ("listed", "synced", "removed", "oldest_checked", "newest_checked", "last_listed")
    return {
        (account, product, instance): {
            **dict(zip(names, numbers, strict=True)),
            "stale": stale.get((account, product, instance), 0),
        }
        for account, product, instance, *numbers in rows
    }


def _assert_kept_counts_right(nows: list[datetime]) -> None:
    assert _kept_tables() == _kept_tables_recounted()
    for now in nows:
        assert products_coverage(where=Q(), now=now) == _coverage_recounted(now)
        for scope in _scopes():
            records = inventory_scope(**scope, scope_indexed=scope["product_key"] is not None)
            where = kept_scope_q(**scope)
            assert expiry_counts_kept(records, where=where, now=now) == expiry_counts(
                records, now=now
            ), (scope, now)
            with timezone.override(KOLKATA):
                assert expiry_month_counts_kept(
                    records, where=where, now=now, months=30
                ) == expiry_month_counts(records, now=now, months=30), (scope, now)


class _Writes:
    """Random writes of every kind to the inventory of ``PRODUCTS``, around ``base``: times
    spread over two years, many of them on an edge (a window's, a month's first instant in
    Kolkata, a UTC midnight, ``base`` itself)."""

    def __init__(self, rng: random.Random, base: datetime) -> None:
        self.rng = rng
        self.base = base
        with timezone.override(KOLKATA):
            months = expiry_month_starts(now=base, months=30)
        self.edges = [
            base,
            *(base + timedelta(days=days) for days in (8, 31, 91)),
            *months,
            datetime.combine(base.date(), datetime.min.time(), tzinfo=UTC),
        ]
        self.certificates = {}

    def instant(self) -> datetime | None:
        roll = self.rng.random()
        if roll < 0.1:
            return None
        if roll < 0.35:
            edge = self.rng.choice(self.edges)
            return edge + timedelta(microseconds=self.rng.choice((-1, 0, 0, 1)))
        return self.base + timedelta(seconds=self.rng.randint(-60 * 86400, 800 * 86400))

    def product(self) -> tuple[str, str, str]:
        return self.rng.choice(PRODUCTS)

    def name(self) -> str:
        return f"dev-{self.rng.randint(1, 40):03d}"

    def fields(self) -> dict:
        rng = self.rng
        return {
            "status": rng.choice((None, 0, 1, 2, 2, 2, 2, 7)),
            "not_after": self.instant(),
            "last_checked": rng.choice((None, self.instant(), self.instant())),
            "last_error_code": rng.choice(("", "", "", "iot.system.SystemBusy")),
            "removed_at": rng.choice((None, None, None, self.base)),
            "listed_at": rng.choice((None, self.instant())),
        }

    def records(self):
        return CertificateRecord.objects.filter(
            device_name__in=[self.name() for _ in range(self.rng.randint(1, 8))]
        )

    def certificate(self) -> str:
        not_after = self.instant() or self.base
        not_after = not_after.replace(microsecond=0)
        if not_after not in self.certificates:
            leaf = make_leaf(
                key_type="ec", not_before=not_after - timedelta(days=3650), not_after=not_after
            )
            self.certificates[not_after] = leaf.cert.public_bytes(
                serialization.Encoding.PEM
            ).decode()
        return self.certificates[not_after]

    def one(self) -> None:
        rng = self.rng
        account, product, instance = self.product()
        device = DeviceRef(
            product_key=product,
            device_name=self.name(),
            iot_instance_id=instance,
            account=account,
        )
        kind = rng.randrange(10)
        if kind == 0:
            CertificateRecord.objects.get_or_create(
                account=account,
                product_key=product,
                iot_instance_id=instance,
                device_name=device.device_name,
                defaults=self.fields(),
            )
        elif kind == 1:
            existing = set(
                CertificateRecord.objects.values_list(
                    "account", "product_key", "iot_instance_id", "device_name"
                )
            )
            fresh = {
                (account, product, instance, self.name()) for _ in range(rng.randint(1, 6))
            } - existing
            CertificateRecord.objects.bulk_create(
                CertificateRecord(
                    account=account,
                    product_key=product,
                    iot_instance_id=instance,
                    device_name=name,
                    **self.fields(),
                )
                for account, product, instance, name in fresh
            )
        elif kind == 2:
            inventory_listing_store(
                product_key=product,
                iot_instance_id=instance,
                account=account,
                listings=[
                    DeviceListing(self.name(), "unit", "ONLINE", "iot-id", "")
                    for _ in range(rng.randint(1, 6))
                ],
            )
        elif kind == 3:
            status = rng.choice((CertStatus.GENERATING, CertStatus.FAILED, CertStatus.READY))
            inventory_store(
                result=DeviceCert(
                    product_key=product,
                    device_name=device.device_name,
                    iot_instance_id=instance or None,
                    status=status,
                    cert_sn="1",
                    certificate=self.certificate() if status == CertStatus.READY else "",
                    private_key="",
                    request_id="R1",
                ),
                key_matches=None,
                account=account,
            )
        elif kind == 4:
            inventory_store_failure(device=device, code="iot.device.NotExistedDevice")
        elif kind == 5:
            if rng.random() < 0.5:
                inventory_mark_removed(device=device)
            else:
                inventory_unlisted_mark_removed(
                    account=account,
                    product_key=product,
                    iot_instance_id=instance,
                    listing_started=self.instant() or self.base,
                )
        elif kind in (6, 7):
            fields = self.fields()
            chosen = rng.sample(sorted(fields), rng.randint(1, 3))
            self.records().update(**{name: fields[name] for name in chosen})
        elif kind == 8:
            # A record moved to another product (a renamed account, an admin's edit).
            record = self.records().first()
            to_account, to_product, to_instance = self.product()
            if (
                record
                and not CertificateRecord.objects.filter(
                    account=to_account,
                    product_key=to_product,
                    iot_instance_id=to_instance,
                    device_name=record.device_name,
                ).exists()
            ):
                CertificateRecord.objects.filter(pk=record.pk).update(
                    account=to_account, product_key=to_product, iot_instance_id=to_instance
                )
        else:
            self.records().delete()


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kept_counts_equal_a_recount_after_random_writes_of_every_writer(seed):
    rng = random.Random(seed)
    base = timezone.now().replace(hour=rng.randint(0, 23), minute=rng.randint(0, 59))
    writes = _Writes(rng, base)
    for _round in range(4):
        for _ in range(25):
            writes.one()
        nows = [
            base,
            base + timedelta(seconds=rng.randint(1, 86399)),
            rng.choice(writes.edges),
            datetime.combine(base.date(), datetime.min.time(), tzinfo=UTC),
        ]
        _assert_kept_counts_right(nows)
    assert CertificateRecord.objects.count() > 20


@pytest.mark.django_db
def test_every_record_gone_leaves_no_count(settings):
    writes = _Writes(random.Random(7), timezone.now())
    for _ in range(60):
        writes.one()
    CertificateRecord.objects.all().delete()
    assert _kept_tables() == ({}, Counter())
    assert products_coverage(where=Q(), now=timezone.now()) == {}


@pytest.mark.django_db
def test_the_overview_and_the_device_list_read_the_kept_counts_unless_a_device_filter_narrows():
    writes = _Writes(random.Random(11), timezone.now())
    for _ in range(80):
        writes.one()
    cache.clear()
    now = timezone.now()
    scope = {"product_key": "pA", "iot_instance_id": "", "account": "default"}
    records = inventory_scope(**scope)
    counted = expiry_counts(records, now=now)
    listed = product_coverage(**scope).listed
    # Counts that no longer match the records (one of the product's rows) show what is read.
    one_row = ProductCounts.objects.filter(account="default", product_key="pA", iot_instance_id="")
    one_row.filter(pk=one_row.values("pk")[:1]).update(never=F("never") + 1000)
    for every in ({"product_key": None, "accounts": ["default"]}, scope):
        assert (
            expiry_counts_cached(scope={**every, "device_statuses": ()}, now=now)["never"] >= 1000
        )
    assert product_coverage(**scope).listed == listed + 1000
    narrowed = {**scope, "node_type": None, "device_statuses": ("ONLINE",)}
    assert expiry_counts_cached(scope=narrowed, now=now) == expiry_counts(
        inventory_scope(**narrowed), now=now
    )
    assert counted["never"] < 1000


def _triggers() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                "AND tgrelid = 'devices_certificaterecord'::regclass"
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name = 'devices_certificaterecord'"
            )
        return {
            name for (name,) in cursor.fetchall() if "productcounts" in name or "productday" in name
        }


@pytest.mark.django_db(transaction=True)
def test_migration_counts_the_records_there_and_its_reverse_takes_the_counts_away():
    rng = random.Random(5)
    writes = _Writes(rng, timezone.now())
    for _ in range(60):
        writes.one()
    assert _triggers()
    migrate("devices", "0020_inventory_name_search_fts")
    assert _triggers() == set()
    assert "devices_productcounts" not in connection.introspection.table_names()
    # Writes while nothing keeps the counts: the migration counts them when it comes back.
    for _ in range(60):
        writes.one()
    migrate("devices", "latest")
    assert _triggers()
    _assert_kept_counts_right([writes.base, writes.base + timedelta(hours=rng.randint(1, 23))])


@pytest.mark.django_db(transaction=True)
def test_counts_emptied_before_their_records_stay_empty():
    """Django's flush empties the tables in no fixed order: the records' triggers, run after
    the counts are gone, take nothing from rows that are not there."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's flush is a TRUNCATE, whose trigger empties the counts")
    writes = _Writes(random.Random(9), timezone.now())
    for _ in range(40):
        writes.one()
    ProductCounts.objects.all().delete()
    ProductDayCounts.objects.all().delete()
    CertificateRecord.objects.all().delete()
    assert not ProductCounts.objects.exists()
    assert not ProductDayCounts.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_one_product_keep_the_counts_exact_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("threads writing at once need PostgreSQL (DATABASE_URL)")
    base = timezone.now()
    CertificateRecord.objects.bulk_create(
        CertificateRecord(product_key="pA", device_name=f"dev-{n:03d}") for n in range(60)
    )
    workers = 3
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def write(seed: int) -> None:
        rng = random.Random(seed)
        try:
            start.wait(timeout=30)
            for _ in range(40):
                # Several records a transaction (in one order, so that the records' own locks
                # cannot deadlock), each moving between days and states: what a sync's page and
                # a person's lookup write at once.
                with transaction.atomic():
                    for n in sorted(rng.sample(range(60), 4)):
                        CertificateRecord.objects.filter(device_name=f"dev-{n:03d}").update(
                            status=rng.choice((0, 2, 2)),
                            last_checked=base - timedelta(days=rng.randint(0, 5)),
                            not_after=base + timedelta(days=rng.randint(-3, 40), hours=seed),
                            removed_at=rng.choice((None, None, base)),
                        )
                    if rng.random() < 0.2:
                        CertificateRecord.objects.create(
                            product_key="pA", device_name=f"new-{seed}-{rng.random()}"
                        )
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(seed,)) for seed in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    _assert_kept_counts_right([base, base + timedelta(days=8, hours=3)])


@pytest.mark.postgres
@pytest.mark.django_db
def test_folding_a_products_rows_of_changes_keeps_its_sums_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps one row per product and day, updated in place")
    writes = _Writes(random.Random(13), timezone.now())
    for _ in range(120):
        writes.one()
    kept = _kept_tables()
    with connection.cursor() as cursor:
        for product in PRODUCTS:
            cursor.execute("SELECT devices_productcounts_compact(%s, %s, %s)", product)
    assert _kept_tables() == kept == _kept_tables_recounted()
    # One row per product, and per product and day that counts something.
    assert ProductCounts.objects.count() == len(kept[0])
    days = {key[:4] for key in kept[1]}
    assert ProductDayCounts.objects.count() == len(days)


@pytest.mark.django_db
def test_a_statement_of_thousands_of_records_is_counted_once_and_folded():
    # One statement writing 3,000 records (a bulk load, a product's records marked removed or
    # checked in one UPDATE): on PostgreSQL the counts are added once per statement from its
    # transition tables and the product's rows folded after it (a trigger per record had
    # folded every 64 records, rescanning the rows it had just replaced: minutes at 100,000).
    now = timezone.now()
    CertificateRecord.objects.bulk_create(
        CertificateRecord(
            product_key="pBulk",
            device_name=f"unit-{n:05d}",
            status=CertStatus.READY if n % 10 else None,
            not_after=now + timedelta(days=n % 400 - 30) if n % 10 else None,
            last_checked=now - timedelta(days=n % 7) if n % 10 else None,
        )
        for n in range(3000)
    )
    CertificateRecord.objects.filter(product_key="pBulk").update(last_checked=now)
    CertificateRecord.objects.filter(product_key="pBulk", device_name__lt="unit-00500").update(
        removed_at=now
    )
    assert _kept_tables() == _kept_tables_recounted()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT tgname, tgtype & 1 FROM pg_trigger WHERE tgrelid = "
                "'devices_certificaterecord'::regclass AND tgname LIKE 'devices_productcounts%%'"
            )
            levels = dict(cursor.fetchall())
        # tgtype bit 0 set: a trigger per row; clear: per statement.
        assert levels
        assert not any(levels.values()), levels
        # Folded after each statement of many records: one row per product and day.
        assert ProductCounts.objects.filter(product_key="pBulk").count() == 1
        days = ProductDayCounts.objects.filter(product_key="pBulk")
        assert days.count() == days.values("day").distinct().count()
