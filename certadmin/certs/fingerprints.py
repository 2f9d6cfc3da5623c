"""Fingerprints: name a certificate or key pair by hash; tell whether a key fits a certificate.

The SubjectPublicKeyInfo hash is the same for a certificate and its private key, so it identifies
the key pair in pages, files and the audit trail without revealing the key.
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization


def colon_hex(data: bytes) -> str:
    """Uppercase hex pairs joined by colons (``AB:CD:…``), as fingerprints and key IDs are shown."""
    return data.hex(":").upper()


def public_key_sha256(obj: object) -> str:
    """Lowercase hex SHA-256 of the SubjectPublicKeyInfo DER of a certificate or key.

    A certificate and its private key give the same value, so it names the key pair without
    revealing it. Raises TypeError for anything else.
    """
    return hashlib.sha256(_spki_der(obj)).hexdigest()


def private_key_matches(cert: x509.Certificate, private_key: object) -> bool:
    """True when ``private_key`` is the private half of the certificate's public key."""
    try:
        return _spki_der(cert) == _spki_der(private_key)
    except (TypeError, ValueError, UnsupportedAlgorithm):
        return False


def _spki_der(obj: object) -> bytes:
    if isinstance(obj, x509.Certificate):
        public_key = obj.public_key()
    elif hasattr(obj, "public_key") and callable(obj.public_key):
        public_key = obj.public_key()  # a private key
    else:
        public_key = obj
    if not hasattr(public_key, "public_bytes"):
        raise TypeError(f"not a certificate or key: {type(obj).__name__}")
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
