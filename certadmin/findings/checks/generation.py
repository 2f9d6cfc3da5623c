"""The platform failed to make a device's certificate (status 1), or has been making it
(status 0) for longer than the configured time."""

from certadmin.findings.checks.facts import Observed, RecordFacts, RunContext
from certadmin.findings.codes import CERT_GENERATION_FAILED, CERT_GENERATION_STUCK
from certadmin.findings.severity import Severity

GENERATING = 0
FAILED = 1


def generation_findings(record: RecordFacts, context: RunContext) -> list[Observed]:
    if record.status == FAILED:
        return [
            Observed(
                CERT_GENERATION_FAILED,
                Severity.HIGH,
                record.device_name,
                detail="the platform reports certificate generation failed (status 1)",
            )
        ]
    if record.status == GENERATING:
        since = context.generating_since.get(record.device_name)
        if since is not None and context.now - since >= context.policy.generating_after:
            hours = int((context.now - since).total_seconds() // 3600)
            return [
                Observed(
                    CERT_GENERATION_STUCK,
                    Severity.MEDIUM,
                    record.device_name,
                    detail=f"being generated (status 0) for {hours} hours",
                )
            ]
    return []
