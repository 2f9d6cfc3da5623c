"""Decode X.509 certificates and private keys, and describe them for display.

The text forms returned by ``QueryDeviceCert`` are not documented, so loading is lenient about
framing (full PEM, headerless base64 DER, any line ends) and strict about content. Error messages
say why decoding failed and never echo the input: the key text must not reach a log or a page
through an exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    CertificatePoliciesOID,
    ExtendedKeyUsageOID,
    ExtensionOID,
    NameOID,
)

MAX_INPUT_CHARS = 64 * 1024
EXPIRING_WITHIN = timedelta(days=30)
UNKNOWN_EXTENSION = "Unknown extension"
EXTENSION_HEX_LIMIT = 64  # bytes of an undecoded extension value shown before truncating

_PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----",
    re.DOTALL,
)
_WHITESPACE = re.compile(r"\s+")
_PRIVATE_KEY_LABELS = frozenset({"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"})


class CertificateDecodeError(ValueError):
    """The text is not a usable X.509 certificate; the message says why, never what."""


class PrivateKeyDecodeError(ValueError):
    """The text is not a usable unencrypted private key; the message never includes the text."""


@dataclass(frozen=True)
class NameAttribute:
    """One attribute of a distinguished name, e.g. ``CN=Alibaba Cloud IoT Certificate``."""

    label: str
    oid: str
    value: str


@dataclass(frozen=True)
class Extension:
    """One certificate extension decoded into label/value rows for display."""

    name: str
    oid: str
    critical: bool
    values: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Validity:
    """Where a moment falls in a certificate's validity period."""

    state: str  # "valid" | "expiring" | "expired" | "not_yet_valid"
    days: int
    # TEMP (merger drops): the other helper adds these properties for real.
    not_after: datetime | None = None
    at: datetime | None = None

    @property
    def days_since_expiry(self) -> int:
        if self.state != "expired" or self.not_after is None or self.at is None:
            return 0
        return (self.at - self.not_after).days

    @property
    def days_until_expiry(self) -> int:
        if self.state == "expired" or self.not_after is None or self.at is None:
            return 0
        return max(0, (self.not_after - self.at).days)


@dataclass(frozen=True)
class CertificateDetails:
    """Everything the certificate page shows, as plain values."""

    subject: list[NameAttribute]
    issuer: list[NameAttribute]
    subject_text: str
    issuer_text: str
    serial_hex: str
    serial_decimal: str
    not_before: datetime
    not_after: datetime
    public_key_algorithm: str
    public_key_size: int | None
    public_key_curve: str | None
    signature_algorithm: str
    sha256_fingerprint: str
    sha1_fingerprint: str
    public_key_sha256: str
    extensions: list[Extension]
    is_ca: bool
    version: str
    pem: str

    @property
    def summary_type(self) -> str:
        """A short description such as "X.509 leaf certificate"."""
        return "X.509 CA certificate" if self.is_ca else "X.509 leaf certificate"

    def validity(self, now: datetime) -> Validity:
        """Classify ``now`` (timezone-aware) against the validity period.

        ``days`` counts whole days until expiry (negative once expired) or, before the period
        starts, whole days until it starts. Both bounds are inclusive, as in RFC 5280.
        """
        now = _require_aware(now)
        if now < self.not_before:
            return Validity("not_yet_valid", (self.not_before - now).days, self.not_after, now)
        remaining = self.not_after - now  # timedelta.days floors, so an hour ago is -1
        if now > self.not_after:
            return Validity("expired", remaining.days, self.not_after, now)
        state = "expiring" if remaining <= EXPIRING_WITHIN else "valid"
        return Validity(state, remaining.days, self.not_after, now)


@dataclass(frozen=True)
class ChainCheck:
    """Result of checking a certificate against the configured CA bundle."""

    status: str  # "verified" | "unverified" | "invalid"
    issuer: x509.Certificate | None
    reason: str


# --------------------------------------------------------------------------- loading


