"""A device certificate the configured CA bundle does not vouch for, and a CA of the bundle
close to its own end (every device certificate it issued stops verifying with it)."""

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from cryptography import x509

from certadmin.certs.details import certificate_details, expiry_days_left
from certadmin.findings.checks.facts import Observed, RecordFacts, RunContext
from certadmin.findings.codes import CA_EXPIRING, CHAIN_UNTRUSTED
from certadmin.findings.severity import Severity

# devices.models.ChainStatus, by value: "invalid" (a CA of that name did not sign it, or a period
# does not hold) is worse than "unverified" (no CA in the bundle carries its issuer's name).
CHAIN_SEVERITY = {"invalid": Severity.HIGH, "unverified": Severity.MEDIUM}


def chain_findings(record: RecordFacts, context: RunContext) -> list[Observed]:
    severity = CHAIN_SEVERITY.get(record.chain_status)
    if severity is None or not record.sha256_fingerprint:
        return []
    if record.not_after is not None and record.not_after < context.now:
        # An expired certificate's chain is "invalid" for that alone: cert.expired says it.
        return []
    return [
        Observed(
            CHAIN_UNTRUSTED,
            severity,
            record.device_name,
            detail=f"chain {record.chain_status} against the configured CA bundle",
        )
    ]


def ca_expiring_findings(
    ca_certificates: Iterable[x509.Certificate], *, now: datetime, within_days: int
) -> Iterator[Observed]:
    """The bundle's CA certificates that expire within ``within_days`` (or have expired),
    named by their SHA-256 fingerprint; on no device."""
    for ca in ca_certificates:
        details = certificate_details(ca)
        if details.not_after > now + timedelta(days=within_days):
            continue
        days = expiry_days_left(not_after=details.not_after, now=now)
        date = details.not_after.date().isoformat()
        expired = details.not_after < now
        yield Observed(
            CA_EXPIRING,
            Severity.CRITICAL if expired else Severity.HIGH,
            subject=details.sha256_fingerprint,
            detail=(
                f"{details.subject_text[:120]} expired {date}"
                if expired
                else f"{details.subject_text[:120]} expires {date} ({days} days left)"
            ),
            not_after=details.not_after,
        )
