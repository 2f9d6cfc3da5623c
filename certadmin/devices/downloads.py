"""Files users download: the certificate alone (PEM, DER, chain) or with its private key
(PKCS#8 PEM, PKCS#12, ZIP bundle). Everything is built in memory; nothing touches the disk."""

from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.debug import sensitive_variables

from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.services import RequestContext, audit_record
from certadmin.certs import bundles
from certadmin.certs.chain_check import check_chain
from certadmin.certs.fingerprints import private_key_matches
from certadmin.devices.forms import PassphraseContext
from certadmin.devices.inventory import CERTIFICATE_WITHHELD
from certadmin.devices.key_release import KeyMaterial, ReleaseInputError, key_release
from certadmin.devices.platform import ca_certificates
from certadmin.devices.services import certificate_lookup
from certadmin.iot.client import IotClient
from certadmin.iot.identity import DeviceRef
from certadmin.iot.results import CertStatus

CERTIFICATE_FORMATS = ("pem", "der", "chain")
KEY_FORMATS = ("key", "p12", "zip", "zip-plain")
# Formats that protect the key with the passphrase the user chose at download.
PASSPHRASE_FORMATS = ("p12", "zip")


@dataclass(frozen=True)
class DownloadFile:
    filename: str
    content_type: str
    data: bytes = b""

    def __repr__(self) -> str:
        return f"DownloadFile({self.filename!r}, {len(self.data)} bytes)"


class DownloadUnavailable(Exception):
    """The certificate cannot be downloaded (not ready, undecodable); ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def issuer_of(certificate: x509.Certificate) -> x509.Certificate | None:
    """The issuing CA from the configured bundle, when the chain verifies.

    An expired certificate is checked as of its last valid moment: its chain still names the
    CA that signed it.
    """
    cas = list(ca_certificates())
    chain = check_chain(certificate, cas, timezone.now())
    if chain.status != "verified" and timezone.now() > certificate.not_valid_after_utc:
        chain = check_chain(certificate, cas, certificate.not_valid_after_utc)
    return chain.issuer if chain.status == "verified" else None


def private_key_filename(device: DeviceRef) -> str:
    """The file name of the device's private key alone, wherever it is saved from."""
    return key_file_name(device, "key")


# Each key download (KEY_FORMATS): what its file is called, and its extension.
_KEY_FILES = {
    "key": ("private-key", "pem"),
    "p12": ("bundle", "p12"),
    "zip": ("bundle", "zip"),
    "zip-plain": ("bundle-unencrypted", "zip"),
}


def key_file_name(device: DeviceRef, kind: str) -> str:
    """The file name of the device's ``kind`` key download (one of KEY_FORMATS)."""
    what, ext = _KEY_FILES[kind]
    return bundles.bundle_filename(device.product_key, device.device_name, what, ext)


def passphrase_context(*, user, device: DeviceRef) -> PassphraseContext:
    """What a passphrase protecting ``device``'s key for ``user`` must not be made of: the
    person's user name, names and email, the device's names and every key file's name (what
    anyone holding the file knows), and the person's login password."""
    names = [key_file_name(device, kind) for kind in KEY_FORMATS]
    words = [
        getattr(user, "username", ""),
        getattr(user, "first_name", ""),
        getattr(user, "last_name", ""),
        getattr(user, "email", ""),
        getattr(user, "email", "").partition("@")[0],
        device.product_key,
        device.device_name,
        device.iot_instance_id,
        *names,
        *(name.rpartition(".")[0] for name in names),
    ]
    return PassphraseContext(user=user, words=tuple(word for word in words if word))


def certificate_file(device: DeviceRef, certificate: x509.Certificate, kind: str) -> DownloadFile:
    """The certificate as PEM, DER, or PEM followed by its issuing CA."""
    name = bundles.bundle_filename
    if kind == "der":
        return DownloadFile(
            name(device.product_key, device.device_name, "certificate", "der"),
            "application/pkix-cert",
            bundles.certificate_der(certificate),
        )
    if kind == "chain":
        return DownloadFile(
            name(device.product_key, device.device_name, "chain", "pem"),
            "application/x-pem-file",
            bundles.certificate_chain_pem(certificate, issuer_of(certificate)),
        )
    return DownloadFile(
        name(device.product_key, device.device_name, "certificate", "pem"),
        "application/x-pem-file",
        bundles.certificate_pem(certificate),
    )


