"""Serialise a device certificate (and, for custodians, its key) into downloadable files.

Everything is built in memory and returned as bytes: key material never touches the disk.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from certadmin.certs.details import certificate_details
from certadmin.certs.fingerprints import private_key_matches

PASSPHRASE_MIN_LENGTH = 12
# PBKDF2-SHA256 rounds for the PKCS#12 key and certificate bags (and its MAC). OpenSSL 3 uses
# 2048 by default; more slows offline guessing of the passphrase at little cost to one download.
PKCS12_KDF_ROUNDS = 100_000
FILENAME_MAX_LENGTH = 150

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed so the same inputs give the same archive bytes
_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._@-]")


class BundleError(ValueError):
    """A bundle cannot be built from these inputs (short passphrase, key not matching, ...)."""


def certificate_pem(cert: x509.Certificate) -> bytes:
    """The certificate as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def certificate_der(cert: x509.Certificate) -> bytes:
    """The certificate as DER."""
    return cert.public_bytes(serialization.Encoding.DER)


def certificate_chain_pem(cert: x509.Certificate, issuer: x509.Certificate | None) -> bytes:
    """The certificate followed by its issuing CA (when known), as concatenated PEM."""
    chain = certificate_pem(cert)
    if issuer is not None:
        chain += certificate_pem(issuer)
    return chain


def private_key_pem(key: PrivateKeyTypes) -> bytes:
    """The private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def encrypted_private_key_pem(key: PrivateKeyTypes, passphrase: str) -> bytes:
    """The private key as PKCS#8 PEM encrypted with ``passphrase`` ("ENCRYPTED PRIVATE KEY":
    PBES2, PBKDF2-HMAC-SHA256 and AES-256-CBC), as ``openssl pkey`` and TLS clients read it.

    Raises BundleError for a passphrase shorter than PASSPHRASE_MIN_LENGTH.
    """
    _require_passphrase(passphrase)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode("utf-8")),
    )


def pkcs12_bundle(
    *,
    cert: x509.Certificate,
    key: PrivateKeyTypes,
    issuer: x509.Certificate | None,
    passphrase: str,
    friendly_name: str,
) -> bytes:
    """A PKCS#12 (.p12) file protected by ``passphrase`` with PBES2/AES-256-CBC and SHA-256 MAC.

    Opens with OpenSSL 3 without ``-legacy``. Raises BundleError for a passphrase shorter than
    PASSPHRASE_MIN_LENGTH or a key that does not belong to the certificate.
    """
    _require_passphrase(passphrase)
    _require_matching_key(cert, key)
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(PKCS12_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(passphrase.encode("utf-8"))
    )
    try:
        return pkcs12.serialize_key_and_certificates(
            name=friendly_name.encode("utf-8") or None,
            key=key,
            cert=cert,
            cas=[issuer] if issuer is not None else None,
            encryption_algorithm=encryption,
        )
    except (TypeError, ValueError) as exc:
        # e.g. a key type PKCS#12 cannot carry; the message names the type, not the key
        raise BundleError(f"cannot build PKCS#12: {type(key).__name__} not supported") from exc


def zip_bundle(
    *,
    cert: x509.Certificate,
    key: PrivateKeyTypes,
    issuer: x509.Certificate | None,
    product_key: str,
    device_name: str,
    iot_instance_id: str | None,
    cert_sn: str,
    mqtt_endpoint: str,
    key_passphrase: str | None,
) -> bytes:
    """A ZIP with the certificate, PKCS#8 key, CA (when known), device.json and README.txt.

    The key is encrypted with ``key_passphrase``; only ``None`` (a choice the caller must make
    explicitly) leaves it unencrypted, and the README then says so. Raises BundleError when the
    key does not belong to the certificate or the passphrase is too short.
    """
    _require_matching_key(cert, key)
    encrypted = key_passphrase is not None
    key_pem = encrypted_private_key_pem(key, key_passphrase) if encrypted else private_key_pem(key)
    details = certificate_details(cert)
    device = {
        "product_key": product_key,
        "device_name": device_name,
        "iot_instance_id": iot_instance_id,
        "cert_sn": cert_sn,
        "certificate_sha256": details.sha256_fingerprint,
        "certificate_sha1": details.sha1_fingerprint,
        "public_key_sha256": details.public_key_sha256,
        "not_before": _iso_utc(details.not_before),
        "not_after": _iso_utc(details.not_after),
        "mqtt_endpoint": mqtt_endpoint,
        "private_key_encrypted": encrypted,
        "files": {
            "certificate.pem": "device certificate (client certificate for TLS)",
            "private-key.pem": (
                "device private key, PKCS#8, encrypted with the passphrase chosen at download"
                if encrypted
                else "device private key, PKCS#8, NOT encrypted: keep it secret"
            ),
            **(
                {"ca.pem": "certificate of the CA that issued the device certificate"}
                if issuer is not None
                else {}
            ),
        },
        "hints": [
            "Connect with MQTT over TLS to mqtt_endpoint (host:port) presenting certificate.pem "
            "and private-key.pem as the client certificate and key.",
            "With X.509 authentication the certificate identifies the device: Alibaba's Link SDK "
            "is configured with empty ProductKey, DeviceName and DeviceSecret.",
            "Delete these files once the device is provisioned.",
        ],
    }
    files: list[tuple[str, bytes, int]] = [
        ("certificate.pem", certificate_pem(cert), 0o644),
        ("private-key.pem", key_pem, 0o600),
    ]
    if issuer is not None:
        files.append(("ca.pem", certificate_pem(issuer), 0o644))
    files.append(
        ("device.json", (json.dumps(device, indent=2, ensure_ascii=False) + "\n").encode(), 0o644)
    )
    files.append(
        (
            "README.txt",
            _readme(product_key, device_name, issuer is not None, mqtt_endpoint, encrypted),
            0o644,
        )
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data, mode in files:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100000 | mode) << 16  # regular file with these permissions
            archive.writestr(info, data)
    return buffer.getvalue()


def bundle_filename(product_key: str, device_name: str, kind: str, ext: str) -> str:
    """``<ProductKey>_<DeviceName>.<kind>.<ext>``, safe as a file name on every file system.

    Characters outside ``[A-Za-z0-9._@-]`` become ``_``; no leading dot; at most
    FILENAME_MAX_LENGTH characters; never empty.
    """
    suffix = ".".join(part for part in (_filename_part(kind), _filename_part(ext)) if part)
    stem = (
        "_".join(
            part for part in (_filename_part(product_key), _filename_part(device_name)) if part
        )
        or "device"
    )
    stem = stem.lstrip(".") or "device"
    room = FILENAME_MAX_LENGTH - (len(suffix) + 1 if suffix else 0)
    if room < 1:  # an absurd kind/ext: keep the name, drop the suffix rather than the name
        suffix, room = "", FILENAME_MAX_LENGTH
    stem = stem[:room].rstrip(".") or "device"
    return f"{stem}.{suffix}" if suffix else stem


def _filename_part(text: str) -> str:
    return _UNSAFE_FILENAME_CHARS.sub("_", text or "").strip(".")


def _require_passphrase(passphrase: str) -> None:
    if len(passphrase) < PASSPHRASE_MIN_LENGTH:
        raise BundleError(f"passphrase must be at least {PASSPHRASE_MIN_LENGTH} characters")


def _require_matching_key(cert: x509.Certificate, key: PrivateKeyTypes) -> None:
    if not private_key_matches(cert, key):
        raise BundleError("the private key does not belong to the certificate")


def _iso_utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


_KEY_LINE_ENCRYPTED = """\
private-key.pem  The device's private key (PKCS#8, encrypted with the passphrase chosen
                 when this archive was downloaded; certadmin does not keep it). Anyone
                 holding the key and the passphrase can act as this device: copy it only
                 onto the device, and delete this archive once the device is set up.
                 To decrypt it for a client that cannot read encrypted keys:
                     openssl pkey -in private-key.pem -out device-key.pem
