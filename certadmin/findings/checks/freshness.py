"""A record not looked up again within the product's freshness bound: what the inventory says
about the device may no longer be true (the syncs stopped, or keep failing)."""

from certadmin.findings.checks.facts import Observed, RecordFacts, RunContext
from certadmin.findings.codes import RECORD_STALE
from certadmin.findings.models import Severity


def freshness_findings(record: RecordFacts, context: RunContext) -> list[Observed]:
    # A device listed but never looked up has no check to be late: a sync is under way.
    # Checked before ``checked_before`` is the same as later than the bound, one comparison.
    if record.last_checked is None or record.last_checked >= context.checked_before:
        return []
    late = context.now - record.last_checked
    return [
        Observed(
            RECORD_STALE,
            Severity.LOW,
            record.device_name,
            detail=f"last checked {record.last_checked.date().isoformat()} ({late.days} days ago)",
        )
    ]
