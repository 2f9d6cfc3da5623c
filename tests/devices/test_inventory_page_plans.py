"""The plans the inventory pages rely on at 100,000 records (issue 24): a page deep in the status
sort skips entries of the status-sort index, not rows; the chart counts each month from its own
range of the ready index; the products of an account are found by index probes on SQLite too;
and the counts of records not ready keep their own index beside the status-sort one."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from certadmin.devices.expiry import expiry_counts, expiry_state_q
from certadmin.devices.expiry_cache import expiry_counts_cached, expiry_month_counts_cached
from certadmin.devices.expiry_chart import expiry_month_counts
from certadmin.devices.models import CertificateRecord
from certadmin.devices.selectors import (
    inventory_devices,
    inventory_products,
    inventory_scope,
    inventory_status_sorted,
)
from tests.devices.test_expiry import NOW
from tests.devices.test_inventory_count_plans import _plans

# Committed rows, VACUUM ANALYZE on PostgreSQL (as autovacuum leaves a table); SQLite has no
# statistics, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

PRODUCT = "a1PagePlan"


@pytest.fixture(autouse=True)
def inventory():
    CertificateRecord.objects.bulk_create(
        CertificateRecord(
            product_key=PRODUCT if n % 10 else f"a1Other{n % 3}",
            device_name=f"unit-{n:05d}",
            status=None if n % 50 == 0 else 2,
            not_after=None if n % 50 == 0 else NOW + timedelta(days=n % 900 - 100),
            last_checked=None if n % 50 == 0 else NOW,
            removed_at=NOW if n % 97 == 0 else None,
        )
        for n in range(3000)
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE devices_certificaterecord")
            # Indexes sized by these rows, not by what earlier tests wrote into their pages
            # (``tests.support.databases.query_plan``).
            cursor.execute("REINDEX TABLE devices_certificaterecord")


def _middle_page():
    records = inventory_devices(product_key=PRODUCT, sort="status", now=NOW)
    paged = inventory_status_sorted(records, state="", descending=False, now=NOW)
    return paged[2000:2050]


def test_a_page_deep_in_a_state_skips_over_the_status_sort_index_then_reads_its_rows():
    if connection.vendor == "postgresql":
        # At 3,000 records sorting one state is as cheap as reading it in order: ask which
        # index gives the order (at 100,000 PostgreSQL takes it by itself).
        with connection.cursor() as cursor:
            cursor.execute("SET enable_sort = off")
    try:
        plans = _plans(_middle_page)
    finally:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("RESET enable_sort")
    keys = [plan for sql, plan in plans if "LIMIT 50 OFFSET" in sql]
    assert len(keys) == 1
    assert "certrecord_acct_rank_name" in keys[0], keys[0]
    assert "TEMP B-TREE" not in keys[0], keys[0]
    assert "Sort" not in keys[0], keys[0]
    if connection.vendor == "postgresql":
        assert "Index Only Scan" in keys[0], keys[0]
    rows = [plan for sql, plan in plans if '"id" IN' in sql]
    assert len(rows) == 1
    assert "PRIMARY KEY" in rows[0] or "pkey" in rows[0], rows[0]


def test_the_deep_page_holds_the_same_rows_as_ranking_every_record():
    ranked = list(
        inventory_devices(product_key=PRODUCT, sort="status", now=NOW).values_list(
            "device_name", flat=True
        )[2000:2050]
    )
    assert [record.device_name for record in _middle_page()] == ranked
    assert len(ranked) == 50


def test_the_counts_of_records_not_ready_keep_their_own_index():
    unready, *_ready = _plans(lambda: expiry_counts(inventory_scope(product_key=PRODUCT), now=NOW))
    assert "certrecord_acct_unready_listed" in unready[1], unready[1]


def test_the_chart_reads_each_month_from_its_own_range_only():
    plans = _plans(lambda: expiry_month_counts(inventory_scope(product_key=PRODUCT), now=NOW))
    [(sql, plan)] = plans
    assert "certrecord_acct_ready_listed" in plan
    if connection.vendor == "sqlite":
        # One lower bound per month: not ``now`` as well, which SQLite took as every month's
        # start (24 ranges from now on).
        assert sql.count(">=") == 24, sql


def test_the_chart_counts_what_the_expiry_states_count():
    months = expiry_month_counts(inventory_scope(product_key=PRODUCT), now=NOW, months=36)
    unexpired = (
        inventory_scope(product_key=PRODUCT)
        .filter(expiry_state_q("days_over_90", now=NOW) | expiry_state_q("days_31_90", now=NOW))
        .count()
    )
    soon = sum(
        inventory_scope(product_key=PRODUCT).filter(expiry_state_q(state, now=NOW)).count()
        for state in ("days_0_7", "days_8_30")
    )
    # Every certificate of the fixture expires within 800 days: all are in the 36 months.
    assert sum(months) == unexpired + soon


def test_the_products_of_an_account_are_found_by_index_probes():
    with CaptureQueriesContext(connection) as queries:
        products = inventory_products(account="default", limit=10)
    assert products == [("a1Other0", ""), ("a1Other1", ""), ("a1Other2", ""), (PRODUCT, "")]
    assert "DISTINCT" not in " ".join(query["sql"] for query in queries.captured_queries)
    assert inventory_products(account="default", limit=2) == products[:2]
    assert inventory_products(account="nobody", limit=10) == []


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL's trigram index (0004)")
def test_a_part_of_a_name_is_found_from_the_name_index_not_the_products_records():
    # LIKE alone read every record of the product, for the count and again for the rows.
    def search():
        records = inventory_devices(product_key=PRODUCT, q="unit-0042")
        assert records.count() == 9
        assert len(records[:50]) == 9

    plans = _plans(search)
    assert len(plans) == 2
    for _sql, plan in plans:
        assert "devices_certificaterecord_name_fts" in plan, plan
        assert "certrecord_acct_name_listed" not in plan, plan
        assert "SCAN devices_certificaterecord " not in plan + " ", plan


def test_every_products_chart_and_counts_read_each_notafter_range_of_the_ready_index():
    # With the account filter, SQLite took the account's ready index and read every record of
    # the account for each of the chart's 24 months. The kept counts leave to the records only
    # the part of a day before each edge: still one notAfter range each.
    scope = {"product_key": None, "accounts": ["default"]}
    with timezone.override("Asia/Kolkata"):  # month starts inside a UTC day: a range each
        plans = _plans(lambda: expiry_month_counts_cached(scope=scope, now=NOW))
    plans += _plans(lambda: expiry_counts_cached(scope=scope, now=NOW))
    # (The others find the products, to key the cache on their versions.)
    counts = [(sql, plan) for sql, plan in plans if "not_after" in sql]
    assert len(counts) == 2, plans
    for sql, plan in counts:
        assert "ready_listed" in plan, plan
        assert "certrecord_acct_ready_listed" not in plan, plan
        if connection.vendor == "sqlite":
            searches = [line for line in plan.splitlines() if "SEARCH" in line]
            assert len(searches) == sql.count(" UNION ALL ") + 1, plan
            assert all("certrecord_ready_listed (not_after>" in line for line in searches), plan


@pytest.mark.parametrize("sort", ["days", "-days"])
def test_every_product_by_days_left_reads_its_page_from_the_notafter_index(sort):
    # With the account filter, SQLite took the account's index and sorted all its records.
    records = inventory_devices(product_key=None, accounts=["default"], sort=sort, now=NOW)
    [(_sql, plan)] = _plans(lambda: list(records[:50]))
    if connection.vendor == "sqlite":
        assert "certrecord_not_after" in plan, plan
        assert "TEMP B-TREE FOR ORDER BY" not in plan, plan  # only ties are sorted
    ordered = sorted(
        CertificateRecord.objects.filter(removed_at=None),
        key=lambda record: (
            (record.not_after is None, record.not_after or NOW)
            if sort == "days"
            else (record.not_after is None, -(record.not_after or NOW).timestamp()),
            record.device_name,
            record.product_key,
        ),
    )
    assert [record.pk for record in records[:50]] == [record.pk for record in ordered[:50]]
    assert [record.pk for record in records[2900:]] == [record.pk for record in ordered[2900:]]
