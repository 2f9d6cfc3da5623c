"""The inventory pages at N devices (100,000 by default): the device list (first page, a search,
sorted by status on its first and a middle page), the expiry overview, and the pages that also
grow with the fleet: jobs, fleet health (findings) and schedules. p50/p95 of the whole request
(Django's test client: middleware, forms, queries, render), each also right after an inventory
write (one record updated, its product's inventory version changed: nothing cached to reuse).

One run measures SQLite and PostgreSQL (when DATABASE_URL names it), each on its own scratch
database filled once, and on each before and after issue 24's round 2, alternating
(``--rounds``): "before" is the inventory's indexes of devices migration 0016 and the status
sort as one query that ranks every record; "after" is this checkout.

    .venv/bin/python bench/inventory_search.py [--records 100000] [--requests 30] [--quick]

``--keep 1``: one kept scratch database per engine, filled on the first run and reused by the
next ones while it holds that fill.

Paired before/after against an older commit (``--paired-rounds N``): one fill, then N
alternating rounds of the whole pages measured by this script run as a worker (``--worker 1``)
from the code in ``BENCH_BEFORE_DIR`` (an export of the earlier commit, this script copied into
its bench/) and from this checkout, ``--requests`` requests per case per round, so both sides
see the same machine load.
"""

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from common import (
    ROOT,
    bench_args,
    database_variants,
    percentile,
    report,
    run_children,
    scratch_django,
)

PRODUCT = "a1Fleet5kXz"


