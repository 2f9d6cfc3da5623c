"""Build keys and certificates at test run time (no key material is stored in the repo).

    ca = make_ca()
    leaf = make_leaf(ca, key_type="ec", not_after=now + timedelta(days=10))
    leaf.cert, leaf.key, leaf.cert_pem, leaf.key_pem()

RSA generation is slow, so keys are cached per (key type, slot): ask for another ``key_slot``
when a test needs a key distinct from the default one.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

ALIBABA_CA_SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Alibaba Cloud IoT"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Alibaba Cloud IoT Operation CA1"),
    ]
)
ALIBABA_LEAF_SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Alibaba Cloud IoT"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Alibaba Cloud IoT Certificate"),
    ]
)


@dataclass(frozen=True)
class Issued:
    """A certificate with its private key."""

    cert: x509.Certificate
    key: PrivateKeyTypes

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def key_pem(self, *, pkcs: str = "pkcs8") -> str:
        """PEM text of the key: ``pkcs="pkcs8"`` or ``"traditional"`` (PKCS#1 / SEC1)."""
        fmt = (
            serialization.PrivateFormat.PKCS8
            if pkcs == "pkcs8"
            else serialization.PrivateFormat.TraditionalOpenSSL
        )
        return self.key.private_bytes(
            serialization.Encoding.PEM, fmt, serialization.NoEncryption()
        ).decode()


@functools.cache
def make_key(key_type: str = "rsa", key_slot: int = 0) -> PrivateKeyTypes:
    """A cached private key: ``key_type`` is "rsa" (2048), "ec" (P-256) or "ed25519"."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key_type {key_type!r}")


def name(common_name: str, *, organization: str | None = None) -> x509.Name:
    """A simple distinguished name."""
    attributes = []
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def make_ca(
    *,
    subject: x509.Name = ALIBABA_CA_SUBJECT,
    key_type: str = "rsa",
    key_slot: int = 1,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    serial_number: int | None = None,
) -> Issued:
    """A self-signed CA (CA:TRUE, keyCertSign) valid from an hour ago for ten years by default."""
    key = make_key(key_type, key_slot)
    now = datetime.now(UTC)
    extensions = [
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (_key_usage(key_cert_sign=True, crl_sign=True), True),
        (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
    ]
    cert = _build(
        subject=subject,
        issuer_name=subject,
        public_key=key.public_key(),
        signing_key=key,
        not_before=not_before or now - timedelta(hours=1),
        not_after=not_after or now + timedelta(days=3650),
        serial_number=serial_number,
        extensions=extensions,
    )
    return Issued(cert=cert, key=key)


def make_leaf(
    ca: Issued | None = None,
    *,
    key_type: str = "rsa",
    key_slot: int = 0,
    subject: x509.Name = ALIBABA_LEAF_SUBJECT,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    serial_number: int | None = None,
    extensions: Iterable[tuple[x509.ExtensionType, bool]] | None = None,
) -> Issued:
    """A device certificate issued by ``ca`` (self-signed when ``ca`` is None).

    ``extensions`` are (value, critical) pairs; by default CA:FALSE and digitalSignature (plus
    keyEncipherment for RSA). Validity defaults to an hour ago until a year from now.
    """
    key = make_key(key_type, key_slot)
    now = datetime.now(UTC)
    if extensions is None:
        extensions = [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (_key_usage(digital_signature=True, key_encipherment=key_type == "rsa"), True),
        ]
    cert = _build(
        subject=subject,
        issuer_name=ca.cert.subject if ca else subject,
        public_key=key.public_key(),
        signing_key=ca.key if ca else key,
        not_before=not_before or now - timedelta(hours=1),
        not_after=not_after or now + timedelta(days=365),
        serial_number=serial_number,
        extensions=list(extensions),
    )
    return Issued(cert=cert, key=key)


def _key_usage(**flags: bool) -> x509.KeyUsage:
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{flag: flags.get(flag, False) for flag in names})


def _build(
    *,
    subject: x509.Name,
    issuer_name: x509.Name,
    public_key,
    signing_key: PrivateKeyTypes,
    not_before: datetime,
    not_after: datetime,
    serial_number: int | None,
    extensions: list[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial_number or x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for value, critical in extensions:
        builder = builder.add_extension(value, critical=critical)
    algorithm = None if isinstance(signing_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(signing_key, algorithm)


# sha256WithRSAEncryption, and the older algorithms of the same length that cryptography no
# longer signs with (its builder refuses them): their OIDs differ in the last byte only.
_SHA256_WITH_RSA = bytes.fromhex("06092a864886f70d01010b")
_WEAK_RSA_SIGNATURES = {"sha1": "06092a864886f70d010105", "md5": "06092a864886f70d010104"}


def resigned_with(
    issued: Issued, hash_name: str, *, signer: PrivateKeyTypes | None = None
) -> x509.Certificate:
    """``issued``'s RSA certificate signed again with SHA-1 or MD5 (``hash_name``), as old
    CAs did: the algorithm is swapped in both places it is named and the TBS part signed anew by
    ``signer`` (its issuer's key; default the certificate's own, for a self-signed one)."""
    from cryptography.hazmat.primitives.asymmetric import padding

    der = issued.cert.public_bytes(serialization.Encoding.DER)
    assert der.count(_SHA256_WITH_RSA) == 2, "an RSA certificate signed with SHA-256"
    swapped = der.replace(_SHA256_WITH_RSA, bytes.fromhex(_WEAK_RSA_SIGNATURES[hash_name]))
    tbs = x509.load_der_x509_certificate(swapped).tbs_certificate_bytes
    old_signature = issued.cert.signature
    algorithm = hashes.SHA1() if hash_name == "sha1" else hashes.MD5()  # noqa: S303 - on purpose
    signature = (signer or issued.key).sign(tbs, padding.PKCS1v15(), algorithm)
    assert len(signature) == len(old_signature)
    return x509.load_der_x509_certificate(swapped[: -len(old_signature)] + signature)
