"""Device search and the expiry overview over an inventory of N certificate records (100,000 by
default): p95 of the query alone (the selectors, rows fetched) and of the whole page (Django's
test client: middleware, form, queries, render), on the scratch database (PostgreSQL when
DATABASE_URL names it, else SQLite).

    .venv/bin/python bench/inventory_search.py [--records 100000] [--requests 30] [--quick]

Paired before/after (``--paired-rounds N``): one fill, then N alternating rounds of the whole
pages measured by this script run as a worker (``--worker 1``) from the code in
``BENCH_BEFORE_DIR`` (an export of the earlier commit, this script copied into its bench/) and
from this checkout, ``--requests`` requests per case per round, so both sides see the same
machine load.
"""

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from common import ROOT, bench_args, percentile, report, scratch_django

PRODUCT = "a1Fleet5kXz"


def _fill(records: int) -> None:
    from django.utils import timezone

    from certadmin.devices.models import CertificateRecord, ProductSync

    inventory_changed = _inventory_changed()

    now = timezone.now()
    batch = []
    for i in range(records):
        not_after = now + timedelta(days=(i % 900) - 100)
        batch.append(
            CertificateRecord(
                product_key=PRODUCT,
                device_name=f"line{i % 3 + 1}-unit-{i:06d}",
                iot_instance_id="",
                nickname=f"unit {i}",
                device_status="ONLINE",
                status=2,
                cert_sn=str(10_000_000 + i),
                certificate="",
                sha256_fingerprint=f"{i:064X}",
                serial=f"{i:040x}",
                subject=f"CN=line-unit-{i}",
                issuer="CN=Bench CA",
                not_before=not_after - timedelta(days=3650),
                not_after=not_after,
                key_matches=True,
                chain_status="ok",
                last_checked=now - timedelta(minutes=i % 1000),
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


def _rank_before(now):
    """The status sort's rank before issue 24: each state's whole test, in a CASE."""
    from django.db.models import Case, IntegerField, Value, When

    from certadmin.devices.expiry import EXPIRY_STATES, expiry_state_q

    return Case(
        *(
            When(expiry_state_q(state, now=now), then=Value(rank))
            for rank, (state, _label) in enumerate(EXPIRY_STATES)
        ),
        default=Value(len(EXPIRY_STATES)),
        output_field=IntegerField(),
    ).asc()


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


def main() -> None:
    args = bench_args(
        __doc__, repeats=1, records=100_000, requests=30, worker=0, paired_rounds=0, keep=0
    )
    if args.worker:
        _worker(args.requests)
        return
    if args.quick:
        args.records, args.requests = 500, 3
    vendor = scratch_django("inventory", keep=bool(args.keep))
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.template import Template
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    from certadmin.devices.expiry import expiry_counts
    from certadmin.devices.expiry_chart import expiry_months
    from certadmin.devices.selectors import inventory_devices, inventory_scope

    # The test client needs the test environment (ALLOWED_HOSTS), not its instrumented
    # template rendering (a signal per template rendered), which production does not have.
    production_render = Template._render
    setup_test_environment()
    Template._render = production_render
    if args.keep:  # a kept (or given: BENCH_SCRATCH_DATABASE) database: refilled from empty
        from certadmin.devices.models import CertificateRecord, ProductSync

        CertificateRecord.objects.all().delete()
        ProductSync.objects.all().delete()
        get_user_model().objects.filter(username="bench-viewer").delete()
    _fill(args.records)
    if vendor == "postgresql":
        # The steady state autovacuum leaves a bulk-loaded table in within a minute: statistics,
        # and the visibility map that lets counts be answered from indexes alone.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    viewer = get_user_model().objects.create_superuser("bench-viewer", password=None)
    if args.paired_rounds:
        _paired(args, args.paired_rounds)
        return
    client = Client()
    client.force_login(viewer)

    def search_query(q):
        def run():
            records = inventory_devices(product_key=PRODUCT, q=q, now=timezone.now())
            list(records[:50])
            records.count()

        return run

    def status_sorted(rank_before: bool):
        # One page of the device list sorted by status, and its total: as the page asks for it,
        # or (rank_before) with the rank as it was before issue 24, every state's test per row.
        def run():
            now = timezone.now()
            records = inventory_devices(product_key=PRODUCT, sort="status", now=now)
            if rank_before:
                records = records.order_by(_rank_before(now), "device_name", "product_key")
            list(records[:50])
            records.count()

        return run

    def expiry_query():
        scope = inventory_scope(product_key=PRODUCT, iot_instance_id="")
        expiry_counts(scope, now=timezone.now())
        list(inventory_devices(product_key=PRODUCT, state="days_8_30", sort="days")[:50])

    def chart_query():
        scope = inventory_scope(product_key=PRODUCT, iot_instance_id="")
        expiry_months(scope, now=timezone.now())

    def page(url, query):
        def run():
            assert client.get(url, query).status_code == 200

        return run

    def page_after_write(url, query):
        # The overview right after an inventory write (a new version: nothing cached), i.e.
        # counts and chart made from the inventory as before the cache; the write itself
        # (one small upsert) is inside the timing.
        def run():
            _inventory_changed()(account="", product_key=PRODUCT, iot_instance_id="")
            assert client.get(url, query).status_code == 200

        return run

    cases = {
        "device search, name part 'unit-0421'": (
            search_query("unit-0421"),
            page("/devices/", {"product_key": PRODUCT, "q": "unit-0421"}),
        ),
        "device search, whole CertSN": (
            search_query("10004321"),
            page("/devices/", {"product_key": PRODUCT, "q": "10004321"}),
        ),
        "device list, first page, no filter": (
            search_query(""),
            page("/devices/", {"product_key": PRODUCT}),
        ),
        "device list sorted by status": (
            status_sorted(False),
            page("/devices/", {"product_key": PRODUCT, "sort": "status"}),
        ),
        "device list sorted by status, query with the rank as before (CASE of every state)": (
            status_sorted(True),
            None,  # no page runs the rank as before
        ),
        "expiry overview (product)": (
            expiry_query,
            page("/expiry/", {"product_key": PRODUCT, "state": "days_8_30"}),
        ),
        "expiry overview (product), after a write each time": (
            expiry_query,
            page_after_write("/expiry/", {"product_key": PRODUCT, "state": "days_8_30"}),
        ),
        "expiry overview (every product)": (expiry_query, page("/expiry/", {})),
        "expiry overview (every product), after a write each time": (
            expiry_query,
            page_after_write("/expiry/", {}),
        ),
        "expiry chart, 24 months (product; page: whole overview)": (
            chart_query,
            page("/expiry/", {"product_key": PRODUCT}),
        ),
        "expiry chart, 24 months (product; page: whole overview), after a write each time": (
            chart_query,
            page_after_write("/expiry/", {"product_key": PRODUCT}),
        ),
    }
    rows = []
    for name, (query, whole) in cases.items():
        sides = (("query", query), ("page", whole)) if whole else (("query", query),)
        times = {"page": []}
        for label, fn in sides:
            fn()  # warm
            samples = []
            for _ in range(args.requests):
                start = time.perf_counter()
                fn()
                samples.append((time.perf_counter() - start) * 1000)
            times[label] = samples
        rows.append(
            [
                name,
                *(
                    f"{percentile(times[label], p):.1f}" if times[label] else "–"
                    for label in ("query", "page")
                    for p in (50, 95)
                ),
            ]
        )
    report(
        args,
        name="inventory_search",
        title=f"Inventory search and expiry overview, {args.records:,} records ({vendor})",
        headers=["measure", "query p50 ms", "query p95 ms", "page p50 ms", "page p95 ms"],
        rows=rows,
        notes=f"Target: query p95 ≤ 50 ms, whole page p95 ≤ 100 ms. {args.requests} requests "
        "per measure (the requests are the samples). Query: the selectors alone (search: one "
        "page of rows and the total; expiry: the counts per state and one page of a state); "
        "page: the whole request through Django's test client, rendered as in production. "
        "Measured on a shared 2-core machine: compare rows of one run, not runs.",
    )


if __name__ == "__main__":
    main()
