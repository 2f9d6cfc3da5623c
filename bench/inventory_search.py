"""Device search and the expiry overview over an inventory of N certificate records (100,000 by
default): p95 of the query alone (the selectors, rows fetched) and of the whole page (Django's
test client: middleware, form, queries, render), on the scratch database (PostgreSQL when
DATABASE_URL names it, else SQLite).

    .venv/bin/python bench/inventory_search.py [--records 100000] [--requests 30] [--quick]
"""

import time
from datetime import timedelta

from common import bench_args, percentile, report, scratch_django

PRODUCT = "a1Fleet5kXz"


def _fill(records: int) -> None:
    from django.utils import timezone

    from certadmin.devices.inventory import inventory_changed
    from certadmin.devices.models import CertificateRecord
    from certadmin.jobs.models import ProductSync

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
    # A bulk load is an inventory write like any other: it gives the product a new version.
    inventory_changed(account="", product_key=PRODUCT, iot_instance_id="")


def main() -> None:
    args = bench_args(__doc__, repeats=1, records=100_000, requests=30)
    if args.quick:
        args.records, args.requests = 500, 3
    vendor = scratch_django("inventory")
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.template import Template
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    from certadmin.devices.expiry import expiry_counts
    from certadmin.devices.expiry_chart import expiry_months
    from certadmin.devices.inventory import inventory_changed
    from certadmin.devices.selectors import inventory_devices, inventory_scope

    # The test client needs the test environment (ALLOWED_HOSTS), not its instrumented
    # template rendering (a signal per template rendered), which production does not have.
    production_render = Template._render
    setup_test_environment()
    Template._render = production_render
    _fill(args.records)
    if vendor == "postgresql":
        # The steady state autovacuum leaves a bulk-loaded table in within a minute: statistics,
        # and the visibility map that lets counts be answered from indexes alone.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    viewer = get_user_model().objects.create_superuser("bench-viewer", password=None)
    client = Client()
    client.force_login(viewer)

    def search_query(q):
        def run():
            records = inventory_devices(product_key=PRODUCT, q=q, now=timezone.now())
            list(records[:50])
            records.count()

        return run

    def expiry_query():
        scope = inventory_scope(product_key=PRODUCT, iot_instance_id="")
        expiry_counts(scope, now=timezone.now())
        list(inventory_devices(product_key=PRODUCT, state="within_30", sort="days")[:50])

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
            inventory_changed(account="", product_key=PRODUCT, iot_instance_id="")
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
        "expiry overview (product)": (
            expiry_query,
            page("/expiry/", {"product_key": PRODUCT, "state": "within_30"}),
        ),
        "expiry overview (product), after a write each time": (
            expiry_query,
            page_after_write("/expiry/", {"product_key": PRODUCT, "state": "within_30"}),
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
        query(), whole()  # warm
        times = {}
        for label, fn in (("query", query), ("page", whole)):
            samples = []
            for _ in range(args.requests):
                start = time.perf_counter()
                fn()
                samples.append((time.perf_counter() - start) * 1000)
            times[label] = samples
        rows.append(
            [
                name,
                f"{percentile(times['query'], 50):.1f}",
                f"{percentile(times['query'], 95):.1f}",
                f"{percentile(times['page'], 50):.1f}",
                f"{percentile(times['page'], 95):.1f}",
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
