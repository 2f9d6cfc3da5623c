"""Describe a certificate for display: names, key, fingerprints, validity and extensions.

Every value is plain text or a number, ready for a template or the CLI. Extension names are
English, marked for the translation catalog with ``gettext_noop`` below; the pages translate
them when they show them. So do an extension's row labels and the words among its values
(usages, purposes, yes/no): those are ``Phrase``s, and only what comes from the certificate
(names, identifiers, OIDs, hex) is plain text.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    CertificatePoliciesOID,
    ExtendedKeyUsageOID,
    ExtensionOID,
    NameOID,
)

from certadmin.certs.der import (
    RawExtension,
    certificate_name_ders,
    raw_extensions,
    tbs_public_key_info,
)
from certadmin.certs.fingerprints import colon_hex, public_key_sha256


def gettext_noop(message: str) -> str:
    """Mark ``message`` for the translation catalog and return it untranslated.

    certs stays free of Django; ``makemessages`` finds these texts by this name, the same as
    Django's own marker, and the templates translate them when they show them.
    """
    return message


# A certificate with at most this many days left (``expiry_days_left``) is "expiring": the
# certificate page's badge and the inventory's windows (``devices/expiry.py``) share the number.
EXPIRING_DAYS = 30
UNKNOWN_EXTENSION = gettext_noop("Unknown extension")
UNDECODABLE_EXTENSIONS = gettext_noop("Extensions could not be decoded")
EXTENSION_HEX_LIMIT = 64  # bytes of an undecoded extension value shown before truncating

EXTENSION_NAMES = {
    ExtensionOID.BASIC_CONSTRAINTS: gettext_noop("Basic constraints"),
    ExtensionOID.KEY_USAGE: gettext_noop("Key usage"),
    ExtensionOID.EXTENDED_KEY_USAGE: gettext_noop("Extended key usage"),
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME: gettext_noop("Subject alternative name"),
    ExtensionOID.ISSUER_ALTERNATIVE_NAME: gettext_noop("Issuer alternative name"),
    ExtensionOID.SUBJECT_KEY_IDENTIFIER: gettext_noop("Subject key identifier"),
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER: gettext_noop("Authority key identifier"),
    ExtensionOID.CRL_DISTRIBUTION_POINTS: gettext_noop("CRL distribution points"),
    ExtensionOID.FRESHEST_CRL: gettext_noop("Freshest CRL"),
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS: gettext_noop("Authority information access"),
    ExtensionOID.SUBJECT_INFORMATION_ACCESS: gettext_noop("Subject information access"),
    ExtensionOID.CERTIFICATE_POLICIES: gettext_noop("Certificate policies"),
    ExtensionOID.POLICY_CONSTRAINTS: gettext_noop("Policy constraints"),
    ExtensionOID.POLICY_MAPPINGS: gettext_noop("Policy mappings"),
    ExtensionOID.INHIBIT_ANY_POLICY: gettext_noop("Inhibit any-policy"),
    ExtensionOID.NAME_CONSTRAINTS: gettext_noop("Name constraints"),
    ExtensionOID.OCSP_NO_CHECK: gettext_noop("OCSP no check"),
    ExtensionOID.TLS_FEATURE: gettext_noop("TLS feature"),
    ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS: gettext_noop(
        "Signed certificate timestamps"
    ),
    ExtensionOID.PRECERT_POISON: gettext_noop("Precertificate poison"),
    ExtensionOID.SUBJECT_DIRECTORY_ATTRIBUTES: gettext_noop("Subject directory attributes"),
    ExtensionOID.PRIVATE_KEY_USAGE_PERIOD: gettext_noop("Private key usage period"),
    ExtensionOID.MS_CERTIFICATE_TEMPLATE: gettext_noop("Microsoft certificate template"),
    ExtensionOID.ADMISSIONS: gettext_noop("Admissions"),
}


@dataclass(frozen=True)
class NameAttribute:
    """One attribute of a distinguished name, e.g. ``CN=Alibaba Cloud IoT Certificate``."""

    label: str
    oid: str
    value: str


@dataclass(frozen=True)
class Phrase:
    """Words of the decoded view that the pages translate when they show them.

    ``words``: English texts, each marked with ``gettext_noop``, shown as a list
    ("Certificate sign, CRL sign"). ``detail``: what follows in parentheses, shown as it is
    when plain text (an OID, a number), translated when a Phrase ("Issuer (Directory name)").
    ``str()`` is the English text.
    """

    words: tuple[str, ...]
    detail: str | Phrase = ""

    def __str__(self) -> str:
        text = ", ".join(self.words)
        return f"{text} ({self.detail})" if self.detail else text


# A row's label or value: a Phrase the page translates, or the certificate's own text.
Text = str | Phrase
Rows = list[tuple[Text, Text]]


def _phrase(*words: str, detail: str | Phrase = "") -> Phrase:
    return Phrase(words, detail)


@dataclass(frozen=True)
class Extension:
    """One certificate extension decoded into label/value rows for display."""

    name: str
    oid: str
    critical: bool
    values: Rows = field(default_factory=list)


def expiry_days_left(*, not_after: datetime, now: datetime) -> int:
    """Whole days from ``now`` until ``not_after``, counted toward zero; negative once passed.

    The one rule for "days left" wherever it is shown or written: the certificate page
    (``Validity``), the device tables, the expiry CSV, ``cert_expiry_report``, batch results
    and the ``querydevicecert`` CLI. Partial days are dropped, never rounded away from zero:
    2 days and 23 hours ahead is 2; 2 days and 1 hour ago is -2 ("2 days ago", not 3).

    So the count is 0 for a whole day on each side of notAfter, exactly at notAfter (still
    valid, as in RFC 5280) as well as just after it (expired): the expiry state, not this
    number, tells the two apart, and the pages then say "0 days left" or "0 days ago".
    """
    span = not_after - now
    if span >= timedelta(0):
        return span.days
    # timedelta.days floors (-1 µs is days=-1): count the elapsed span, then negate.
    return -(-span).days


@dataclass(frozen=True)
class Validity:
    """Where the moment ``at`` falls in a certificate's validity period.

    Day counts follow ``expiry_days_left``, so the certificate page, the device tables and the
    ``querydevicecert`` CLI say the same number for the same moment. Each is a count of whole
    days of a non-negative span, never negative: a certificate that expired 30 days and a
    minute ago expired 30 days ago, not 31.
    """

    state: str  # "valid" | "expiring" | "expired" | "not_yet_valid"
    at: datetime
    not_before: datetime
    not_after: datetime

    @property
    def days(self) -> int:
        """Whole days until the period's next bound: notBefore while not yet valid, else notAfter.

        0 once expired, when no bound is ahead.
        """
        if self.state == "not_yet_valid":
            return self.days_until_valid
        return self.days_until_expiry

    @property
    def days_until_valid(self) -> int:
        """Whole days until notBefore; 0 once the period has started."""
        return (self.not_before - self.at).days if self.state == "not_yet_valid" else 0

    @property
    def days_until_expiry(self) -> int:
        """Whole days until notAfter; 0 once expired."""
        if self.state == "expired":
            return 0
        return expiry_days_left(not_after=self.not_after, now=self.at)

    @property
    def days_since_expiry(self) -> int:
        """Whole days since notAfter; 0 while not expired (and within its first day)."""
        if self.state != "expired":
            return 0
        return -expiry_days_left(not_after=self.not_after, now=self.at)


class CertificateDetails:
    """Everything the certificate page shows, as plain values, each worked out when first read.

    The validity period is read at once (``validity`` needs it); every other value on first use
    and then kept. A product sync stores the fingerprint, serial and names of thousands of
    certificates and never reads the key, the extensions or the name attributes that the
    certificate page shows: it does not pay for them.
    """

    def __init__(self, cert: x509.Certificate) -> None:
        self._cert = cert
        self.not_before: datetime = cert.not_valid_before_utc
        self.not_after: datetime = cert.not_valid_after_utc

    def __repr__(self) -> str:
        return f"CertificateDetails(serial_hex={self.serial_hex!r})"

    # ---- what the inventory stores ---------------------------------------------------------

    @functools.cached_property
    def _der(self) -> bytes:
        # Encoded once: both fingerprints and the PEM come from it.
        return self._cert.public_bytes(serialization.Encoding.DER)

    @functools.cached_property
    def sha256_fingerprint(self) -> str:
        return colon_hex(hashlib.sha256(self._der).digest())

    @functools.cached_property
    def serial_hex(self) -> str:
        return _serial_hex(self._cert.serial_number)

    @functools.cached_property
    def _name_ders(self) -> tuple[bytes, bytes] | None:
        return certificate_name_ders(self._der)

    @functools.cached_property
    def subject_text(self) -> str:
        ders = self._name_ders
        return _name_text(ders[1] if ders else None, lambda: self._cert.subject)

    @functools.cached_property
    def issuer_text(self) -> str:
        ders = self._name_ders
        return _name_text(ders[0] if ders else None, lambda: self._cert.issuer)

    @functools.cached_property
    def pem(self) -> str:
        return _pem(self._der)

    # ---- what the certificate page adds -----------------------------------------------------

    @functools.cached_property
    def subject(self) -> list[NameAttribute]:
        return list(_name_attributes_cached(self._cert.subject))

    @functools.cached_property
    def issuer(self) -> list[NameAttribute]:
        return list(_name_attributes_cached(self._cert.issuer))

    @functools.cached_property
    def serial_decimal(self) -> str:
        return str(self._cert.serial_number)

    @functools.cached_property
    def _public_key(self) -> object | None:
        # Loaded once for the description and the SubjectPublicKeyInfo hash.
        try:
            return self._cert.public_key()
        except (UnsupportedAlgorithm, ValueError):
            return None

    @functools.cached_property
    def _public_key_description(self) -> tuple[str, int | None, str | None]:
        return _public_key_description(self._cert, self._public_key)

    @property
    def public_key_algorithm(self) -> str:
        return self._public_key_description[0]

    @property
    def public_key_size(self) -> int | None:
        return self._public_key_description[1]

    @property
    def public_key_curve(self) -> str | None:
        return self._public_key_description[2]

    @functools.cached_property
    def public_key_sha256(self) -> str:
        try:
            if self._public_key is None:
                raise ValueError("no public key")
            return public_key_sha256(self._public_key)
        except (TypeError, ValueError, UnsupportedAlgorithm):
            spki = tbs_public_key_info(self._cert)
            return hashlib.sha256(spki).hexdigest() if spki else ""

    @functools.cached_property
    def signature_algorithm(self) -> str:
        return _oid_name(self._cert.signature_algorithm_oid)

    @functools.cached_property
    def signature_hash(self) -> str:
        """The signature's hash in lower case (``sha256``, ``sha1``, ``md5``…); "" when the
        algorithm names none (Ed25519) or is unknown to cryptography."""
        try:
            algorithm = self._cert.signature_hash_algorithm
        except UnsupportedAlgorithm:
            return ""
        return algorithm.name.lower() if algorithm is not None else ""

    @functools.cached_property
    def sha1_fingerprint(self) -> str:
        return colon_hex(hashlib.sha1(self._der).digest())  # noqa: S324 - display only

    @functools.cached_property
    def _extensions_and_ca(self) -> tuple[list[Extension], bool]:
        return _extensions(self._cert)

    @property
    def extensions(self) -> list[Extension]:
        return self._extensions_and_ca[0]

    @property
    def is_ca(self) -> bool:
        return self._extensions_and_ca[1]

    @functools.cached_property
    def version(self) -> str:
        return self._cert.version.name

    def validity(self, now: datetime) -> Validity:
        """Classify ``now`` (timezone-aware) against the validity period.

        Both bounds are inclusive, as in RFC 5280. "expiring": at most ``EXPIRING_DAYS`` days
        left, counted as every page counts them (30 days and 23 hours left is 30 days left).
        """
        now = aware_utc(now)
        if now < self.not_before:
            state = "not_yet_valid"
        elif now > self.not_after:
            state = "expired"
        elif expiry_days_left(not_after=self.not_after, now=now) <= EXPIRING_DAYS:
            state = "expiring"
        else:
            state = "valid"
        return Validity(state, now, self.not_before, self.not_after)


def aware_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; ValueError when it is naive, since it cannot be placed on a period."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return moment.astimezone(UTC)


def certificate_details(cert: x509.Certificate) -> CertificateDetails:
    """Describe a certificate in display-ready values; never raises on odd extensions.

    Each value is worked out when first read, and once (see ``CertificateDetails``); names and
    extensions that a fleet's certificates share (the issuer, its key identifier, the usages)
    are described once per process.
    """
    return CertificateDetails(cert)


def _pem(der: bytes) -> str:
    """The PEM text of a certificate's DER, as ``public_bytes(Encoding.PEM)`` writes it."""
    body = base64.b64encode(der).decode("ascii")
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n"