def load_certificate(text: str) -> x509.Certificate:
    """Load one certificate from PEM or headerless base64 DER text.

    With several PEM blocks the first CERTIFICATE block wins. Raises CertificateDecodeError.
    """
    cleaned = _clean_text(text, CertificateDecodeError)
    if "-----BEGIN" in cleaned:
        blocks = [body for label, body in _pem_blocks(cleaned) if label == "CERTIFICATE"]
        if not blocks:
            raise CertificateDecodeError("no CERTIFICATE block in the PEM text")
        der = _decode_base64(blocks[0], CertificateDecodeError)
    else:
        der = _decode_base64(cleaned, CertificateDecodeError)
    return _certificate_from_der(der)


def load_private_key(text: str) -> PrivateKeyTypes:
    """Load an unencrypted private key from PEM (PKCS#1, PKCS#8, SEC1) or headerless base64 DER.

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
        return serialization.load_der_private_key(der, password=None)
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
    cleaned = text.replace("\\r", "\r").replace("\\n", "\n").strip()
    if not cleaned:
        raise error("empty")
    return cleaned.replace("\r\n", "\n").replace("\r", "\n")


def _pem_blocks(text: str) -> Iterable[tuple[str, str]]:
    for match in _PEM_BLOCK.finditer(text):
        yield match.group(1), match.group(2)


def _decode_base64(body: str, error: type[ValueError]) -> bytes:
    compact = _WHITESPACE.sub("", body)
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


# --------------------------------------------------------------------------- keys


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


# --------------------------------------------------------------------------- chain


def check_chain(
    cert: x509.Certificate, ca_certs: Iterable[x509.Certificate], now: datetime
) -> ChainCheck:
    """Check ``cert`` against a CA bundle: issuer present, signature good, both valid at ``now``.

    "unverified" means no CA in the bundle carries the certificate's issuer name; "invalid" means
    one does but the signature or a validity period does not hold.
    """
    now = _require_aware(now)
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


def _require_aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


# --------------------------------------------------------------------------- details


def certificate_details(cert: x509.Certificate) -> CertificateDetails:
    """Describe a certificate in display-ready values; never raises on odd extensions."""
    algorithm, size, curve = _public_key_description(cert)
    try:
        spki_sha256 = public_key_sha256(cert)
    except (TypeError, ValueError, UnsupportedAlgorithm):
        spki = _tbs_spki(cert)
        spki_sha256 = hashlib.sha256(spki).hexdigest() if spki else ""
    extensions, is_ca = _extensions(cert)
    return CertificateDetails(
        subject=_name_attributes(cert.subject),
        issuer=_name_attributes(cert.issuer),
        subject_text=cert.subject.rfc4514_string(),
        issuer_text=cert.issuer.rfc4514_string(),
        serial_hex=_serial_hex(cert.serial_number),
        serial_decimal=str(cert.serial_number),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        public_key_algorithm=algorithm,
        public_key_size=size,
        public_key_curve=curve,
        signature_algorithm=_oid_name(cert.signature_algorithm_oid),
        sha256_fingerprint=_colon_hex(cert.fingerprint(hashes.SHA256())),
        sha1_fingerprint=_colon_hex(cert.fingerprint(hashes.SHA1())),  # noqa: S303 - display only
        public_key_sha256=spki_sha256,
        extensions=extensions,
        is_ca=is_ca,
        version=cert.version.name,
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )


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


def _public_key_description(cert: x509.Certificate) -> tuple[str, int | None, str | None]:
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
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
    digits = format(abs(serial), "X")
    digits = digits.zfill(len(digits) + len(digits) % 2)
    pairs = ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))
    return f"-{pairs}" if serial < 0 else pairs


def _colon_hex(data: bytes) -> str:
    return data.hex(":").upper()


def _truncated_hex(data: bytes) -> str:
    if len(data) <= EXTENSION_HEX_LIMIT:
        return _colon_hex(data)
    return f"{_colon_hex(data[:EXTENSION_HEX_LIMIT])} … ({len(data)} bytes)"


def _oid_name(oid: x509.ObjectIdentifier) -> str:
    name = getattr(oid, "_name", None)
    if not name or name == "Unknown OID":
        return oid.dotted_string
    return name


# --------------------------------------------------------------------------- extensions

_EXTENSION_NAMES = {
    ExtensionOID.BASIC_CONSTRAINTS: "Basic constraints",
    ExtensionOID.KEY_USAGE: "Key usage",
    ExtensionOID.EXTENDED_KEY_USAGE: "Extended key usage",
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME: "Subject alternative name",
    ExtensionOID.ISSUER_ALTERNATIVE_NAME: "Issuer alternative name",
    ExtensionOID.SUBJECT_KEY_IDENTIFIER: "Subject key identifier",
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER: "Authority key identifier",
    ExtensionOID.CRL_DISTRIBUTION_POINTS: "CRL distribution points",
    ExtensionOID.FRESHEST_CRL: "Freshest CRL",
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS: "Authority information access",
    ExtensionOID.SUBJECT_INFORMATION_ACCESS: "Subject information access",
    ExtensionOID.CERTIFICATE_POLICIES: "Certificate policies",
    ExtensionOID.POLICY_CONSTRAINTS: "Policy constraints",
    ExtensionOID.POLICY_MAPPINGS: "Policy mappings",
    ExtensionOID.INHIBIT_ANY_POLICY: "Inhibit any-policy",
    ExtensionOID.NAME_CONSTRAINTS: "Name constraints",
    ExtensionOID.OCSP_NO_CHECK: "OCSP no check",
    ExtensionOID.TLS_FEATURE: "TLS feature",
    ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS: "Signed certificate timestamps",
    ExtensionOID.PRECERT_POISON: "Precertificate poison",
    ExtensionOID.SUBJECT_DIRECTORY_ATTRIBUTES: "Subject directory attributes",
    ExtensionOID.PRIVATE_KEY_USAGE_PERIOD: "Private key usage period",
    ExtensionOID.MS_CERTIFICATE_TEMPLATE: "Microsoft certificate template",
    ExtensionOID.ADMISSIONS: "Admissions",
}

_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "TLS server authentication",
    ExtendedKeyUsageOID.CLIENT_AUTH: "TLS client authentication",
    ExtendedKeyUsageOID.CODE_SIGNING: "Code signing",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "Email protection",
    ExtendedKeyUsageOID.TIME_STAMPING: "Time stamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSP signing",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "Any extended key usage",
    ExtendedKeyUsageOID.SMARTCARD_LOGON: "Smart card logon",
    ExtendedKeyUsageOID.KERBEROS_PKINIT_KDC: "Kerberos PKINIT KDC",
    ExtendedKeyUsageOID.IPSEC_IKE: "IPsec IKE",
    ExtendedKeyUsageOID.CERTIFICATE_TRANSPARENCY: "Certificate Transparency",
}

_KEY_USAGE_FLAGS = (
    ("digital_signature", "Digital signature"),
    ("content_commitment", "Content commitment"),
    ("key_encipherment", "Key encipherment"),
    ("data_encipherment", "Data encipherment"),
    ("key_agreement", "Key agreement"),
    ("key_cert_sign", "Certificate sign"),
    ("crl_sign", "CRL sign"),
)

Rows = list[tuple[str, str]]


def _extensions(cert: x509.Certificate) -> tuple[list[Extension], bool]:
    try:
        parsed = list(cert.extensions)
    except (ValueError, x509.DuplicateExtension) as exc:
        # cryptography parses all extensions at once, so one bad extension hides the rest;
        # list the raw ones so the page still shows what is there.
        error = Extension(
            name="Extensions could not be decoded",
            oid="",
            critical=False,
            values=[("Error", str(exc) or type(exc).__name__)],
        )
        return [error, *_raw_extensions(cert)], False
    extensions = [_extension(ext) for ext in parsed]
    is_ca = any(isinstance(ext.value, x509.BasicConstraints) and ext.value.ca for ext in parsed)
    return extensions, is_ca


def _extension(ext: x509.Extension) -> Extension:
    oid = ext.oid.dotted_string
    value = ext.value
    if isinstance(value, x509.UnrecognizedExtension):
        return Extension(UNKNOWN_EXTENSION, oid, ext.critical, _hex_rows(value.value))
    name = _EXTENSION_NAMES.get(ext.oid, _oid_name(ext.oid))
    decoder = _DECODERS.get(type(value))
    try:
        rows = decoder(value) if decoder else _hex_rows(value.public_bytes())
    except Exception as exc:  # a decoder bug must not take the whole page down
        rows = [("Error", f"could not decode: {type(exc).__name__}")]
    return Extension(name, oid, ext.critical, rows)


def _hex_rows(data: bytes) -> Rows:
    return [("Value (DER, hex)", _truncated_hex(data))]


def _basic_constraints(value: x509.BasicConstraints) -> Rows:
    path = "none" if value.path_length is None else str(value.path_length)
    return [("CA", "TRUE" if value.ca else "FALSE"), ("Path length", path)]


def _key_usage(value: x509.KeyUsage) -> Rows:
    usages = [label for attr, label in _KEY_USAGE_FLAGS if getattr(value, attr)]
    if value.key_agreement:  # encipher_only/decipher_only raise unless key_agreement is set
        if value.encipher_only:
            usages.append("Encipher only")
        if value.decipher_only:
            usages.append("Decipher only")
    return [("Usages", ", ".join(usages) or "none")]


def _extended_key_usage(value: x509.ExtendedKeyUsage) -> Rows:
    rows = []
    for oid in value:
        name = _EKU_NAMES.get(oid)
        rows.append(("Purpose", f"{name} ({oid.dotted_string})" if name else _oid_name(oid)))
    return rows


def _general_name(name: x509.GeneralName) -> tuple[str, str]:
    if isinstance(name, x509.DNSName):
        return "DNS", name.value
    if isinstance(name, x509.IPAddress):
        return "IP", str(name.value)
    if isinstance(name, x509.UniformResourceIdentifier):
        return "URI", name.value
    if isinstance(name, x509.RFC822Name):
        return "Email", name.value
    if isinstance(name, x509.DirectoryName):
        return "Directory name", name.value.rfc4514_string()
    if isinstance(name, x509.RegisteredID):
        return "Registered ID", name.value.dotted_string
    if isinstance(name, x509.OtherName):
        return f"Other name ({name.type_id.dotted_string})", _other_name_value(name.value)
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
    return [("Key ID", _colon_hex(value.digest))]


def _authority_key_identifier(value: x509.AuthorityKeyIdentifier) -> Rows:
    rows = []
    if value.key_identifier is not None:
        rows.append(("Key ID", _colon_hex(value.key_identifier)))
    for label, text in _general_names(value.authority_cert_issuer or []):
        rows.append((f"Issuer ({label})", text))
    if value.authority_cert_serial_number is not None:
        rows.append(("Issuer serial", _serial_hex(value.authority_cert_serial_number)))
    return rows


def _distribution_points(value: x509.CRLDistributionPoints | x509.FreshestCRL) -> Rows:
    rows: Rows = []
    for point in value:
        rows.extend(_general_names(point.full_name or []))
        if point.relative_name is not None:
            rows.append(("Relative name", point.relative_name.rfc4514_string()))
        if point.reasons:
            reasons = sorted(reason.value for reason in point.reasons)
            rows.append(("Reasons", ", ".join(reasons)))
        for label, text in _general_names(point.crl_issuer or []):
            rows.append((f"CRL issuer ({label})", text))
    return rows


_ACCESS_METHODS = {
    AuthorityInformationAccessOID.OCSP: "OCSP",
    AuthorityInformationAccessOID.CA_ISSUERS: "CA issuers",
}


def _access_descriptions(
    value: x509.AuthorityInformationAccess | x509.SubjectInformationAccess,
) -> Rows:
    rows = []
    for description in value:
        method = _ACCESS_METHODS.get(description.access_method)
        label = method or _oid_name(description.access_method)
        rows.append((label, _general_name(description.access_location)[1]))
    return rows


_POLICY_NAMES = {
    CertificatePoliciesOID.ANY_POLICY.dotted_string: "Any policy",
    "2.23.140.1.2.1": "CA/Browser Forum domain validated",
    "2.23.140.1.2.2": "CA/Browser Forum organization validated",
    "2.23.140.1.2.3": "CA/Browser Forum individual validated",
}


def _certificate_policies(value: x509.CertificatePolicies) -> Rows:
    rows: Rows = []
    for policy in value:
        oid = policy.policy_identifier.dotted_string
        name = _POLICY_NAMES.get(oid)
        rows.append(("Policy", f"{name} ({oid})" if name else oid))
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
            rows.append(("User notice", " — ".join(parts)))
    return rows


def _name_constraints(value: x509.NameConstraints) -> Rows:
    rows = [
        (f"Permitted {label}", text)
        for label, text in _general_names(value.permitted_subtrees or [])
    ]
    rows += [
        (f"Excluded {label}", text) for label, text in _general_names(value.excluded_subtrees or [])
    ]
    return rows


def _policy_constraints(value: x509.PolicyConstraints) -> Rows:
    rows = []
    if value.require_explicit_policy is not None:
        rows.append(("Require explicit policy", str(value.require_explicit_policy)))
    if value.inhibit_policy_mapping is not None:
        rows.append(("Inhibit policy mapping", str(value.inhibit_policy_mapping)))
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
    x509.InhibitAnyPolicy: lambda value: [("Skip certificates", str(value.skip_certs))],
    x509.OCSPNoCheck: lambda value: [("Present", "yes")],
}


# --------------------------------------------------------------------------- raw DER
# Just enough DER to list extensions and find the public key when cryptography will not.


def _tlv(data: bytes, offset: int) -> tuple[int, int, int]:
    """Return (tag, content start, content end) of the DER element at ``offset``."""
    tag = data[offset]
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, start, end


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, content end) of each element in a constructed value."""
    children = []
    offset = start
    while offset < end:
        tag, content_start, content_end = _tlv(data, offset)
        children.append((tag, offset, content_start, content_end))
        offset = content_end
    return children


