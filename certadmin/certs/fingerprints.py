"""Fingerprints: name a certificate or key pair by hash; tell whether a key fits a certificate.

The SubjectPublicKeyInfo hash is the same for a certificate and its private key, so it identifies
the key pair in pages, files and the audit trail without revealing the key.
"""

from __future__ import annotations

import hashlib
import math

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


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
    """True when ``private_key`` is the private half of the certificate's public key: the same
    public key and, for RSA, private numbers that belong to it (``rsa_numbers_consistent``).

    This needs no primality test, so an RSA key loaded without OpenSSL's costly validation
    (``load_private_key(..., validate=False)``) is judged as well as a validated one."""
    try:
        if _spki_der(cert) != _spki_der(private_key):
            return False
    except (TypeError, ValueError, UnsupportedAlgorithm):
        return False
    if isinstance(private_key, rsa.RSAPrivateKey):
        return rsa_numbers_consistent(private_key.private_numbers())
    # An EC key's public point is checked against its private value when cryptography loads it.
    return True


def rsa_numbers_consistent(numbers: rsa.RSAPrivateNumbers) -> bool:
    """Whether an RSA key's private numbers fit its public ones: n = p·q, e·d ≡ 1 modulo
    lcm(p−1, q−1), and the CRT values derived from them. A few big-integer operations (tens of
    microseconds), where OpenSSL's key check also proves p and q prime (milliseconds): what a
    key with the certificate's public key but damaged private numbers fails."""
    public = numbers.public_numbers
    p, q, d = numbers.p, numbers.q, numbers.d
    if p < 3 or q < 3 or p * q != public.n:
        return False
    lcm = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    return (
        public.e * d % lcm == 1
        and numbers.dmp1 == d % (p - 1)
        and numbers.dmq1 == d % (q - 1)
        and numbers.iqmp * q % p == 1
    )


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
