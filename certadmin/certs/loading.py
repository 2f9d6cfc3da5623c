"""Load X.509 certificates, private keys and CA bundles from the text the IoT API returns.

The text forms returned by ``QueryDeviceCert`` are not documented, so loading is lenient about
framing (full PEM, headerless base64 DER, any line ends) and strict about content. Error messages
say why loading failed and never echo the input: the key text must not reach a log or a page
through an exception.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

MAX_INPUT_CHARS = 64 * 1024

_PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----",
    re.DOTALL,
)
_BEGIN_CERTIFICATE = "-----BEGIN CERTIFICATE-----"
_END_CERTIFICATE = "-----END CERTIFICATE-----"
_PRIVATE_KEY_LABELS = frozenset({"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"})


class CertificateDecodeError(ValueError):
    """The text is not a usable X.509 certificate; the message says why, never what."""


class PrivateKeyDecodeError(ValueError):
    """The text is not a usable unencrypted private key; the message never includes the text."""


def load_certificate(text: str) -> x509.Certificate:
    """Load one certificate from PEM or headerless base64 DER text.

    With several PEM blocks the first CERTIFICATE block wins. Raises CertificateDecodeError.
    """
    cleaned = _clean_text(text, CertificateDecodeError)
    end = cleaned.find(_END_CERTIFICATE) if cleaned.startswith(_BEGIN_CERTIFICATE) else -1
    if end > 0:
        # The usual text: a CERTIFICATE block first. ``_pem_blocks`` would find the same first
        # block (the text up to the first END line), at a fraction of the regex's cost.
        der = _decode_base64(cleaned[len(_BEGIN_CERTIFICATE) : end], CertificateDecodeError)
    elif "-----BEGIN" in cleaned:
        blocks = [body for label, body in _pem_blocks(cleaned) if label == "CERTIFICATE"]
        if not blocks:
            raise CertificateDecodeError("no CERTIFICATE block in the PEM text")
        der = _decode_base64(blocks[0], CertificateDecodeError)
    else:
        der = _decode_base64(cleaned, CertificateDecodeError)
    return _certificate_from_der(der)


def load_private_key(text: str, *, validate: bool = True) -> PrivateKeyTypes:
    """Load an unencrypted private key from PEM (PKCS#1, PKCS#8, SEC1) or headerless base64 DER.

    ``validate=False`` skips OpenSSL's consistency check of an RSA key (tens of milliseconds):
    only for reading the key's numbers, never for signing with it.
    Raises PrivateKeyDecodeError, whose message never contains the key text.
    """
    cleaned = _clean_text(text, PrivateKeyDecodeError)
    if "-----BEGIN" in cleaned:
        blocks = list(_pem_blocks(cleaned))
        if any(label == "ENCRYPTED PRIVATE KEY" for label, _ in blocks):
            raise PrivateKeyDecodeError("encrypted private keys are not supported")
        keys = [body for label, body in blocks if label in _PRIVATE_KEY_LABELS]
        if not keys:
            raise PrivateKeyDecodeError("no PRIVATE KEY block in the PEM text")
        if "Proc-Type:" in keys[0] or "DEK-Info:" in keys[0]:
            raise PrivateKeyDecodeError("encrypted private keys are not supported")
        der = _decode_base64(keys[0], PrivateKeyDecodeError)
    else:
        der = _decode_base64(cleaned, PrivateKeyDecodeError)
    # load_der_private_key tries PKCS#8 first, then the traditional PKCS#1 / SEC1 forms.
    # Exceptions are not chained: a parser message could in principle quote key bytes.
    try:
        return serialization.load_der_private_key(
            der, password=None, unsafe_skip_rsa_key_validation=not validate
        )
    except TypeError:
        raise PrivateKeyDecodeError("encrypted private keys are not supported") from None
    except UnsupportedAlgorithm:
        raise PrivateKeyDecodeError("unsupported private key algorithm") from None
    except ValueError:
        raise PrivateKeyDecodeError("DER is not a PKCS#8, PKCS#1 or SEC1 private key") from None


def load_ca_bundle(pem_text: str) -> list[x509.Certificate]:
    """Load every CERTIFICATE block of a PEM bundle, ignoring other blocks.

    Empty text gives an empty list; a corrupt CERTIFICATE block raises CertificateDecodeError.
    """
    if not pem_text or not pem_text.strip():
        return []
    cleaned = _clean_text(pem_text, CertificateDecodeError, limit=None)
    certificates = []
    for index, (label, body) in enumerate(_pem_blocks(cleaned), start=1):
        if label != "CERTIFICATE":
            continue
        try:
            certificates.append(_certificate_from_der(_decode_base64(body, CertificateDecodeError)))
        except CertificateDecodeError as exc:
            raise CertificateDecodeError(f"CA bundle block {index}: {exc}") from exc
    return certificates


def _clean_text(text: object, error: type[ValueError], limit: int | None = MAX_INPUT_CHARS) -> str:
    if text is None:
        raise error("empty")
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("ascii")
        except UnicodeDecodeError:
            raise error("not ASCII text") from None
    if not isinstance(text, str):
        raise error(f"expected text, got {type(text).__name__}")
    if limit is not None and len(text) > limit:
        raise error(f"input is larger than {limit // 1024} KiB")
    # JSON that was escaped twice leaves literal "\n"; base64 and PEM never contain a backslash.
    if "\\" in text:
        text = text.replace("\\r", "\r").replace("\\n", "\n")
    cleaned = text.strip()
    if not cleaned:
        raise error("empty")
    if "\r" in cleaned:
        cleaned = cleaned.replace("\r\n", "\n").replace("\r", "\n")
    return cleaned


def _pem_blocks(text: str) -> Iterable[tuple[str, str]]:
    for match in _PEM_BLOCK.finditer(text):
        yield match.group(1), match.group(2)


def _decode_base64(body: str, error: type[ValueError]) -> bytes:
    compact = "".join(body.split())  # str.split's whitespace is the regex \s, in one pass
    if not compact:
        raise error("empty")
    if len(compact) % 4:
        compact += "=" * (-len(compact) % 4)
    try:
        der = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise error("not base64") from None
    if not der:
        raise error("empty")
    return der


def _certificate_from_der(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CertificateDecodeError("DER is not an X.509 certificate") from exc
