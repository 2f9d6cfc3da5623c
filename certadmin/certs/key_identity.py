"""Name a key pair from whatever someone pastes: a certificate, a public key or a private key.

An auditor asking "who has seen this key?" holds the key or the certificate in some encoding.
``key_identity_parse`` reads it and keeps only what names the key pair: the SHA-256 of its
SubjectPublicKeyInfo DER (``fingerprints.public_key_sha256``, as the inventory and the audit
trail record it) and, for a certificate, the certificate's SHA-256 fingerprint. A private key is
read only to derive its public half; neither the text nor the key object leaves this module.

Accepted: PEM (CERTIFICATE, TRUSTED CERTIFICATE, CERTIFICATE REQUEST, PUBLIC KEY, RSA PUBLIC
KEY, PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY, OPENSSH PRIVATE KEY; the first of them in the
text wins), DER as base64 (with or without line breaks, standard or URL-safe alphabet) or as hex
(any case, separators such as ``:`` or spaces ignored), and an OpenSSH public key line. An
encrypted private key is refused: it would need its passphrase, which must not be typed here.
Error messages say what was wrong, never what was pasted.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from certadmin.certs.fingerprints import colon_hex, public_key_sha256
from certadmin.certs.loading import MAX_INPUT_CHARS

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_SSH_PUBLIC = re.compile(r"^(ssh-(rsa|ed25519|ed448|dss)|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+")
_HEX_SEPARATORS = re.compile(r"[\s:.\-]+")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/_\-]+=*$")

# What each PEM label holds: (kind, form).
_PEM_LABELS = {
    "CERTIFICATE": ("certificate", "X.509"),
    "X509 CERTIFICATE": ("certificate", "X.509"),
    "TRUSTED CERTIFICATE": ("certificate", "X.509"),
    "CERTIFICATE REQUEST": ("certificate request", "PKCS#10"),
    "NEW CERTIFICATE REQUEST": ("certificate request", "PKCS#10"),
    "PUBLIC KEY": ("public key", "SPKI"),
    "RSA PUBLIC KEY": ("public key", "PKCS#1"),
    "PRIVATE KEY": ("private key", "PKCS#8"),
    "RSA PRIVATE KEY": ("private key", "PKCS#1"),
    "EC PRIVATE KEY": ("private key", "SEC1"),
    "OPENSSH PRIVATE KEY": ("private key", ""),
}
_ENCRYPTED_LABELS = frozenset({"ENCRYPTED PRIVATE KEY"})


class KeyInputError(ValueError):
    """The text names no key pair. ``code`` says why (``empty``, ``too_large``, ``encrypted``,
    ``unrecognised``); the message never contains the text."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class KeyIdentity:
    """What a pasted text names, and nothing of the text itself.

    ``kind``: "certificate", "certificate request", "public key" or "private key";
    ``encoding``: "PEM", "base64 DER", "hex DER" or "OpenSSH"; ``form``: "X.509", "SPKI",
    "PKCS#1", "PKCS#8", "SEC1", "OpenSSH", "PKCS#10", or "" where DER does not say;
    ``public_key_sha256``: lowercase hex SHA-256 of the SubjectPublicKeyInfo DER;
    ``certificate_sha256``: a certificate's SHA-256 fingerprint as colon-separated upper-case
    hex (as the certificate page and the audit trail show it), "" for anything else;
    ``algorithm``: the key's algorithm and size ("RSA 2048", "EC secp256r1", "Ed25519")."""

    kind: str
    encoding: str
    form: str
    public_key_sha256: str
    certificate_sha256: str
    algorithm: str

    @property
    def description(self) -> str:
        """``private key (PKCS#8, PEM)``: the kind and how it was written, in English."""
        how = ", ".join(part for part in (self.form, self.encoding) if part)
        return f"{self.kind} ({how})"


def key_identity_parse(text: str) -> KeyIdentity:
    """The key pair ``text`` names (see the module). Raises ``KeyInputError``."""
    if not isinstance(text, str) or not text.strip():
        raise KeyInputError("empty", "nothing was pasted")
    if len(text) > MAX_INPUT_CHARS:
        raise KeyInputError("too_large", f"the text is larger than {MAX_INPUT_CHARS // 1024} KiB")
    # JSON escaped twice leaves literal "\n"; no accepted encoding holds a backslash.
    cleaned = text.replace("\\r", "\r").replace("\\n", "\n").strip()
    if "-----BEGIN" in cleaned:
        return _from_pem(cleaned)
    if _SSH_PUBLIC.match(cleaned):
        return _from_ssh(cleaned)
    return _from_der_text(cleaned)


def _from_pem(text: str) -> KeyIdentity:
    for label, body in _PEM_BLOCK.findall(text):
        if label in _ENCRYPTED_LABELS or (
            label in _PEM_LABELS and ("Proc-Type:" in body or "DEK-Info:" in body)
        ):
            raise _encrypted()
        if label not in _PEM_LABELS:
            continue
        kind, form = _PEM_LABELS[label]
        der = _base64_decode("".join(body.split()))
        if der is None:
            raise KeyInputError("unrecognised", f"the {label} block is not base64")
        if label == "OPENSSH PRIVATE KEY":
            return _identity(kind, "OpenSSH", "", _ssh_private_key(text))
        if label == "TRUSTED CERTIFICATE":
            # OpenSSL's trusted form: the certificate's DER, then its trust settings.
            der = der[: _der_length(der)]
        parsed = _der_parse(der, only=kind)
        if parsed is None:
            raise KeyInputError("unrecognised", f"the {label} block cannot be read as one")
        return _identity(kind, "PEM", form, parsed[1])
    raise KeyInputError(
        "unrecognised",
        "the PEM text holds no certificate, certificate request, public or private key block",
    )


