"""Read the configured CA bundle and check a certificate against it."""

from __future__ import annotations

import os
import re
import stat
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes

from certadmin.certs.details import aware_utc
from certadmin.certs.loading import CertificateDecodeError, load_ca_bundle

# A CA bundle is a few certificates (the system's whole store is about 200 KB).
MAX_CA_BUNDLE_BYTES = 10 * 1024 * 1024
CA_BUNDLE_MISSING = "the file does not exist"
_PRIVATE_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")


def ca_bundle_file_read(path: str) -> tuple[tuple[x509.Certificate, ...], str]:
    """The CA certificates of the PEM file at ``path`` and ``""``, or no certificates and why
    the file cannot serve as a CA bundle.

    The reason says what is wrong (the file does not exist, is a directory or not a regular
    file, cannot be read, is too large, is empty, is not UTF-8, holds a corrupt block, or holds
    no certificate at all, a private key alone included) and never quotes the file's content.
    """
    try:
        # Non-blocking: opening a FIFO for reading would wait for a writer.
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                # A FIFO or a device would block or never end.
                return (), "not a regular file"
            data = file.read(MAX_CA_BUNDLE_BYTES + 1)
    except FileNotFoundError:
        return (), CA_BUNDLE_MISSING
    except IsADirectoryError:
        return (), "a directory, not a file"
    except PermissionError:
        return (), "permission denied (the server cannot read the file)"
    except OSError as error:
        return (), error.strerror or type(error).__name__
    if len(data) > MAX_CA_BUNDLE_BYTES:
        return (), f"larger than {MAX_CA_BUNDLE_BYTES // (1024 * 1024)} MB"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return (), f"not UTF-8 text (byte {error.start})"
    if not text.strip():
        return (), "the file is empty"
    try:
        certificates = tuple(load_ca_bundle(text))
    except CertificateDecodeError as error:
        return (), str(error)
    if not certificates:
        if _PRIVATE_KEY_BEGIN.search(text):
            return (), "no certificate in the file, only a private key (remove it from there)"
        return (), "no certificate in the file (no CERTIFICATE block)"
    return certificates, ""


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
    ca_certs = list(ca_certs)
    if not ca_certs:
        # Unset, unreadable or empty: not the same as "the issuer is not in it".
        return ChainCheck("unverified", None, "no CA certificate configured to check against")
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


# The same certificate checked against the same CA (every view of a device's page) is verified
# once per process: the answers of the last SIGNATURE_CHECKS_KEPT checks, by the SHA-256 of both
# certificates' DER. A changed CA bundle holds other certificates, so it never hits an old
# answer. Validity periods are still checked per call. Kept by digest, not by certificate: a
# sync checks each device's certificate once, and a cache holding the certificates themselves
# grew a task worker by about 2.7 KiB a device until it was full (issue 21 item 6: 5.5 MiB for
# 2,500 certificates checked, 0.4 MiB by digest).
SIGNATURE_CHECKS_KEPT = 2048
_signature_checks: OrderedDict[tuple[bytes, bytes], bool] = OrderedDict()
_signature_checks_lock = threading.Lock()


def _signature_ok(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    key = (cert.fingerprint(hashes.SHA256()), issuer.fingerprint(hashes.SHA256()))
    with _signature_checks_lock:
        known = _signature_checks.get(key)
        if known is not None:
            _signature_checks.move_to_end(key)
            return known
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        verified = False
    else:
        verified = True
    with _signature_checks_lock:
        _signature_checks[key] = verified
        while len(_signature_checks) > SIGNATURE_CHECKS_KEPT:
            _signature_checks.popitem(last=False)
    return verified


def _is_not_a_ca(cert: x509.Certificate) -> bool:
    # Only an explicit CA:FALSE disqualifies: old v1 roots have no extensions at all.
    try:
        return not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
    except (ValueError, x509.DuplicateExtension):
        return True
