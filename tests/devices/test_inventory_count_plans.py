"""The counts the inventory pages make (the expiry overview's counts and chart when a device filter
narrows them; a product's coverage and the schedules' freshness, read from the kept counts, and
their probes of the records) are answered from an index alone: nothing in them needs a row of
the table (issue 24: at 100,000 records PostgreSQL visited every row for ``removed_at``, 50-60
ms per count after each write)."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from certadmin.devices.expiry import expiry_counts
from certadmin.devices.expiry_chart import expiry_month_counts
from certadmin.devices.models import CertificateRecord
from certadmin.devices.selectors import inventory_scope, product_coverage
from certadmin.schedules.selectors import schedule_rows
from tests.devices.test_expiry import NOW

# Committed rows: PostgreSQL's VACUUM (outside a transaction) marks them all-visible, as
# autovacuum leaves a table, so the plans are those of a real inventory.
pytestmark = pytest.mark.django_db(transaction=True)

PRODUCT = "a1CountPlan"


@pytest.fixture(autouse=True)
def inventory():
    CertificateRecord.objects.bulk_create(
        CertificateRecord(
            product_key=PRODUCT,
            device_name=f"unit-{n:05d}",
            status=None if n % 50 == 0 else 2,
            not_after=None if n % 50 == 0 else NOW + timedelta(days=n % 900 - 100),
            last_checked=None if n % 50 == 0 else NOW,
            listed_at=NOW,
            removed_at=NOW if n % 97 == 0 else None,
        )
        for n in range(3000)
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE devices_certificaterecord")  # as autovacuum would


def _plans(run) -> list[tuple[str, str]]:
    """(SQL, plan) of each query ``run()`` makes; on PostgreSQL planned with sequential scans
    off, so the plan says which index can answer (``Index Only Scan``: that index alone)."""
    with CaptureQueriesContext(connection) as queries:
        run()
    explained = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("SET enable_bitmapscan = off")
        for query in queries.captured_queries:
            sql = query["sql"]
            if "devices_certificaterecord" not in sql:
                continue
            prefix = "EXPLAIN " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
            cursor.execute(prefix + sql)
            explained.append((sql, "\n".join(str(row) for row in cursor.fetchall())))
        if connection.vendor == "postgresql":
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_bitmapscan")
    return explained


def _answered_from_index_alone(plan: str) -> bool:
    if connection.vendor == "postgresql":
        return "Index Only Scan" in plan and "Seq Scan" not in plan
    searches = [line for line in plan.splitlines() if "devices_certificaterecord" in line]
    return bool(searches) and all("COVERING INDEX" in line for line in searches)


def test_expiry_counts_of_ready_certificates_come_from_the_listed_ready_index_alone():
    scope = inventory_scope(product_key=PRODUCT)
    plans = _plans(lambda: expiry_counts(scope, now=NOW))
    assert len(plans) == 3
    unready, windows, ready = plans
    assert "certrecord_acct_unready_listed" in unready[1]
    for _sql, plan in (windows, ready):
        assert "certrecord_acct_ready_listed" in plan
        assert _answered_from_index_alone(plan), plan


def test_the_chart_counts_from_the_listed_ready_index_alone():
    scope = inventory_scope(product_key=PRODUCT)
    [(_sql, plan)] = _plans(lambda: expiry_month_counts(scope, now=NOW))
    assert "certrecord_acct_ready_listed" in plan
    assert _answered_from_index_alone(plan), plan


def test_every_products_counts_use_the_listed_ready_index_with_the_account():
    scope = inventory_scope(product_key=None, accounts=["default"])
    plans = _plans(lambda: expiry_counts(scope, now=NOW))
    for _sql, plan in plans[1:]:
        assert "ready_listed" in plan  # with or without the product in front
        assert _answered_from_index_alone(plan), plan


def _probes_answered_from_index_alone(plan: str) -> bool:
    """The records' part of a plan that also reads the kept counts (``devices.kept_counts``):
    every probe of the records from an index alone (SQLite names them by index, aliased)."""
    if connection.vendor == "postgresql":
        return "Index Only Scan" in plan and "Seq Scan" not in plan
    probes = [line for line in plan.splitlines() if "certrecord_" in line]
    return bool(probes) and all("COVERING INDEX" in line for line in probes)


def test_a_products_coverage_is_read_from_the_kept_counts_and_index_probes():
    plans = _plans(lambda: product_coverage(product_key=PRODUCT))
    assert len(plans) == 1
    [(sql, plan)] = plans
    assert "devices_productcounts" in sql
    assert _probes_answered_from_index_alone(plan), plan
    coverage = product_coverage(product_key=PRODUCT)
    removed = len(range(0, 3000, 97))
    assert (coverage.listed, coverage.removed) == (3000 - removed, removed)
    assert coverage.synced == len([n for n in range(3000) if n % 50 and n % 97])


@pytest.mark.parametrize("own_bound", [False, True])
def test_the_schedules_freshness_is_one_query_of_the_kept_counts_and_index_probes(
    settings, own_bound
):
    if own_bound:
        settings.SYNC_RECHECK_DAYS_PER_PRODUCT = {("default", PRODUCT): 3}
    viewer = get_user_model().objects.create_superuser("plans", password=None)
    # Every product's coverage and stale count, whatever freshness bounds are in force.
    [(sql, plan)] = _plans(lambda: schedule_rows(user=viewer, now=NOW))
    assert "devices_productcounts" in sql
    assert "certrecord_acct_coverage" in plan
    assert _probes_answered_from_index_alone(plan), plan