"""
_KEY_LINE_PLAIN = """\
private-key.pem  The device's private key (PKCS#8, NOT encrypted). Anyone holding it can act
                 as this device: copy it only onto the device, never into email or chat,
                 and delete this archive once the device is set up.
"""


def _readme(
    product_key: str, device_name: str, has_ca: bool, mqtt_endpoint: str, encrypted: bool
) -> bytes:
    ca_line = (
        "ca.pem           The certificate of the CA that issued certificate.pem. Some clients\n"
        "                 want it alongside the device certificate.\n"
        if has_ca
        else ""
    )
    key_line = _KEY_LINE_ENCRYPTED if encrypted else _KEY_LINE_PLAIN
    mqtt_host, _, mqtt_port = mqtt_endpoint.rpartition(":")
    if not mqtt_port.isdigit():
        mqtt_host, mqtt_port = mqtt_endpoint, "1883"
    files = key_line + ca_line
    passphrase_note = " (and the passphrase)" if encrypted else ""
    text = f"""Device credentials for {product_key} / {device_name}
==========================================================

This archive lets one device authenticate to Alibaba Cloud IoT Platform with its X.509
certificate.

certificate.pem  The device certificate. Present it as the TLS client certificate.
{files}device.json      Identifiers and fingerprints (ProductKey, DeviceName, CertSN, SHA-256
                 of the certificate and of the public key, validity dates) to check that
                 you have the right files.
README.txt       This file.

Using them with an MQTT client
------------------------------
Connect with MQTT over TLS (mutual TLS: the server checks this certificate) to:

    host {mqtt_host}
    port {mqtt_port}

and configure the client with certificate.pem as its certificate and private-key.pem as its
key{passphrase_note}. With X.509 authentication the certificate identifies the device:
Alibaba's Link SDK for C is configured with empty ProductKey, DeviceName and DeviceSecret
and this host and port. See the Alibaba Cloud IoT Platform documentation, "Use X.509
certificates to authenticate devices", for the SDK settings.
"""
    return text.encode("utf-8")
