"""Findings as CSV rows: one header and one row layout for the fleet page's CSV and
``cert_findings --format csv``."""

from collections.abc import Iterable, Iterator
from datetime import datetime

from certadmin.findings.models import Finding
from certadmin.findings.severity import SEVERITY_NAMES
from certadmin.web.csv_safety import csv_cell

FINDINGS_CSV_HEADER = (
    "severity",
    "code",
    "account",
    "product_key",
    "iot_instance_id",
    "device_name",
    "subject",
    "detail",
    "online",
    "first_seen",
    "last_seen",
    "closed_at",
    "suppressed_until",
)


def finding_state(finding: Finding, *, now: datetime) -> str:
    """ "closed", "suppressed" or "open"."""
    if finding.closed_at is not None:
        return "closed"
    if finding.suppressed_until is not None and finding.suppressed_until > now:
        return "suppressed"
    return "open"


def findings_csv_rows(findings: Iterable[Finding], *, now: datetime) -> Iterator[list[str]]:
    """Each finding's CSV cells (``FINDINGS_CSV_HEADER``), made safe for spreadsheets."""
    for finding in findings:
        suppressed = finding_state(finding, now=now) == "suppressed"
        yield [
            csv_cell(value)
            for value in (
                SEVERITY_NAMES[finding.severity],
                finding.code,
                finding.account,
                finding.product_key,
                finding.iot_instance_id,
                finding.device_name,
                finding.subject,
                finding.detail,
                "yes" if finding.device_online else "no",
                finding.first_seen,
                finding.last_seen,
                finding.closed_at,
                finding.suppressed_until if suppressed else None,
            )
        ]