def _from_ssh(text: str) -> KeyIdentity:
    try:
        key = serialization.load_ssh_public_key(text.split("\n", 1)[0].strip().encode())
    except (ValueError, UnsupportedAlgorithm):
        raise KeyInputError("unrecognised", "the OpenSSH public key cannot be read") from None
    return _identity("public key", "OpenSSH", "", key)


def _from_der_text(text: str) -> KeyIdentity:
    candidates: list[tuple[str, bytes]] = []
    compact_hex = _HEX_SEPARATORS.sub("", text)
    if _HEX.match(compact_hex) and len(compact_hex) % 2 == 0:
        candidates.append(("hex DER", bytes.fromhex(compact_hex)))
    compact = "".join(text.split())
    if _BASE64.match(compact):
        der = _base64_decode(compact)
        if der is not None:
            candidates.append(("base64 DER", der))
    for encoding, der in candidates:
        if _encrypted_private_key_info(der):
            raise _encrypted()
        parsed = _der_parse(der)
        if parsed is not None:
            kind, obj = parsed
            return _identity(kind, encoding, "", obj)
    raise KeyInputError(
        "unrecognised",
        "the text is not a certificate, a certificate request, a public key or a private key "
        "in PEM, DER (base64 or hex) or OpenSSH form",
    )


def _encrypted() -> KeyInputError:
    return KeyInputError(
        "encrypted",
        "the private key is encrypted: paste its certificate or public key instead "
        "(never a passphrase)",
    )


# The DER of the OID arcs under which PKCS#8's EncryptedPrivateKeyInfo names its scheme: PKCS#5
# (1.2.840.113549.1.5: PBES1, PBES2) and PKCS#12's PBE (1.2.840.113549.1.12.1).
_ENCRYPTION_OID_PREFIXES = (
    bytes.fromhex("2a864886f70d0105"),
    bytes.fromhex("2a864886f70d010c01"),
)


def _encrypted_private_key_info(der: bytes) -> bool:
    """Whether DER starts as PKCS#8's EncryptedPrivateKeyInfo: a SEQUENCE whose first element,
    the encryption algorithm, names a password-based scheme (within its first bytes)."""
    head = der[:24]
    return head[:1] == b"\x30" and any(prefix in head for prefix in _ENCRYPTION_OID_PREFIXES)


def _base64_decode(compact: str) -> bytes | None:
    if not compact:
        return None
    padded = compact.rstrip("=")
    padded += "=" * (-len(padded) % 4)
    alphabet = b"-_" if ("-" in compact or "_" in compact) else None
    try:
        der = base64.b64decode(padded, altchars=alphabet, validate=True)
    except (binascii.Error, ValueError):
        return None
    return der or None


def _der_length(der: bytes) -> int:
    """The length of the first DER element (tag, length and content), or of all of ``der``
    when its length cannot be read."""
    if len(der) < 2:
        return len(der)
    first = der[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or len(der) < 2 + count:
        return len(der)
    return 2 + count + int.from_bytes(der[2 : 2 + count], "big")


def _der_parse(der: bytes, *, only: str = ""):
    """``(kind, object)`` for DER that is one of the kinds (``only`` that kind), or None.
    Raises ``KeyInputError`` for an encrypted private key."""
    readers = [
        ("certificate", x509.load_der_x509_certificate),
        ("public key", serialization.load_der_public_key),
        ("private key", _private_key_der),
        ("certificate request", x509.load_der_x509_csr),
    ]
    for kind, read in readers:
        if only and kind != only:
            continue
        try:
            return kind, read(der)
        except (ValueError, UnsupportedAlgorithm):
            continue
    return None


def _private_key_der(der: bytes):
    try:
        return serialization.load_der_private_key(der, password=None)
    except TypeError:
        # Encrypted (PKCS#8 EncryptedPrivateKeyInfo): it asks for a password.
        raise _encrypted() from None


def _ssh_private_key(text: str):
    try:
        return serialization.load_ssh_private_key(text.encode(), password=None)
    except TypeError:
        raise _encrypted() from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyInputError("unrecognised", "the OpenSSH private key cannot be read") from None


def _identity(kind: str, encoding: str, form: str, obj) -> KeyIdentity:
    """The identity of ``obj`` (a certificate, request, public or private key)."""
    certificate_sha256 = ""
    if isinstance(obj, x509.Certificate):
        certificate_sha256 = colon_hex(obj.fingerprint(hashes.SHA256()))
        public_key = obj.public_key()
    elif isinstance(obj, x509.CertificateSigningRequest):
        public_key = obj.public_key()
    elif hasattr(obj, "public_bytes"):
        public_key = obj
    else:
        public_key = obj.public_key()  # a private key: only its public half is kept
    try:
        spki_sha256 = public_key_sha256(public_key)
    except (TypeError, ValueError, UnsupportedAlgorithm):
        raise KeyInputError("unrecognised", "the key's algorithm is not supported") from None
    return KeyIdentity(
        kind=kind,
        encoding=encoding,
        form=form,
        public_key_sha256=spki_sha256,
        certificate_sha256=certificate_sha256,
        algorithm=_algorithm(public_key),
    )


def _algorithm(public_key) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC {public_key.curve.name}"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(public_key, dsa.DSAPublicKey):
        return f"DSA {public_key.key_size}"
    return type(public_key).__name__
