"""Weak keys and signatures, and one key pair on more than one device."""

from certadmin.findings.checks.facts import Observed, RecordFacts, RunContext
from certadmin.findings.codes import KEY_SHARED, KEY_WEAK
from certadmin.findings.severity import Severity

RSA_MIN_BITS = 2048
EC_MIN_BITS = 256
WEAK_HASHES = frozenset({"sha1", "md5", "md2", "md4"})


def weak_key_problem(*, algorithm: str, size: int | None, curve: str) -> str:
    """Why a key is too weak ("" when it is not): RSA under 2048 bits, an EC curve under
    P-256's 256 bits, DSA (no longer allowed for new signatures)."""
    if algorithm == "RSA" and size is not None and size < RSA_MIN_BITS:
        return f"RSA {size} bits (at least {RSA_MIN_BITS})"
    if algorithm == "EC" and size is not None and size < EC_MIN_BITS:
        return f"EC {curve or '?'} ({size} bits, at least P-256)"
    if algorithm == "DSA":
        return f"DSA {size or '?'} bits"
    return ""


def weak_key_findings(record: RecordFacts, context: RunContext) -> list[Observed]:
    if not record.sha256_fingerprint:
        return []
    found = []
    problem = weak_key_problem(
        algorithm=record.key_algorithm, size=record.key_size, curve=record.key_curve
    )
    if problem:
        found.append(
            Observed(KEY_WEAK, Severity.HIGH, record.device_name, subject="key", detail=problem)
        )
    if record.signature_hash in WEAK_HASHES:
        found.append(
            Observed(
                KEY_WEAK,
                Severity.HIGH,
                record.device_name,
                subject="signature",
                detail=f"signed with {record.signature_hash.upper()}",
            )
        )
    return found


def shared_key_findings(record: RecordFacts, context: RunContext) -> list[Observed]:
    devices = context.shared_keys.get(record.public_key_sha256) if record.public_key_sha256 else 0
    if not devices:
        return []
    return [
        Observed(
            KEY_SHARED,
            Severity.HIGH,
            record.device_name,
            subject=record.public_key_sha256,
            detail=f"the same public key is on {devices} devices",
        )
    ]