def _tbs_fields(cert: x509.Certificate) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    tbs = cert.tbs_certificate_bytes
    _, start, end = _tlv(tbs, 0)
    return tbs, _children(tbs, start, end)


def _tbs_spki(cert: x509.Certificate) -> bytes | None:
    try:
        tbs, fields = _tbs_fields(cert)
        # version [0] is optional; SubjectPublicKeyInfo is the 6th field after it.
        index = 6 if fields[0][0] == 0xA0 else 5
        _, element_start, _, content_end = fields[index]
        return tbs[element_start:content_end]
    except (ValueError, IndexError):
        return None


def _dotted_oid(der: bytes) -> str:
    arcs: list[int] = []
    value = 0
    for byte in der:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        return ""
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])


def _raw_extensions(cert: x509.Certificate) -> list[Extension]:
    try:
        tbs, fields = _tbs_fields(cert)
        wrapper = next(field for field in fields if field[0] == 0xA3)
        _, seq_start, seq_end = _tlv(tbs, wrapper[2])
        extensions = []
        for _, _, start, end in _children(tbs, seq_start, seq_end):
            parts = _children(tbs, start, end)
            oid = _dotted_oid(tbs[parts[0][2] : parts[0][3]])
            critical = len(parts) == 3 and tbs[parts[1][2] : parts[1][3]] != b"\x00"
            value = tbs[parts[-1][2] : parts[-1][3]]
            name = _EXTENSION_NAMES.get(x509.ObjectIdentifier(oid), UNKNOWN_EXTENSION)
            extensions.append(Extension(name, oid, critical, _hex_rows(value)))
        return extensions
    except (ValueError, IndexError, StopIteration):
        return []