# A fleet's certificates share their issuer, and the platform's device certificates their
# subject too (it does not name the device): each name's text is worked out once per process,
# found by the name's DER without building cryptography's Name objects.
_NAME_TEXTS: dict[bytes, str] = {}
_NAME_TEXTS_MAX = 512


def _name_text(der: bytes | None, name: Callable[[], x509.Name]) -> str:
    if der is not None and (text := _NAME_TEXTS.get(der)) is not None:
        return text
    text = name().rfc4514_string()
    if der is not None:
        if len(_NAME_TEXTS) >= _NAME_TEXTS_MAX:
            _NAME_TEXTS.clear()
        _NAME_TEXTS[der] = text
    return text


# Names are hashable and compared by value (the page's attribute rows).
@functools.lru_cache(maxsize=512)
def _name_attributes_cached(name: x509.Name) -> tuple[NameAttribute, ...]:
    return tuple(_name_attributes(name))


_NAME_LABELS = {
    NameOID.EMAIL_ADDRESS.dotted_string: "emailAddress",
    NameOID.SERIAL_NUMBER.dotted_string: "serialNumber",
    NameOID.SURNAME.dotted_string: "SN",
    NameOID.GIVEN_NAME.dotted_string: "GN",
    NameOID.TITLE.dotted_string: "title",
    NameOID.PSEUDONYM.dotted_string: "pseudonym",
    NameOID.ORGANIZATION_IDENTIFIER.dotted_string: "organizationIdentifier",
    NameOID.BUSINESS_CATEGORY.dotted_string: "businessCategory",
    NameOID.POSTAL_CODE.dotted_string: "postalCode",
}


