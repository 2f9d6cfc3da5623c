"""Expired, expired while the device is online, and expiring within the configured windows.

The windows follow the expiry overview (``devices.expiry``): a certificate is expired once now
is past its notAfter, and within a window of W days while its notAfter is at most W days ahead.
Days left are counted by the one rule, ``expiry_days_left``.
"""

from datetime import timedelta

from certadmin.certs.details import expiry_days_left
from certadmin.findings.checks.facts import Observed, RecordFacts, RunContext, ready
from certadmin.findings.codes import CERT_EXPIRED, CERT_EXPIRED_DEVICE_ONLINE, CERT_EXPIRING
from certadmin.findings.device_ranks import ONLINE
from certadmin.findings.severity import Severity


def window_severity(days: int) -> Severity:
    """How severe reaching a window of ``days`` is: the tighter, the worse."""
    if days <= 1:
        return Severity.CRITICAL
    if days <= 7:
        return Severity.HIGH
    if days <= 14:
        return Severity.MEDIUM
    return Severity.LOW


def expiry_findings(record: RecordFacts, context: RunContext) -> list[Observed]:
    not_after = record.not_after
    # Most certificates are in no window: one comparison says so.
    if not_after is None or not_after > context.expiring_until or not ready(record):
        return []
    now = context.now
    date = not_after.date().isoformat()
    if not_after < now:
        days = expiry_days_left(not_after=not_after, now=now)
        detail = f"expired {date} ({-days} days ago)"
        found = [
            Observed(
                CERT_EXPIRED,
                Severity.CRITICAL,
                record.device_name,
                detail=detail,
                not_after=not_after,
            )
        ]
        if record.device_status == ONLINE:
            found.append(
                Observed(
                    CERT_EXPIRED_DEVICE_ONLINE,
                    Severity.CRITICAL,
                    record.device_name,
                    detail=detail,
                    not_after=not_after,
                )
            )
        return found
    # The tightest window reached: one finding per device, its severity rising as it tightens.
    reached = [w for w in context.policy.expiring_windows if not_after <= now + timedelta(days=w)]
    if not reached:
        return []
    window = min(reached)
    return [
        Observed(
            CERT_EXPIRING,
            window_severity(window),
            record.device_name,
            detail=f"expires {date} (within {window} days)",
            window_days=window,
            not_after=not_after,
        )
    ]
