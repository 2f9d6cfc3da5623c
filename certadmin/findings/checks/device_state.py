"""A valid certificate on a device that is disabled, or was never activated: a credential
that works for a device nobody uses (a decommissioned or spare device should have none)."""

from certadmin.findings.checks.facts import (
    INACTIVE_STATUSES,
    Observed,
    RecordFacts,
    RunContext,
    ready,
)
from certadmin.findings.codes import CERT_VALID_DEVICE_INACTIVE
from certadmin.findings.severity import Severity


def inactive_device_findings(record: RecordFacts, context: RunContext) -> list[Observed]:
    state = INACTIVE_STATUSES.get(record.device_status)
    if state is None or not ready(record) or record.not_after < context.now:
        return []
    if record.not_before is not None and record.not_before > context.now:
        return []
    # Disabled is the lever an operator pulled on purpose: the certificate outlived it.
    severity = Severity.MEDIUM if record.device_status == "DISABLE" else Severity.LOW
    return [
        Observed(
            CERT_VALID_DEVICE_INACTIVE,
            severity,
            record.device_name,
            detail=f"device {state}, certificate valid until {record.not_after.date().isoformat()}",
        )
    ]
