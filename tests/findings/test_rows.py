"""The fleet page's rows, built in Python: each cell as the page showed it, every stored value
escaped."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import translation

from certadmin.findings.models import Finding
from certadmin.findings.rows import finding_rows_html
from certadmin.findings.severity import Severity

NOW = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)


def finding(pk: int, **fields) -> Finding:
    values = {
        "code": "cert.expiring",
        "severity": Severity.LOW,
        "account": "default",
        "product_key": "a1Fleet5kXz",
        "device_name": "line1-unit-00042",
        "first_seen": NOW - timedelta(days=2),
        "last_seen": NOW,
        **fields,
    }
    return Finding(pk=pk, **values)


def rows(findings, **how) -> list[str]:
    how = {"now": NOW, "may_suppress": True, "show_accounts": False, **how}
    return str(finding_rows_html(findings, **how)).split("\n")


@pytest.mark.django_db
def test_each_cell_as_the_page_shows_it():
    online_gateway, suppressed, closed, ca, expired = rows(
        [
            finding(1, device_rank=3, detail="<b>30 days</b>"),
            finding(2, suppressed_until=NOW + timedelta(days=3)),
            finding(3, closed_at=NOW - timedelta(hours=1)),
            finding(4, account="", product_key="", device_name="", subject="CA1"),
            finding(5, code="cert.expired", severity=Severity.CRITICAL),
        ]
    )
    assert '<span class="badge severity-low">low</span>' in online_gateway
    assert '<a href="/devices/a1Fleet5kXz/line1-unit-00042/">line1-unit-00042</a>' in online_gateway
    assert '<span class="badge">online</span> <span class="badge">gateway</span>' in online_gateway
    assert "&lt;b&gt;30 days&lt;/b&gt;" in online_gateway
    assert "<b>" not in online_gateway
    assert '<td>open</td><td><a href="/fleet/suppressions/?finding=1">Suppress</a></td>' in (
        online_gateway
    )
    assert '<td>suppressed until <time datetime="2026-03-18T04:00:00+00:00">' in suppressed
    assert '<td>closed <time datetime="2026-03-15T03:00:00+00:00">' in closed
    assert "?finding=3" not in closed
    assert "<td>CA bundle</td>" in ca
    assert "?finding=" not in ca
    assert "?finding=" not in expired
    assert '<span class="badge severity-critical">critical</span>' in expired


@pytest.mark.django_db
def test_accounts_links_and_language():
    (row,) = rows([finding(1, account="staging")], show_accounts=True, may_suppress=False)
    assert '<a href="/devices/a1Fleet5kXz/line1-unit-00042/?account=staging">' in row
    assert "a1Fleet5kXz · staging</span>" in row
    assert row.endswith("<td>open</td></tr>")
    with translation.override("zh-hans"):
        (chinese,) = rows([finding(1)])
    assert ">low<" not in chinese
