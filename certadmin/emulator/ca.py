"""The emulator's certificate authority, shaped like Alibaba Cloud IoT's device CA.

A fresh CA key is generated each time an emulator starts; device certificates are issued on
demand (the first time a device is queried) so that start-up stays fast. An RSA 2048 key takes
about 0.1 s to generate: devices whose spec asks for a pooled key (the fleet product's) draw
it from a small pool filled on first need, so a product-wide sync does not spend its time on
key generation. Their certificates stay distinct (own serial, own validity) and each key
matches its certificate.
"""

import datetime as dt
import itertools
import secrets
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COMMON_NAME, "Alibaba Cloud IoT Operation CA1"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Alibaba Cloud IoT"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
    ]
)
DEVICE_SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COMMON_NAME, "Alibaba Cloud IoT Certificate"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Alibaba Cloud IoT"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
    ]
)
HUNDRED_YEARS_DAYS = 36500
KEY_POOL_SIZE = 8

KEY_TYPES = ("rsa", "ec")
KEY_FORMATS = ("pkcs1", "pkcs8")
TEXT_FORMS = ("pem", "base64-crlf")


@dataclass(frozen=True)
class CertificateSpec:
    """How a device certificate is issued and written out.

    ``key_type`` is ``rsa`` (2048 bits) or ``ec`` (P-256). ``key_format`` is ``pkcs1``
    ("RSA PRIVATE KEY"; for EC keys the traditional "EC PRIVATE KEY") or ``pkcs8``.
    ``text_form`` is ``pem`` or ``base64-crlf`` (the PEM body without header lines, CRLF
    line breaks). ``valid_days`` counts from now to notAfter (negative: already expired);
    None means the usual 100 years. ``pooled_key``: an RSA key from the CA's small key pool
    instead of a new one (several devices then share a key; their certificates differ).
    """

    key_type: str = "rsa"
    key_format: str = "pkcs1"
    text_form: str = "pem"
    valid_days: float | None = None
    pooled_key: bool = False


@dataclass(frozen=True)
class IssuedCertificate:
    """The strings QueryDeviceCert returns for one device."""

    cert_sn: str
    certificate: str
    private_key: str


def _headerless(pem: str) -> str:
    """The base64 body of a PEM block, without its header lines, with CRLF line breaks."""
    lines = [line for line in pem.strip().splitlines() if not line.startswith("-----")]
    return "\r\n".join(lines) + "\r\n"


def _serial_number() -> int:
    # A 19-digit decimal, the length of the CertSN values in Alibaba Cloud's examples.
    return secrets.randbits(62) | (1 << 62)


class EmulatorCA:
    """A self-signed RSA 2048 CA that issues device certificates like the real platform's."""

    def __init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_key = self._key.public_key()
        self._ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(CA_SUBJECT)
            .issuer_name(CA_SUBJECT)
            .public_key(public_key)
            .serial_number(_serial_number())
            .not_valid_before(now - dt.timedelta(days=3650))
            .not_valid_after(now + dt.timedelta(days=HUNDRED_YEARS_DAYS + 3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(self._ski, critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self._pool: dict[int, rsa.RSAPrivateKey] = {}
        self._pool_turn = itertools.count()
        self._pool_lock = threading.Lock()

    @property
    def certificate_pem(self) -> str:
        """The CA certificate as PEM (public data only)."""
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def _pooled_rsa_key(self) -> rsa.RSAPrivateKey:
        """The next key of the pool, round robin, generating each slot's key on first use."""
        with self._pool_lock:
            slot = next(self._pool_turn) % KEY_POOL_SIZE
            if slot not in self._pool:
                self._pool[slot] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._pool[slot]

    def issue(self, spec: CertificateSpec) -> IssuedCertificate:
        """Generate a key pair and a device certificate for it, written out as ``spec`` says."""
        now = dt.datetime.now(dt.UTC)
        if spec.valid_days is None:
            not_before = now - dt.timedelta(hours=1)
            not_after = now + dt.timedelta(days=HUNDRED_YEARS_DAYS)
        else:
            not_after = now + dt.timedelta(days=spec.valid_days)
            not_before = min(now, not_after) - dt.timedelta(days=365)

        if spec.key_type == "ec":
            key = ec.generate_private_key(ec.SECP256R1())
            key_encipherment = False
        elif spec.pooled_key:
            key = self._pooled_rsa_key()
            key_encipherment = True
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            key_encipherment = True
        serial = _serial_number()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(DEVICE_SUBJECT)
            .issuer_name(CA_SUBJECT)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=key_encipherment,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self._ski),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        key_format = (
            serialization.PrivateFormat.PKCS8
            if spec.key_format == "pkcs8"
            else serialization.PrivateFormat.TraditionalOpenSSL
        )
        cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, key_format, serialization.NoEncryption()
        ).decode("ascii")
        if spec.text_form == "base64-crlf":
            cert_pem, key_pem = _headerless(cert_pem), _headerless(key_pem)
        return IssuedCertificate(cert_sn=str(serial), certificate=cert_pem, private_key=key_pem)
