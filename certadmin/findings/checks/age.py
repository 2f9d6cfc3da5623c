"""A certificate issued longer ago than the configured maximum age: its key has been exposed
that long, whatever its (often 100-year) validity says."""

from collections.abc import Iterator

from certadmin.findings.checks.facts import Observed, RecordFacts, RunContext, ready
from certadmin.findings.codes import CERT_TOO_OLD
from certadmin.findings.severity import Severity


def age_findings(record: RecordFacts, context: RunContext) -> Iterator[Observed]:
    max_age = context.policy.max_age
    if max_age is None or not ready(record) or record.not_before is None:
        return
    age = context.now - record.not_before
    if age > max_age:
        yield Observed(
            CERT_TOO_OLD,
            Severity.LOW,
            record.device_name,
            detail=f"issued {record.not_before.date().isoformat()} ({age.days} days ago)",
        )
