"""The fleet-health page's queries at scale (issue 24): the same findings as before, a page read
in risk order from ``finding_open_risk`` rather than sorting every open finding, the counts from
``finding_open_counts``, and the list's total taken from the counts."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from certadmin.findings.counts_cache import FindingsPageCache
from certadmin.findings.models import OPEN_Q, Finding, FindingsVersion
from certadmin.findings.runs import findings_statistics_refresh
from certadmin.findings.selectors import (
    findings_counts,
    findings_filtered,
    findings_visible,
    suppressed_q,
)
from tests.support.databases import query_plan

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)


def _finding(n: int, **fields) -> Finding:
    values = {
        "code": ("cert.expired", "cert.expiring", "key.shared")[n % 3],
        "severity": (50, 40, 20)[n % 3],
        "account": "default",
        "product_key": f"a1Plan{n % 4:05d}",
        "device_name": f"unit-{n:05d}",
        "device_rank": n % 2,
        "first_seen": NOW - timedelta(days=n % 30),
        "last_seen": NOW,
    }
    return Finding(**{**values, **fields})


@pytest.fixture
def crafted(viewer):
    """Open, closed and suppressed findings (suppressed until before, exactly at and after
    now), ties in every risk column but the name, the bundle's (no account) and another
    account's."""
    rows = [_finding(n) for n in range(40)]
    rows += [_finding(100 + n, suppressed_until=NOW + timedelta(days=n - 1)) for n in range(3)]
    rows += [_finding(200, suppressed_until=NOW)]  # a suppression ending now has ended
    rows += [_finding(300 + n, closed_at=NOW - timedelta(days=1)) for n in range(3)]
    rows += [_finding(400, closed_at=NOW, suppressed_until=NOW + timedelta(days=3))]
    rows += [_finding(500 + n, device_rank=1, first_seen=NOW, severity=50) for n in range(4)]
    rows += [_finding(600, account="", product_key="", device_name="", subject="CN=CA")]
    rows += [_finding(700, account="elsewhere")]
    Finding.objects.bulk_create(rows)
    return viewer


@pytest.mark.parametrize("state", ["open", "suppressed", "closed", "all"])
def test_the_same_findings_as_before_in_the_same_order(crafted, state):
    visible = findings_visible(user=crafted)
    found = list(findings_filtered(visible, now=NOW, state=state).values_list("pk", flat=True))
    # As the selectors spelled it before: an OR of the accounts, the open ones by exclude().
    before = Finding.objects.filter(
        Q(account__in=[a for a in visible.values_list("account", flat=True).distinct()])
        | Q(account="")
    ).exclude(account="elsewhere")
    if state == "open":
        before = before.filter(OPEN_Q).exclude(suppressed_q(NOW))
    elif state == "suppressed":
        before = before.filter(suppressed_q(NOW))
    elif state == "closed":
        before = before.filter(closed_at__isnull=False)
    expected = list(
        before.order_by(
            "-severity", "-device_rank", "first_seen", "product_key", "device_name", "code"
        ).values_list("pk", flat=True)
    )
    assert found == expected
    assert not Finding.objects.filter(pk__in=found, account="elsewhere").exists()


def test_the_page_total_is_the_sum_of_its_counts(crafted, client_for):
    client = client_for(crafted)
    with CaptureQueriesContext(connection) as queries:
        html = client.get("/fleet/").content.decode()
    open_now = findings_filtered(findings_visible(user=crafted), now=datetime.now(UTC)).count()
    assert f">{open_now} findings</p>" in html
    # (Not the cache key's query, whose subqueries read the newest finding and suppression end.)
    counts = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "findings_finding"' in q["sql"] and "findings_findingsversion" not in q["sql"]
    ]
    assert len(counts) == 2, "the counts per code and one page of rows: no separate COUNT"


def test_with_statistics_a_page_is_read_in_risk_order_and_the_counts_from_one_index(viewer):
    # One account holds every finding, as in most installations: the account filter picks
    # them all, which SQLite only knows from the statistics a run refreshes.
    Finding.objects.bulk_create(_finding(n) for n in range(3000))
    findings_statistics_refresh()
    findings = findings_filtered(findings_visible(user=viewer), now=NOW)
    with CaptureQueriesContext(connection) as queries:
        list(findings[:50])
    rows_plan = query_plan(queries.captured_queries[0]["sql"], reindexed=["findings_finding"])
    assert "finding_open_risk" in rows_plan
    assert "TEMP B-TREE FOR ORDER BY" not in rows_plan
    assert "Sort" not in rows_plan
    if connection.vendor != "sqlite":
        return  # PostgreSQL counts from the index alone once rows are all-visible (a benchmark)
    with CaptureQueriesContext(connection) as queries:
        findings_counts(findings)
    counts_plan = query_plan(queries.captured_queries[0]["sql"], reindexed=["findings_finding"])
    assert "COVERING INDEX finding_open_counts" in counts_plan


def test_the_cache_keys_next_suppression_end_is_read_from_its_index(viewer):
    # As in a fleet: thousands of open findings, a few of them suppressed.
    Finding.objects.bulk_create(
        _finding(n, suppressed_until=NOW + timedelta(days=1 + n % 7) if n % 300 == 0 else None)
        for n in range(3000)
    )
    FindingsVersion.objects.create(account="default", product_key="a1Plan00000", version=1)
    findings_statistics_refresh()
    with CaptureQueriesContext(connection) as queries:
        FindingsPageCache(accounts=["default"], now=NOW)
    (key_sql,) = [q["sql"] for q in queries.captured_queries]
    plan = query_plan(key_sql, reindexed=["findings_finding"])
    assert "finding_suppression_end" in plan, plan
