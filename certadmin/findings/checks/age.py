"""A certificate issued longer ago than the configured maximum age: its key has been exposed
that long, whatever its (often 100-year) validity says."""

from certadmin.findings.checks.facts import Observed, RecordFacts, RunContext, ready
from certadmin.findings.codes import CERT_TOO_OLD
from certadmin.findings.severity import Severity


def age_findings(record: RecordFacts, context: RunContext) -> list[Observed]:
    # Issued before ``issued_before`` is the same as older than the maximum age, one comparison.
    issued_before = context.issued_before
    not_before = record.not_before
    if issued_before is None or not_before is None or not_before >= issued_before:
        return []
    if not ready(record):
        return []
    age = context.now - not_before
    return [
        Observed(
            CERT_TOO_OLD,
            Severity.LOW,
            record.device_name,
            detail=f"issued {not_before.date().isoformat()} ({age.days} days ago)",
        )
    ]
