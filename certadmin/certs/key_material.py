"""Recognise a device's private key inside the other things the platform sends with it.

``QueryDeviceCert`` returns the private key with every certificate, so whenever certadmin reads
the platform's answer it holds the key and can tell whether another field carries it: a CertSN
that is the private scalar in hex, a certificate whose subject, OU attributes or an unknown
extension hold the key's DER. Such a field is withheld (``WITHHELD``): never shown, stored,
exported or written to the audit trail.

A matcher is built once per answer from the key (``key_material_matcher``) and answers, for any
text or bytes, whether it holds key material: a run of at least ``MIN_SECRET_BYTES`` bytes of one
of the key's secret values (RSA d, p, q, dP, dQ, qInv; the EC or DSA private value; the raw
Ed25519, Ed448, X25519 or X448 key), in any of these encodings:

- raw bytes (the DER inside an extension value);
- hex, either case or mixed, with or without leading zeros and with any separators (``:``,
  spaces, dashes): every character that is not a hex digit is ignored;
- base64, standard or URL-safe, at any byte alignment, with or without line breaks and padding:
  a PEM body or the base64 DER of a PKCS#8, PKCS#1 or SEC1 key holds these runs;
- decimal, of a secret value (separators ignored).

The public half of the key (modulus, public exponent, public point) is not key material: the
certificate carries it. The run lengths (96 bits each) keep ordinary values (serials,
fingerprints, another key's CertSN) from matching by chance. A key split into pieces shorter than
that, scattered out of order, is not recognised; pieces in consecutive attributes of one name
are (their values are also read joined).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from certadmin.certs.der import certificate_name_ders, raw_extensions, tbs_public_key_info
from certadmin.certs.details import gettext_noop
from certadmin.certs.fingerprints import colon_hex
from certadmin.certs.loading import (
    MAX_INPUT_CHARS,
    CertificateDecodeError,
    PrivateKeyDecodeError,
    load_certificate,
    load_private_key,
)

# What stands in for a withheld value wherever the value would have gone (a page, the inventory,
# an export, an audit row). Not an identifier's shape, so no real value can be mistaken for it.
WITHHELD = "[withheld: private key material]"

# The shortest run of a secret that counts, in bytes (96 bits), and the same run in each
# encoding: 24 hex digits, 16 base64 characters, 29 decimal digits (10^29 > 2^96).
MIN_SECRET_BYTES = 12
_HEX_RUN = 2 * MIN_SECRET_BYTES
_BASE64_RUN = 4 * MIN_SECRET_BYTES // 3
_DECIMAL_RUN = 29
# The matcher keeps every _STRIDE-th window of each encoded secret, each _STRIDE - 1 shorter
# than the run: a run anywhere in a value holds one of them whole. A quarter of the windows
# to build per answer, for the same guarantee (each window is still 72+ bits).
_STRIDE = 4

_NOT_HEX = re.compile(r"[^0-9a-f]+")
_NOT_DIGIT = re.compile(r"[^0-9]+")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]+")
_PEM_LINE = re.compile(r"-----[A-Z0-9 ]+-----")


@dataclass(frozen=True)
class WithheldCertificate:
    """A certificate that carries its device's private key, known only by where the key is in
    it (``KeyMaterialMatcher.certificate_parts``) and its SHA-256 fingerprint (a hash of its
    DER, which reveals nothing)."""

    parts: tuple[str, ...]
    sha256_fingerprint: str


# Where in a certificate key material was found (``certificate_parts``), besides
# "extension <OID>"; the page translates them.
SERIAL_NUMBER = gettext_noop("serial number")
ISSUER = gettext_noop("issuer")
SUBJECT = gettext_noop("subject")
PUBLIC_KEY = gettext_noop("public key")
SIGNATURE = gettext_noop("signature")
WHOLE_CERTIFICATE = gettext_noop("certificate")


def is_withheld(text: str) -> bool:
    """Whether ``text`` is the ``WITHHELD`` marker (a value that carried key material)."""
    return text == WITHHELD


def _slices(text: Sized, size: int, stride: int = 1) -> Iterator[slice]:
    # Every ``size``-long slice of ``text`` starting at a multiple of ``stride``, as slice
    # objects built in C: this runs over every byte of every answer's certificate.
    starts = range(0, len(text) - size + 1, stride)
    return map(slice, starts, range(size, len(text) + 1, stride))


def _windows[T: (str, bytes)](values: Iterable[T], run: int) -> frozenset[T]:
    size = run - _STRIDE + 1
    return frozenset(
        itertools.chain.from_iterable(
            map(value.__getitem__, _slices(value, size, _STRIDE)) for value in values
        )
    )


def _found(text: str | bytes, run: int, windows: frozenset) -> bool:
    if not windows or len(text) < run:
        return False
    return not windows.isdisjoint(map(text.__getitem__, _slices(text, run - _STRIDE + 1)))


def _url_safe_as_standard(text: str) -> str:
    return text.replace("-", "+").replace("_", "/")


def _decimal(number: int) -> str:
    # str() refuses numbers over 4300 digits (a 4096-bit key's DER read as one number).
    try:
        return str(number)
    except ValueError:
        high, low = divmod(number, 10**4000)
        return _decimal(high) + str(low).zfill(4000)


def _int_bytes(number: int) -> bytes:
    return number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big")


def _base64_runs(secret: bytes) -> list[str]:
    # The base64 of a longer text (a DER, a PEM body) that holds ``secret`` at any offset: the
    # characters that encode only secret bytes are those of base64(secret[m:]) for the offset
    # m in 0..2 that lines the secret up with that text's 3-byte groups, less the last
    # character when it also encodes padding.
    runs = []
    for start in range(3):
        tail = secret[start:]
        text = base64.b64encode(tail).decode("ascii").rstrip("=")
        runs.append(text[:-1] if len(tail) % 3 else text)
    return runs


def _secrets(key: PrivateKeyTypes) -> list[int | bytes]:
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        return [numbers.d, numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return [key.private_numbers().private_value]
    if isinstance(key, dsa.DSAPrivateKey):
        return [key.private_numbers().x]
    if isinstance(
        key,
        ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey
        | x25519.X25519PrivateKey
        | x448.X448PrivateKey,
    ):
        return [key.private_bytes_raw()]
    return []


class KeyMaterialMatcher:
    """Whether a value holds one device's private key material (see the module docstring).

    Holds runs of the key's secret values: keep it for one answer, like the key itself.
    """

    __slots__ = ("_base64", "_decimal", "_hex", "_raw")

    def __init__(
        self,
        *,
        secrets: Iterable[bytes] = (),
        numbers: Iterable[int] = (),
        base64_texts: Iterable[str] = (),
    ) -> None:
        secrets = [secret for secret in secrets if len(secret) >= MIN_SECRET_BYTES]
        self._raw = _windows(secrets, MIN_SECRET_BYTES)
        self._hex = _windows([secret.hex() for secret in secrets], _HEX_RUN)
        runs = [run for secret in secrets for run in _base64_runs(secret)]
        self._base64 = _windows([*runs, *base64_texts], _BASE64_RUN)
        self._decimal = _windows([_decimal(number) for number in numbers], _DECIMAL_RUN)

    def __repr__(self) -> str:
        return f"KeyMaterialMatcher(active={self.active})"

    @property
    def active(self) -> bool:
        """Whether there is a key to look for (False: nothing ever matches)."""
        return bool(self._raw or self._base64)

    def found_in(self, value: str | bytes) -> bool:
        """Whether ``value`` (text, or bytes such as a DER) holds key material in any of the
        encodings the module docstring lists."""
        if not self.active or not value:
            return False
        if isinstance(value, bytes | bytearray):
            raw = [bytes(value)]
            text = bytes(value).decode("latin-1")
        else:
            text = value
            raw = [value.encode("utf-8", "surrogatepass")]
            if not value.isascii():
                raw.append(value.encode("latin-1", "ignore"))
        if any(_found(data, MIN_SECRET_BYTES, self._raw) for data in raw):
            return True
        # Look-alikes (fullwidth digits, compatibility forms) count as what they look like.
        text = unicodedata.normalize("NFKC", text)
        return (
            _found(_NOT_HEX.sub("", text.lower()), _HEX_RUN, self._hex)
            or _found(_NOT_BASE64.sub("", _url_safe_as_standard(text)), _BASE64_RUN, self._base64)
            or _found(_NOT_DIGIT.sub("", text), _DECIMAL_RUN, self._decimal)
        )

    def withheld(self, value: str) -> str:
        """``WITHHELD`` when ``value`` holds key material, else ``value`` unchanged."""
        return WITHHELD if self.found_in(value) else value

    def certificate_parts(self, certificate: x509.Certificate) -> tuple[str, ...]:
        """Where in ``certificate`` key material is, in English: "serial number", "issuer",
        "subject", "public key", "extension <OID>", "signature", or "certificate" when only
        the whole DER shows it; empty when nowhere. Every byte of the DER is read, and the
        text values of each name also joined (a key split across several OU attributes)."""
        if not self.active:
            return ()
        der = certificate.public_bytes(serialization.Encoding.DER)
        name_values = _name_values(certificate)
        if not self.found_in(der) and not any(self.found_in(v) for v in name_values.values()):
            return ()
        parts = []
        serial = abs(certificate.serial_number)
        if self.found_in(_int_bytes(serial)) or self.found_in(_decimal(serial)):
            parts.append(SERIAL_NUMBER)
        names = certificate_name_ders(der) or (b"", b"")
        for label, name_der in zip((ISSUER, SUBJECT), names, strict=True):
            if self.found_in(name_der) or self.found_in(name_values[label]):
                parts.append(label)
        if not {ISSUER, SUBJECT} & set(parts) and self.found_in(name_values["names"]):
            parts += [ISSUER, SUBJECT]
        if self.found_in(tbs_public_key_info(certificate) or b""):
            parts.append(PUBLIC_KEY)
        parts += [
            f"extension {ext.oid}"
            for ext in raw_extensions(certificate)
            if self.found_in(ext.value)
        ]
        if self.found_in(certificate.signature):
            parts.append(SIGNATURE)
        return tuple(parts) or (WHOLE_CERTIFICATE,)


def _name_values(certificate: x509.Certificate) -> dict[str, str]:
    # Each name's text values joined in order, and both names' together: a key cut into pieces
    # shorter than a run, one per attribute, is whole again here.
    joined = {}
    for label, name in (
        (ISSUER, lambda: certificate.issuer),
        (SUBJECT, lambda: certificate.subject),
    ):
        try:
            joined[label] = "".join(
                attribute.value for attribute in name() if isinstance(attribute.value, str)
            )
        except ValueError:  # a name cryptography will not decode: its DER is still read
            joined[label] = ""
    joined["names"] = joined[ISSUER] + joined[SUBJECT]
    return joined


def key_material_matcher(
    *, private_key: PrivateKeyTypes | None = None, private_key_text: str = ""
) -> KeyMaterialMatcher:
    """The matcher for one device's key: ``private_key`` (a cryptography key), or else
    ``private_key_text`` as the platform sent it (PEM or bare base64 DER, PKCS#8, PKCS#1 or
    SEC1). A text that is not a readable key still has its own base64 body recognised; no key
    at all gives a matcher that never matches."""
    if private_key is None and private_key_text:
        try:
            # Only the numbers are read: the costly RSA consistency check is not needed.
            private_key = load_private_key(private_key_text, validate=False)
        except PrivateKeyDecodeError:
            return KeyMaterialMatcher(base64_texts=[_base64_body(private_key_text)])
    if private_key is None:
        return KeyMaterialMatcher()
    values = _secrets(private_key)
    secrets = [v if isinstance(v, bytes) else _int_bytes(v) for v in values]
    numbers = [v if isinstance(v, int) else int.from_bytes(v, "big") for v in values]
    return KeyMaterialMatcher(secrets=secrets, numbers=numbers)


def _base64_body(text: str) -> str:
    # A key that does not load (truncated, odd algorithm) is still recognised by its own base64
    # body, if it looks like one: not too long to index, and a DER SEQUENCE once decoded.
    if len(text) > MAX_INPUT_CHARS:
        return ""
    body = _PEM_LINE.sub("", text.replace("\\n", "\n"))
    compact = _NOT_BASE64.sub("", _url_safe_as_standard(body))
    try:
        der = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return ""
    return compact if der[:1] == b"\x30" else ""


def certificate_withheld(text: str, matcher: KeyMaterialMatcher) -> WithheldCertificate | None:
    """The certificate string as the platform sent it, when it parses as a certificate that
    carries key material (``matcher``); None when it is clean or cannot be parsed (an unparsable
    string is never shown or stored in the first place)."""
    if not matcher.active or not text:
        return None
    try:
        certificate = load_certificate(text)
    except CertificateDecodeError:
        return None
    parts = matcher.certificate_parts(certificate)
    if not parts:
        return None
    der = certificate.public_bytes(serialization.Encoding.DER)
    return WithheldCertificate(parts, colon_hex(hashlib.sha256(der).digest()))
