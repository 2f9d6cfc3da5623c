"""Check a certificate against the configured CA bundle."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from certadmin.certs.details import aware_utc


@dataclass(frozen=True)
class ChainCheck:
    """Result of checking a certificate against the configured CA bundle."""

    status: str  # "verified" | "unverified" | "invalid"
    issuer: x509.Certificate | None
    reason: str


def check_chain(
    cert: x509.Certificate, ca_certs: Iterable[x509.Certificate], now: datetime
) -> ChainCheck:
    """Check ``cert`` against a CA bundle: issuer present, signature good, both valid at ``now``.

    "unverified" means no CA in the bundle carries the certificate's issuer name; "invalid" means
    one does but the signature or a validity period does not hold.
    """
    now = aware_utc(now)
    candidates = [ca for ca in ca_certs if ca.subject == cert.issuer]
    if not candidates:
        return ChainCheck("unverified", None, "issuer not in the configured CA bundle")
    issuer = next((ca for ca in candidates if _signature_ok(cert, ca)), None)
    if issuer is None:
        return ChainCheck(
            "invalid", candidates[0], "bad signature: not signed by the CA with that name"
        )
    if _is_not_a_ca(issuer):
        return ChainCheck("invalid", issuer, "issuer certificate is not a CA")
    for who, certificate in (("certificate", cert), ("CA certificate", issuer)):
        if now < certificate.not_valid_before_utc:
            return ChainCheck("invalid", issuer, f"{who} not yet valid")
        if now > certificate.not_valid_after_utc:
            return ChainCheck("invalid", issuer, f"{who} expired")
    return ChainCheck("verified", issuer, "signed by a CA in the configured bundle")


# Certificates hash and compare by their DER: the same certificate checked against the same CA
# (every view of a device's page) is verified once per process. A changed CA bundle holds other
# certificates, so it never hits an old answer. Validity periods are still checked per call.
@functools.lru_cache(maxsize=2048)
def _signature_ok(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _is_not_a_ca(cert: x509.Certificate) -> bool:
    # Only an explicit CA:FALSE disqualifies: old v1 roots have no extensions at all.
    try:
        return not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
    except (ValueError, x509.DuplicateExtension):
        return True