def _name_attributes(name: x509.Name) -> list[NameAttribute]:
    attributes = []
    for attribute in name:
        oid = attribute.oid.dotted_string
        label = attribute.rfc4514_attribute_name
        if label == oid:
            label = _NAME_LABELS.get(oid, oid)
        value = attribute.value
        text = value.hex(":").upper() if isinstance(value, bytes) else str(value)
        attributes.append(NameAttribute(label=label, oid=oid, value=text))
    return attributes


def _public_key_description(
    cert: x509.Certificate, key: object | None
) -> tuple[str, int | None, str | None]:
    if key is None:
        return _oid_name(cert.public_key_algorithm_oid), None, None
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size, key.curve.name
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, None
    simple = {
        ed25519.Ed25519PublicKey: ("Ed25519", 256),
        ed448.Ed448PublicKey: ("Ed448", 456),
        x25519.X25519PublicKey: ("X25519", 256),
        x448.X448PublicKey: ("X448", 448),
    }
    for key_type, (name, bits) in simple.items():
        if isinstance(key, key_type):
            return name, bits, None
    return _oid_name(cert.public_key_algorithm_oid), None, None


def _serial_hex(serial: int) -> str:
    magnitude = abs(serial)
    pairs = magnitude.to_bytes(max(1, (magnitude.bit_length() + 7) // 8), "big").hex(":").upper()
    return f"-{pairs}" if serial < 0 else pairs


def _truncated_hex(data: bytes) -> str:
    if len(data) <= EXTENSION_HEX_LIMIT:
        return colon_hex(data)
    # The length in the unit's symbol, the same in every language.
    return f"{colon_hex(data[:EXTENSION_HEX_LIMIT])} … ({len(data)} B)"


def _oid_name(oid: x509.ObjectIdentifier) -> str:
    name = getattr(oid, "_name", None)
    if not name or name == "Unknown OID":
        return oid.dotted_string
    return name


# --------------------------------------------------------------------------- extensions

# "Yes" and "No" are the pages' own words for them (the Checks card).
YES = _phrase(gettext_noop("Yes"))
NO = _phrase(gettext_noop("No"))
NONE = _phrase(gettext_noop("none"))
ERROR = _phrase(gettext_noop("Error"))
KEY_ID = _phrase(gettext_noop("Key ID"))

_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: gettext_noop("TLS server authentication"),
    ExtendedKeyUsageOID.CLIENT_AUTH: gettext_noop("TLS client authentication"),
    ExtendedKeyUsageOID.CODE_SIGNING: gettext_noop("Code signing"),
    ExtendedKeyUsageOID.EMAIL_PROTECTION: gettext_noop("Email protection"),
    ExtendedKeyUsageOID.TIME_STAMPING: gettext_noop("Time stamping"),
    ExtendedKeyUsageOID.OCSP_SIGNING: gettext_noop("OCSP signing"),
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: gettext_noop("Any extended key usage"),
    ExtendedKeyUsageOID.SMARTCARD_LOGON: gettext_noop("Smart card logon"),
    ExtendedKeyUsageOID.KERBEROS_PKINIT_KDC: gettext_noop("Kerberos PKINIT KDC"),
    ExtendedKeyUsageOID.IPSEC_IKE: gettext_noop("IPsec IKE"),
    ExtendedKeyUsageOID.CERTIFICATE_TRANSPARENCY: gettext_noop("Certificate Transparency"),
}

_KEY_USAGE_FLAGS = (
    ("digital_signature", gettext_noop("Digital signature")),
    ("content_commitment", gettext_noop("Content commitment")),
    ("key_encipherment", gettext_noop("Key encipherment")),
    ("data_encipherment", gettext_noop("Data encipherment")),
    ("key_agreement", gettext_noop("Key agreement")),
    ("key_cert_sign", gettext_noop("Certificate sign")),
    ("crl_sign", gettext_noop("CRL sign")),
)


def _extensions(cert: x509.Certificate) -> tuple[list[Extension], bool]:
    try:
        parsed = list(cert.extensions)
    except (ValueError, x509.DuplicateExtension) as exc:
        # cryptography parses all extensions at once, so one bad extension hides the rest;
        # list the raw ones so the page still shows what is there.
        error = Extension(
            name=UNDECODABLE_EXTENSIONS,
            oid="",
            critical=False,
            values=[(ERROR, str(exc) or type(exc).__name__)],
        )
        return [error, *map(_raw_extension, raw_extensions(cert))], False
    extensions = [_extension_cached(ext) for ext in parsed]
    is_ca = any(isinstance(ext.value, x509.BasicConstraints) and ext.value.ca for ext in parsed)
    return extensions, is_ca


def _extension_cached(ext: x509.Extension) -> Extension:
    # Extensions compare by value: the ones a fleet shares (usages, the CA's key identifier)
    # are described once. An unhashable value is described every time.
    try:
        return _extension_lru(ext)
    except TypeError:
        return _extension(ext)


@functools.lru_cache(maxsize=1024)
def _extension_lru(ext: x509.Extension) -> Extension:
    return _extension(ext)


def _extension(ext: x509.Extension) -> Extension:
    oid = ext.oid.dotted_string
    value = ext.value
    if isinstance(value, x509.UnrecognizedExtension):
        return Extension(UNKNOWN_EXTENSION, oid, ext.critical, _hex_rows(value.value))
    name = EXTENSION_NAMES.get(ext.oid, _oid_name(ext.oid))
    decoder = _DECODERS.get(type(value))
    try:
        rows = decoder(value) if decoder else _hex_rows(value.public_bytes())
    except Exception as exc:  # a decoder bug must not take the whole page down
        rows = [(ERROR, _phrase(gettext_noop("could not decode"), detail=type(exc).__name__))]
    return Extension(name, oid, ext.critical, rows)


def _raw_extension(raw: RawExtension) -> Extension:
    name = EXTENSION_NAMES.get(x509.ObjectIdentifier(raw.oid), UNKNOWN_EXTENSION)
    return Extension(name, raw.oid, raw.critical, _hex_rows(raw.value))


def _hex_rows(data: bytes) -> Rows:
    return [(_phrase(gettext_noop("Value (DER, hex)")), _truncated_hex(data))]


def _basic_constraints(value: x509.BasicConstraints) -> Rows:
    if value.path_length is not None:
        path: Text = str(value.path_length)
    elif value.ca:
        path = _phrase(gettext_noop("unlimited"))
    else:  # a leaf: RFC 5280 allows the constraint only on a CA
        path = NONE
    return [
        (_phrase(gettext_noop("CA")), YES if value.ca else NO),
        (_phrase(gettext_noop("Path length")), path),
    ]


def _key_usage(value: x509.KeyUsage) -> Rows:
    usages = [label for attr, label in _KEY_USAGE_FLAGS if getattr(value, attr)]
    if value.key_agreement:  # encipher_only/decipher_only raise unless key_agreement is set
        if value.encipher_only:
            usages.append(gettext_noop("Encipher only"))
        if value.decipher_only:
            usages.append(gettext_noop("Decipher only"))
    return [(_phrase(gettext_noop("Usages")), _phrase(*usages) if usages else NONE)]


def _extended_key_usage(value: x509.ExtendedKeyUsage) -> Rows:
    rows: Rows = []
    for oid in value:
        name = _EKU_NAMES.get(oid)
        purpose = _phrase(name, detail=oid.dotted_string) if name else _oid_name(oid)
        rows.append((_phrase(gettext_noop("Purpose")), purpose))
    return rows


def _general_name(name: x509.GeneralName) -> tuple[Text, str]:
    # DNS, IP and URI are the names' own technical names, the same in every language.
    if isinstance(name, x509.DNSName):
        return "DNS", name.value
    if isinstance(name, x509.IPAddress):
        return "IP", str(name.value)
    if isinstance(name, x509.UniformResourceIdentifier):
        return "URI", name.value
    if isinstance(name, x509.RFC822Name):
        return _phrase(gettext_noop("Email")), name.value
    if isinstance(name, x509.DirectoryName):
        return _phrase(gettext_noop("Directory name")), name.value.rfc4514_string()
    if isinstance(name, x509.RegisteredID):
        return _phrase(gettext_noop("Registered ID")), name.value.dotted_string
    if isinstance(name, x509.OtherName):
        label = _phrase(gettext_noop("Other name"), detail=name.type_id.dotted_string)
        return label, _other_name_value(name.value)
    return type(name).__name__, str(getattr(name, "value", ""))


_DER_STRING_TAGS = {0x0C, 0x13, 0x16, 0x1A}  # UTF8String, PrintableString, IA5String, VisibleString


def _other_name_value(der: bytes) -> str:
    # An otherName value is usually a short string; show it as text, anything else as hex.
    if len(der) >= 2 and der[0] in _DER_STRING_TAGS and der[1] < 0x80 and len(der) == der[1] + 2:
        try:
            return der[2:].decode("utf-8")
        except UnicodeDecodeError:
            pass
    return _truncated_hex(der)


def _general_names(names: Iterable[x509.GeneralName]) -> Rows:
    return [_general_name(name) for name in names]


def _subject_key_identifier(value: x509.SubjectKeyIdentifier) -> Rows:
    return [(KEY_ID, colon_hex(value.digest))]


def _authority_key_identifier(value: x509.AuthorityKeyIdentifier) -> Rows:
    rows: Rows = []
    if value.key_identifier is not None:
        rows.append((KEY_ID, colon_hex(value.key_identifier)))
    for label, text in _general_names(value.authority_cert_issuer or []):
        rows.append((_phrase(gettext_noop("Issuer"), detail=label), text))
    if value.authority_cert_serial_number is not None:
        rows.append(
            (
                _phrase(gettext_noop("Issuer serial")),
                _serial_hex(value.authority_cert_serial_number),
            )
        )
    return rows


def _distribution_points(value: x509.CRLDistributionPoints | x509.FreshestCRL) -> Rows:
    rows: Rows = []
    for point in value:
        rows.extend(_general_names(point.full_name or []))
        if point.relative_name is not None:
            rows.append(
                (_phrase(gettext_noop("Relative name")), point.relative_name.rfc4514_string())
            )
        if point.reasons:
            # RFC 5280's names of the reasons (keyCompromise, …), as CRLs and tools spell them.
            reasons = sorted(reason.value for reason in point.reasons)
            rows.append((_phrase(gettext_noop("Reasons")), ", ".join(reasons)))
        for label, text in _general_names(point.crl_issuer or []):
            rows.append((_phrase(gettext_noop("CRL issuer"), detail=label), text))
    return rows


_ACCESS_METHODS: dict[x509.ObjectIdentifier, Text] = {
    AuthorityInformationAccessOID.OCSP: "OCSP",
    AuthorityInformationAccessOID.CA_ISSUERS: _phrase(gettext_noop("CA issuers")),
}


def _access_descriptions(
    value: x509.AuthorityInformationAccess | x509.SubjectInformationAccess,
) -> Rows:
    rows: Rows = []
    for description in value:
        method = _ACCESS_METHODS.get(description.access_method)
        label = method or _oid_name(description.access_method)
        rows.append((label, _general_name(description.access_location)[1]))
    return rows


_POLICY_NAMES = {
    CertificatePoliciesOID.ANY_POLICY.dotted_string: gettext_noop("Any policy"),
    "2.23.140.1.2.1": gettext_noop("CA/Browser Forum domain validated"),
    "2.23.140.1.2.2": gettext_noop("CA/Browser Forum organization validated"),
    "2.23.140.1.2.3": gettext_noop("CA/Browser Forum individual validated"),
}


def _certificate_policies(value: x509.CertificatePolicies) -> Rows:
    rows: Rows = []
    for policy in value:
        oid = policy.policy_identifier.dotted_string
        name = _POLICY_NAMES.get(oid)
        rows.append((_phrase(gettext_noop("Policy")), _phrase(name, detail=oid) if name else oid))
        for qualifier in policy.policy_qualifiers or []:
            if isinstance(qualifier, str):
                rows.append(("CPS", qualifier))
                continue
            parts = []
            if qualifier.notice_reference is not None:
                reference = qualifier.notice_reference
                numbers = ", ".join(str(n) for n in reference.notice_numbers)
                parts.append(f"{reference.organization or ''} #{numbers}".strip())
            if qualifier.explicit_text:
                parts.append(qualifier.explicit_text)
            rows.append((_phrase(gettext_noop("User notice")), " — ".join(parts)))
    return rows


def _name_constraints(value: x509.NameConstraints) -> Rows:
    rows: Rows = [
        (_phrase(gettext_noop("Permitted"), detail=label), text)
        for label, text in _general_names(value.permitted_subtrees or [])
    ]
    rows += [
        (_phrase(gettext_noop("Excluded"), detail=label), text)
        for label, text in _general_names(value.excluded_subtrees or [])
    ]
    return rows


def _policy_constraints(value: x509.PolicyConstraints) -> Rows:
    rows: Rows = []
    if value.require_explicit_policy is not None:
        rows.append(
            (_phrase(gettext_noop("Require explicit policy")), str(value.require_explicit_policy))
        )
    if value.inhibit_policy_mapping is not None:
        rows.append(
            (_phrase(gettext_noop("Inhibit policy mapping")), str(value.inhibit_policy_mapping))
        )
    return rows


_DECODERS: dict[type, Callable[[object], Rows]] = {
    x509.BasicConstraints: _basic_constraints,
    x509.KeyUsage: _key_usage,
    x509.ExtendedKeyUsage: _extended_key_usage,
    x509.SubjectAlternativeName: _general_names,
    x509.IssuerAlternativeName: _general_names,
    x509.SubjectKeyIdentifier: _subject_key_identifier,
    x509.AuthorityKeyIdentifier: _authority_key_identifier,
    x509.CRLDistributionPoints: _distribution_points,
    x509.FreshestCRL: _distribution_points,
    x509.AuthorityInformationAccess: _access_descriptions,
    x509.SubjectInformationAccess: _access_descriptions,
    x509.CertificatePolicies: _certificate_policies,
    x509.NameConstraints: _name_constraints,
    x509.PolicyConstraints: _policy_constraints,
    x509.InhibitAnyPolicy: lambda value: [
        (_phrase(gettext_noop("Skip certificates")), str(value.skip_certs))
    ],
    x509.OCSPNoCheck: lambda value: [(_phrase(gettext_noop("Present")), YES)],
}