def certificate_download(
    *, actor, device: DeviceRef, kind: str, context: RequestContext, client: IotClient | None = None
) -> DownloadFile:
    """The device's certificate in ``kind`` format, recorded as a certificate download.

    Uses the inventory when it is fresh (a certificate is public). Raises
    ``DownloadUnavailable``, ``IotError``, or ``AuditWriteError`` (then no file).
    """
    if kind not in CERTIFICATE_FORMATS:
        raise ValueError(f"unknown certificate format {kind!r}")
    view = certificate_lookup(device=device, user=actor, client=client)
    if view.status != CertStatus.READY or view.decoded is None:
        raise DownloadUnavailable(gettext("the certificate is not ready yet"))
    if view.decoded.withheld is not None:
        # Its bytes carry the key: served to no one, like a certificate that cannot be parsed.
        raise DownloadUnavailable(gettext(CERTIFICATE_WITHHELD))
    if view.decoded.certificate is None:
        raise DownloadUnavailable(
            gettext("the certificate could not be decoded: %(error)s")
            % {"error": view.decoded.error}
        )
    file = certificate_file(device, view.decoded.certificate, kind)
    audit_record(
        action=AuditAction.CERT_DOWNLOAD,
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        context=context,
        device=device,
        cert_sn=view.cert_sn,
        certificate_sha256=view.decoded.details.sha256_fingerprint,
        detail=file.filename,
        platform_request_id=view.request_id,
    )
    return file


@sensitive_variables("passphrase", "material")
def key_bundle_download(
    *,
    actor,
    device: DeviceRef,
    kind: str,
    reason: str,
    passphrase: str,
    context: RequestContext,
    client: IotClient | None = None,
    note: str = "",
    then: Callable[[AuditEvent], None] | None = None,
) -> DownloadFile:
    """A download containing the private key, audited exactly like a reveal.

    ``kind`` is one of KEY_FORMATS: "zip" encrypts the key in the archive with ``passphrase``,
    "zip-plain" is the archive with the key unencrypted (recorded as such). The caller has
    checked permission, reason, re-authentication and the passphrase. ``note`` follows the
    format in the record's detail (``p12; request 7``); ``then`` as in ``key_release``.
    Raises ``KeyReleaseError`` (audited as failed) or ``AuditWriteError`` (no file).
    """
    if kind not in KEY_FORMATS:
        raise ValueError(f"unknown key bundle format {kind!r}")

    def build(material: KeyMaterial) -> DownloadFile:
        cert, key = material.certificate, material.private_key
        # English for the audit trail; key_release shows the user the translation.
        if material.result.certificate_withheld is not None:
            raise ReleaseInputError(CERTIFICATE_WITHHELD)
        if cert is None:
            raise ReleaseInputError(gettext_noop("the certificate could not be decoded"))
        if key is None:
            raise ReleaseInputError(gettext_noop("the private key could not be decoded"))
        pk, dn = device.product_key, device.device_name
        try:
            if kind == "key":
                if not private_key_matches(cert, key):
                    raise ReleaseInputError(
                        gettext_noop("the private key does not belong to the certificate")
                    )
                return DownloadFile(
                    private_key_filename(device),
                    "application/x-pem-file",
                    bundles.private_key_pem(key),
                )
            issuer = issuer_of(cert)
            if kind == "p12":
                return DownloadFile(
                    key_file_name(device, kind),
                    "application/x-pkcs12",
                    bundles.pkcs12_bundle(
                        cert=cert,
                        key=key,
                        issuer=issuer,
                        passphrase=passphrase,
                        friendly_name=dn,
                    ),
                )
            encrypted = kind == "zip"
            return DownloadFile(
                key_file_name(device, kind),
                "application/zip",
                bundles.zip_bundle(
                    cert=cert,
                    key=key,
                    issuer=issuer,
                    product_key=pk,
                    device_name=dn,
                    iot_instance_id=device.iot_instance_id or None,
                    cert_sn=material.result.cert_sn,
                    mqtt_endpoint=settings.IOT_MQTT_ENDPOINT,
                    key_passphrase=passphrase if encrypted else None,
                ),
            )
        except bundles.BundleError as error:
            raise ReleaseInputError(str(error)) from None

    return key_release(
        actor=actor,
        device=device,
        reason=reason,
        context=context,
        action=AuditAction.KEY_DOWNLOAD,
        detail=f"{kind}; {note}" if note else kind,
        build=build,
        client=client,
        then=then,
    )