def inventory_fill(records: int) -> None:
    """``records`` inventory records of one product, named as the demo fleet's units, most of
    them ready and expiring over 900 days (a ninth expired), 1 % never checked, 0.5 % failed,
    0.5 % not issued, 0.3 % no longer listed; then its sync. Loaded in bulk: the database's
    triggers keep the product's counts as they keep them for any writer (devices 0021)."""
    from django.utils import timezone

    from certadmin.devices.models import CertificateRecord, ProductSync
    from certadmin.emulator.seed import fleet_device_name

    inventory_changed = _inventory_changed()

    now = timezone.now()
    batch = []
    for i in range(records):
        not_after = now + timedelta(days=(i % 900) - 100)
        fields = {
            "status": 2,
            "not_after": not_after,
            "not_before": not_after - timedelta(days=3650),
            "last_checked": now - timedelta(minutes=i % 1000),
        }
        if i % 100 == 50:  # listed, never looked up
            fields = {"status": None, "not_after": None, "not_before": None, "last_checked": None}
        elif i % 200 == 1:  # the last lookup failed: the earlier certificate's fields kept
            fields["last_error_code"] = "iot.system.SystemBusy"
        elif i % 200 == 3:  # being generated
            fields.update(status=0, not_after=None, not_before=None)
        if i % 300 == 7:
            fields["removed_at"] = now - timedelta(days=3)
        ready = fields["not_after"] is not None
        batch.append(
            CertificateRecord(
                product_key=PRODUCT,
                device_name=fleet_device_name(i + 1),
                iot_instance_id="",
                nickname=f"unit {i + 1}",
                device_status=("ONLINE", "OFFLINE", "UNACTIVE")[i % 7 // 3],
                cert_sn=str(10_000_000 + i) if ready else "",
                certificate="",
                sha256_fingerprint=f"{i:064X}" if ready else "",
                serial=f"{i:040x}" if ready else "",
                subject="CN=Alibaba Cloud IoT Certificate, O=Alibaba Cloud IoT, C=CN",
                issuer="CN=Alibaba Cloud IoT Operation CA1, O=Alibaba Cloud IoT, C=CN",
                key_matches=True if ready else None,
                chain_status="verified" if ready else "",
                **fields,
            )
        )
        if len(batch) == 5000:
            CertificateRecord.objects.bulk_create(batch)
            batch = []
    if batch:
        CertificateRecord.objects.bulk_create(batch)
    ProductSync.objects.create(product_key=PRODUCT, device_count=records, synced_at=now)
    if inventory_changed is not None:
        # A bulk load is an inventory write like any other: it gives the product a new version.
        inventory_changed(account="", product_key=PRODUCT, iot_instance_id="")


def fleet_pages_fill(records: int, *, viewer) -> float:
    """What the jobs, fleet-health and schedules pages show for that fleet: 200 ended syncs
    (half the viewer's), the last with an item per device; 30 scheduled products (one of them
    the fleet's); the findings of one run of every check. Returns the run's seconds."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from certadmin.emulator.seed import fleet_device_name
    from certadmin.findings.runs import findings_run
    from certadmin.jobs.models import Job, JobItem
    from certadmin.schedules.models import SyncSchedule

    now = timezone.now()
    other = get_user_model().objects.create_user("bench-other", password=None)
    jobs = Job.objects.bulk_create(
        Job(
            kind="product_sync",
            owner=viewer if n % 2 else other,
            state="finished",
            total=records,
            done=records,
            product_key=PRODUCT,
            started_at=now - timedelta(days=200 - n),
            finished_at=now - timedelta(days=200 - n, hours=-3),
            listed=records,
            listing_complete=True,
        )
        for n in range(200)
    )
    for start in range(0, records, 5000):
        JobItem.objects.bulk_create(
            JobItem(
                job=jobs[-1],
                product_key=PRODUCT,
                device_name=fleet_device_name(i + 1),
                state="done",
                finished_at=now,
            )
            for i in range(start, min(records, start + 5000))
        )
    SyncSchedule.objects.bulk_create(
        SyncSchedule(
            product_key=PRODUCT if n == 0 else f"a1Sched{n:04d}",
            cron="17 2 * * *",
            next_run_at=now + timedelta(hours=n),
            last_job=jobs[-1] if n == 0 else None,
        )
        for n in range(30)
    )
    started = time.perf_counter()
    findings_run(now=now)
    return time.perf_counter() - started


def _inventory_changed():
    try:
        from certadmin.devices.inventory import inventory_changed
    except ImportError:  # the code before the expiry overview's cache
        return None
    return inventory_changed


PAGE_CASES = {
    "device search, name part 'unit-0421'": ("/devices/", {"q": "unit-0421"}, False),
    "device list, first page, no filter": ("/devices/", {}, False),
    "expiry overview (product, one state)": ("/expiry/", {"state": "days_8_30"}, False),
    "expiry overview (every product)": ("/expiry/", None, False),
    "expiry overview with chart (product)": ("/expiry/", {}, False),
    "expiry overview (product, one state), after a write": (
        "/expiry/",
        {"state": "days_8_30"},
        True,
    ),
    "expiry overview (every product), after a write": ("/expiry/", None, True),
    "expiry overview with chart (product), after a write": ("/expiry/", {}, True),
}


def _client():
    from django.contrib.auth import get_user_model
    from django.template import Template
    from django.test import Client
    from django.test.utils import setup_test_environment

    # The test client needs the test environment (ALLOWED_HOSTS), not its instrumented
    # template rendering (a signal per template rendered), which production does not have.
    production_render = Template._render
    setup_test_environment()
    Template._render = production_render
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-viewer"))
    return client


def _worker(requests: int) -> None:
    """Time the whole pages on the database in DATABASE_URL; print one JSON line of samples."""
    from common import django_setup

    django_setup()
    client = _client()
    inventory_changed = _inventory_changed()
    samples = {}
    for name, (url, query, after_write) in PAGE_CASES.items():
        query = {} if query is None else {"product_key": PRODUCT, **query}
        assert client.get(url, query).status_code == 200  # warm
        times = []
        for _ in range(requests):
            start = time.perf_counter()
            if after_write and inventory_changed is not None:
                # A new version, as every inventory write makes: nothing cached to use.
                inventory_changed(account="", product_key=PRODUCT, iot_instance_id="")
            assert client.get(url, query).status_code == 200
            times.append((time.perf_counter() - start) * 1000)
        samples[name] = times
    print(json.dumps(samples))


def _paired(args, rounds: int) -> None:
    before_dir = Path(os.environ["BENCH_BEFORE_DIR"])
    sides = {
        "before": before_dir / "bench" / "inventory_search.py",
        "after": ROOT / "bench" / "inventory_search.py",
    }
    samples: dict[str, dict[str, list[float]]] = {side: {} for side in sides}
    for _round in range(rounds):
        for side, script in sides.items():
            done = subprocess.run(
                [sys.executable, str(script), "--worker", "1", "--requests", str(args.requests)],
                cwd=script.parents[1],
                capture_output=True,
                text=True,
                check=True,
            )
            for name, times in json.loads(done.stdout.strip().splitlines()[-1]).items():
                samples[side].setdefault(name, []).extend(times)
    rows = []
    for name in PAGE_CASES:
        before, after = samples["before"][name], samples["after"][name]
        rows.append(
            [
                name,
                f"{percentile(before, 50):.1f}",
                f"{percentile(before, 95):.1f}",
                f"{percentile(after, 50):.1f}",
                f"{percentile(after, 95):.1f}",
                f"{percentile(after, 95) / percentile(before, 95):.2f}",
            ]
        )
    report(
        args,
        name="inventory_search_paired",
        title=f"Inventory pages before and after, paired, {args.records:,} records",
        headers=[
            "whole page",
            "before p50 ms",
            "before p95 ms",
            "after p50 ms",
            "after p95 ms",
            "after/before p95",
        ],
        rows=rows,
        notes=f"Before: the code in {before_dir.name}; after: this checkout. {rounds} "
        f"alternating rounds × {args.requests} requests per case and side on one fill "
        '(`VACUUM ANALYZE` after it). "After a write": the product\'s inventory version '
        "changed before each request (as any inventory write does), so nothing is cached; "
        "the code before has no cache, its rows equal the plain ones. Measured on a shared "
        "2-core machine (other sessions' benchmarks running): compare the sides of one run.",
    )


# The pages of the before/after run: name -> (path, query, right after an inventory write).
_PAGES = {
    "device list, first page": ("/devices/", {"product_key": PRODUCT}),
    "device search, name part 'unit-0421'": (
        "/devices/",
        {"product_key": PRODUCT, "q": "unit-0421"},
    ),
    "device list sorted by status, first page": (
        "/devices/",
        {"product_key": PRODUCT, "sort": "status"},
    ),
    "device list sorted by status, a middle page": (
        "/devices/",
        {"product_key": PRODUCT, "sort": "status", "page": "1000"},
    ),
    "expiry overview (product, one state)": (
        "/expiry/",
        {"product_key": PRODUCT, "state": "days_8_30"},
    ),
    "expiry overview with chart (product)": ("/expiry/", {"product_key": PRODUCT}),
    "expiry overview (every product)": ("/expiry/", {}),
    "jobs": ("/jobs/", {}),
    "fleet health": ("/fleet/", {}),
    "fleet health (product)": ("/fleet/", {"product_key": PRODUCT}),
    "schedules": ("/schedules/", {}),
}
CASES = {
    **{name: (path, query, False) for name, (path, query) in _PAGES.items()},
    **{f"{name}, after a write": (path, query, True) for name, (path, query) in _PAGES.items()},
}
# "Before": the indexes as devices migration 0016 and findings migration 0001 left them.
BEFORE_MIGRATIONS = (("devices", "0016_status_rank"), ("findings", "0001_initial"))
SIDES = ("before", "after")


def _ranked_as_before(records, **_how):
    # The status sort before: the one query that ranks every record (what inventory_devices
    # orders by), paged with OFFSET.
    return records


def _no_state_counts(**_scope) -> None:
    return None


def _name_part_as_before(text: str) -> bool:
    return False


def _scope_indexed_as_before(**_how) -> bool:
    return True


def _scope_as_before(scope: dict):
    from certadmin.devices.selectors import inventory_scope

    return inventory_scope(**scope)


class _PageAsBefore:
    # The fleet page before: its counts made on every view (its versions' table is gone with
    # the findings migrations undone), its rows read and written out on every view.
    def __init__(self, *, accounts, now, **filters) -> None:
        self._accounts, self._now, self._filters = accounts, now, filters

    def counts(self) -> list[dict]:
        from certadmin.findings.models import Finding
        from certadmin.findings.selectors import findings_counts, findings_filtered

        findings = Finding.objects.filter(account__in=[*self._accounts, ""])
        return findings_counts(findings_filtered(findings, now=self._now, **self._filters))

    def results_html(self, *, made, **_shown):
        return made()


def _counts_kept_as_before(scope: dict) -> bool:
    # The expiry overview's counts before: counted from the records (no kept counts).
    return False


def _coverage_as_before(*, where, now=None) -> dict:
    # A product's coverage and the schedules' freshness before: counted from the records, each
    # product's in one pass over its coverage index, and the stale ones beside them.
    from django.db.models import Count, Max, Min, Q

    from certadmin.devices.models import CertificateRecord
    from certadmin.devices.selectors import stale_counts

    listed = Q(removed_at__isnull=True)
    rows = (
        CertificateRecord.objects.filter(where)
        .values_list("account", "product_key", "iot_instance_id")
        .annotate(
            listed=Count("product_key", filter=listed),
            synced=Count("product_key", filter=listed & Q(last_checked__isnull=False)),
            removed=Count("product_key", filter=~listed),
            oldest_checked=Min("last_checked", filter=listed),
            newest_checked=Max("last_checked", filter=listed),
            last_listed=Max("listed_at"),
        )
        .order_by()
    )
    names = ("listed", "synced", "removed", "oldest_checked", "newest_checked", "last_listed")
    coverage = {
        (account, product, instance): dict(zip(names, numbers, strict=True))
        for account, product, instance, *numbers in rows
    }
    if now is not None:
        stale = stale_counts(CertificateRecord.objects.filter(where, listed), now=now)
        for key, numbers in coverage.items():
            numbers["stale"] = stale.get(key, 0)
    return coverage


def _product_coverage_as_before(*, product_key: str, iot_instance_id: str = "", account: str = ""):
    # One product's coverage (the device list) before: the same count of its records.
    from django.db.models import Q

    from certadmin.devices.models import default_account_name
    from certadmin.devices.selectors import ProductCoverage

    account = account or default_account_name()
    where = Q(account=account, product_key=product_key, iot_instance_id=iot_instance_id)
    numbers = _coverage_as_before(where=where).get((account, product_key, iot_instance_id), {})
    return ProductCoverage.of(numbers, account=account, product_key=product_key)


_NAME_PART_INDEXED = _SCOPE_INDEXED = _SCOPE_RECORDS = None
_COUNTS_KEPT = _PRODUCTS_COVERAGE = _PRODUCT_COVERAGE = None


def _side_use(side: str, *, vendor: str) -> None:
    """The schema and code of ``side``: migrate the devices app to it, keep statistics as
    PostgreSQL's autovacuum does (SQLite's inventory has none in production either), and page
    the status sort as that side does."""
    from django.core.management import call_command
    from django.db import connection

    from certadmin.devices import expiry_cache, inventory_cache, selectors
    from certadmin.devices.selectors import inventory_status_sorted
    from certadmin.devices.views import search
    from certadmin.findings import views as fleet
    from certadmin.findings.counts_cache import FindingsPageCache
    from certadmin.schedules import selectors as schedules

    global _NAME_PART_INDEXED, _SCOPE_INDEXED, _SCOPE_RECORDS, _COUNTS_KEPT, _PRODUCTS_COVERAGE
    global _PRODUCT_COVERAGE
    if _NAME_PART_INDEXED is None:  # this checkout's, before the first side replaces them
        _NAME_PART_INDEXED = getattr(selectors, "_name_part_indexed", None)
        _SCOPE_INDEXED = getattr(selectors, "_scope_indexed", None)
        _SCOPE_RECORDS = getattr(expiry_cache, "_scope_records", None)
        _COUNTS_KEPT = getattr(expiry_cache, "_counts_kept", None)
        _PRODUCTS_COVERAGE = getattr(selectors, "products_coverage", None)
        _PRODUCT_COVERAGE = getattr(selectors, "product_coverage", None)
    if side == "before":
        for app, migration in BEFORE_MIGRATIONS:
            call_command("migrate", app, migration, verbosity=0)
    else:
        call_command("migrate", verbosity=0)
        # The before side's findings migrations took the versions' table with them: give the
        # findings their versions again, as the fill's findings run did.
        from certadmin.findings.models import Finding
        from certadmin.findings.versions import findings_changed

        scopes = Finding.objects.values_list("account", "product_key", "iot_instance_id")
        for account, product_key, instance in scopes.distinct().order_by():
            findings_changed(account=account, product_key=product_key, iot_instance_id=instance)
    if vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    search.inventory_status_sorted = (
        _ranked_as_before if side == "before" else inventory_status_sorted
    )
    # Before devices 0021 no state counts were kept for the status sort to start a page from.
    search.inventory_state_counts = (
        _no_state_counts if side == "before" else selectors.inventory_state_counts
    )
    # Before devices 0020 there is no name index to search (LIKE over the product), and every
    # product's expiry counts and its list by days left took the account's index.
    selectors._name_part_indexed = _name_part_as_before if side == "before" else _NAME_PART_INDEXED
    selectors._scope_indexed = _scope_indexed_as_before if side == "before" else _SCOPE_INDEXED
    expiry_cache._scope_records = _scope_as_before if side == "before" else _SCOPE_RECORDS
    fleet.FindingsPageCache = _PageAsBefore if side == "before" else FindingsPageCache
    # Before devices 0021 no counts were kept: the overview, a product's coverage (the device
    # list) and the schedules' freshness counted the records again after every write.
    expiry_cache._counts_kept = _counts_kept_as_before if side == "before" else _COUNTS_KEPT
    coverage = _coverage_as_before if side == "before" else _PRODUCTS_COVERAGE
    selectors.products_coverage = schedules.products_coverage = coverage
    # One product's coverage (the device list) is a query of its own over those counts.
    one = _product_coverage_as_before if side == "before" else _PRODUCT_COVERAGE
    selectors.product_coverage = inventory_cache.product_coverage = one


def inventory_empty() -> None:
    from django.contrib.auth import get_user_model

    from certadmin.devices.models import CertificateRecord, InventoryVersion, ProductSync
    from certadmin.findings.models import Finding
    from certadmin.jobs.models import Job
    from certadmin.schedules.models import SyncSchedule

    for model in (SyncSchedule, Finding, Job, CertificateRecord, ProductSync, InventoryVersion):
        model.objects.all().delete()
    get_user_model().objects.filter(username__startswith="bench-").delete()


def _filled(records: int) -> bool:
    """Whether a kept database holds a whole fill of ``records`` from an earlier run (reused as
    it is: the runs' writes only moved some records' last lookup)."""
    from django.contrib.auth import get_user_model

    from certadmin.devices.models import CertificateRecord, ProductSync
    from certadmin.findings.models import Finding

    try:
        from certadmin.findings.models import FindingsVersion
    except ImportError:  # the code before the fleet page's cached counts
        versioned = True
    else:  # a fill from before the findings' versions: its counts would never be cached
        versioned = FindingsVersion.objects.exists()
    return (
        versioned
        and ProductSync.objects.filter(product_key=PRODUCT, device_count=records).exists()
        and CertificateRecord.objects.count() == records
        and get_user_model().objects.filter(username="bench-viewer").exists()
        and Finding.objects.exists()
    )


def _child(args) -> None:
    """Fill one scratch database (``BENCH_DB``), time every case on each side; print one JSON
    line of samples."""
    vendor = scratch_django(
        "inventory", sqlite=os.environ["BENCH_DB"] == "sqlite", keep=bool(args.keep)
    )
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from certadmin.devices.models import CertificateRecord
    from certadmin.findings.models import Finding

    fill_seconds = findings_seconds = None
    if not (args.keep and _filled(args.records)):
        if args.keep:  # a kept (or given: BENCH_SCRATCH_DATABASE) database: refilled from empty
            inventory_empty()
        started = time.perf_counter()
        inventory_fill(args.records)
        viewer = get_user_model().objects.create_superuser("bench-viewer", password=None)
        findings_seconds = fleet_pages_fill(args.records, viewer=viewer)
        fill_seconds = time.perf_counter() - started
    client = _client()
    inventory_changed = _inventory_changed()
    written = list(
        CertificateRecord.objects.filter(product_key=PRODUCT)
        .order_by("device_name")
        .values_list("pk", flat=True)[:: max(1, args.records // 1000)]
    )
    writes = iter(range(10**9))

    def write():
        # One record looked up again, as a lookup or a sync's item writes it.
        pk = written[next(writes) % len(written)]
        CertificateRecord.objects.filter(pk=pk).update(last_checked=timezone.now())
        inventory_changed(account="", product_key=PRODUCT, iot_instance_id="")

    samples: dict[str, dict[str, list[float]]] = {side: {} for side in SIDES}
    loads = [os.getloadavg()[0]]
    for _round in range(args.rounds):
        for side in SIDES:
            _side_use(side, vendor=vendor)
            for name, (path, query, after_write) in CASES.items():
                assert client.get(path, query).status_code == 200  # warm
                times = samples[side].setdefault(name, [])
                for _ in range(args.requests):
                    start = time.perf_counter()
                    if after_write:
                        write()
                    assert client.get(path, query).status_code == 200
                    times.append((time.perf_counter() - start) * 1000)
            loads.append(os.getloadavg()[0])
    _side_use("after", vendor=vendor)
    print(
        json.dumps(
            {
                "samples": samples,
                "fill_seconds": fill_seconds,
                "findings_seconds": findings_seconds,
                "findings": Finding.objects.count(),
                "loads": loads,
            }
        )
    )


def main() -> None:
    args = bench_args(
        __doc__,
        repeats=1,
        records=100_000,
        requests=30,
        rounds=2,
        worker=0,
        paired_rounds=0,
        keep=0,
    )
    if args.worker:
        _worker(args.requests)
        return
    if args.quick:
        args.records, args.requests, args.rounds = 500, 3, 1
    if os.environ.get("BENCH_CHILD"):
        _child(args)
        return
    if args.paired_rounds:
        _paired_fill_and_run(args)
        return
    variants = database_variants(quick=args.quick)
    results = run_children(__file__, variants, sys.argv[1:])
    rows = []
    for database, result in results.items():
        for name in CASES:
            before, after = (result["samples"][side][name] for side in SIDES)
            rows.append(
                [
                    database,
                    name,
                    *(f"{percentile(times, p):.1f}" for times in (before, after) for p in (50, 95)),
                ]
            )
    facts = "; ".join(
        (
            f"{database}: filled in {result['fill_seconds']:.0f} s ({result['findings']:,} "
            f"findings from one run of every check, {result['findings_seconds']:.1f} s)"
            if result["fill_seconds"] is not None
            else f"{database}: the fill of an earlier run kept ({result['findings']:,} findings)"
        )
        + f", 1-minute load {min(result['loads']):.1f}–{max(result['loads']):.1f}"
        for database, result in results.items()
    )
    report(
        args,
        name="inventory_search",
        title=f"Inventory pages at {args.records:,} devices, before and after, whole request",
        headers=[
            "database",
            "page",
            "before p50 ms",
            "before p95 ms",
            "after p50 ms",
            "after p95 ms",
        ],
        rows=rows,
        notes=f"Target: every page p95 ≤ 100 ms, also right after an inventory write. "
        f"{args.requests} requests per page, side and round, {args.rounds} alternating rounds "
        "per database on one fill (the requests are the samples). Before: the devices app's "
        "indexes of migration 0016 and the findings app's of 0001, the status sort as one "
        "query ranking every record, the fleet page's counts and rows made on every view, a "
        "part of a "
        "name searched by LIKE alone, the every-product expiry counts and list by days left "
        "from the account's index, the expiry counts and chart, a product's coverage and the "
        "schedules' freshness counted from the records after every write; after: this "
        "checkout (devices 0021, those counts kept by the database's triggers, the "
        "status sort one state at a time, a deep page by its keys first after counting only "
        "the states before it (an unfiltered list: none, from the kept counts), the fleet "
        "page's counts and rows cached under the findings' versions, findings 0004; on "
        "SQLite a part of a name "
        "from the FTS5 trigram index, every product's expiry counts by notAfter ranges and its "
        "list by days left in the notAfter index's order). "
        "Everything else is this checkout's on both sides "
        "(the jobs list, its sections cached under the jobs' state, the fleet page's account "
        "filter and total, the findings' statistics). After a "
        "write: one record updated and its product's inventory version changed before each "
        "request, so no cached count is reused. The fleet: one product of the demo fleet's "
        "DeviceNames, a ninth expired, 1 % never checked, 0.5 % failed, 0.5 % being "
        "generated, 0.3 % no longer listed; 200 ended syncs (the last with an item per "
        "device), 30 schedules. "
        f"{facts}. Measured on a shared 2-core machine with other sessions' benchmarks "
        "running: compare the sides of one run.",
    )


def _paired_fill_and_run(args) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    vendor = scratch_django("inventory", keep=bool(args.keep))
    if args.keep:
        inventory_empty()
    inventory_fill(args.records)
    if vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    get_user_model().objects.create_superuser("bench-viewer", password=None)
    _paired(args, args.paired_rounds)


if __name__ == "__main__":
    main()
