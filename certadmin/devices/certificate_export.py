"""Bulk certificate export: a ZIP of many devices' certificates, read from the inventory.

Certificates only. Each file is re-encoded from the parsed certificate (so nothing else the
stored text may carry comes along); the issuing CAs come from the configured CA bundle; a
manifest lists every device, exported or not and why. No private key, no DeviceSecret: the
inventory holds none, and nothing here asks the platform for anything.

The export is recorded in the audit trail as one event, written before the file is returned:
when the record cannot be written the caller gets ``AuditWriteError`` and no file. The event
and the file name say what was exported: a whole product (or every product), a selection by
the table's filters (each filter as applied, and the device count) or a batch. Built in
memory, capped at ``EXPORT_MAX_CERTIFICATES`` devices; nothing touches the disk.
"""

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.services import RequestContext, audit_record
from certadmin.certs import bundles
from certadmin.certs.loading import CertificateDecodeError, load_certificate
from certadmin.devices.downloads import DownloadFile, issuer_of
from certadmin.devices.models import CertificateRecord
from certadmin.iot.identity import DeviceRef
from certadmin.web.csv_safety import csv_cell
from certadmin.web.times import utc_stamp, utc_text

EXPORT_MAX_CERTIFICATES = 10_000
MANIFEST_HEADER = [
    "DeviceName",
    "ProductKey",
    "IotInstanceId",
    "CertSN",
    "serial",
    "sha256_fingerprint",
    "not_after",
    "file",
    "note",
]
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed: the same records give the same archive bytes
# Spreadsheets run cells that start with these as formulas.


class ExportRefused(Exception):
    """Nothing to export, or too much; ``message`` says why, for the person who asked."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ExportSource:
    """What is exported: the records, and what chose them, for the audit trail and the file
    name."""

    records: QuerySet[CertificateRecord]
    # The product the records belong to ("" when they span several), as the audit trail names it.
    product_key: str
    iot_instance_id: str
    # The API account of the records ("" when they span several).
    account: str = ""
    # The filters that chose the records, each as (name, value) as applied, e.g.
    # ("search", "dev-00"), ("expiry state", "days_8_30"); none: the whole product.
    filters: tuple[tuple[str, str], ...] = ()
    # The batch job whose devices these are (then no product and no filter).
    batch: int | None = None

    def scope_text(self) -> str:
        """What was exported, in English for the audit trail: ``whole product a1Fleet5kXz``,
        ``selection of a1Fleet5kXz (search "dev-00"; expiry state "days_8_30")``,
        ``all products``, ``batch 12``."""
        if self.batch is not None:
            return f"batch {self.batch}"
        where = self.product_key or "all products"
        if not self.filters:
            return f"whole product {where}" if self.product_key else where
        # JSON's quoting: a quote or backslash in a search stays unambiguous.
        applied = "; ".join(
            f"{name} {json.dumps(value, ensure_ascii=False)}" for name, value in self.filters
        )
        return f"selection of {where} ({applied})"

    def filename(self, *, devices: int, at: datetime) -> str:
        """``certificates-a1Fleet5kXz-all-20260301T080000Z.zip`` for a whole product,
        ``certificates-a1Fleet5kXz-selection-12-devices-<stamp>.zip`` for a filtered table,
        ``certificates-all-products-…`` across products, ``certificates-batch-12-<stamp>.zip``
        for a batch: two exports of different things never share a name. Safe characters
        only (``bundles.bundle_filename``)."""
        if self.batch is not None:
            what = f"batch-{self.batch}"
        elif self.filters:
            what = f"{self.product_key or 'all-products'}-selection-{devices}-devices"
        else:
            what = f"{self.product_key}-all" if self.product_key else "all-products"
        return bundles.bundle_filename(f"certificates-{what}-{utc_stamp(at)}", "", "", "zip")


_DETAIL_MAX_LENGTH = AuditEvent._meta.get_field("detail").max_length


def _counted(number: int, thing: str) -> str:
    return f"{number} {thing}" if number == 1 else f"{number} {thing}s"


def export_detail(*, source: ExportSource, devices: int, exported: int, filename: str) -> str:
    """The export event's detail, in English like every detail: what was exported, by which
    filters, how many devices and certificates, and the file's name. A search too long for the
    detail leaves the file name out, never the filter."""
    counted = (
        f"{source.scope_text()}: {_counted(devices, 'device')}, {_counted(exported, 'certificate')}"
    )
    detail = f"{counted} ({filename})"
    return detail if len(detail) <= _DETAIL_MAX_LENGTH else counted


def _write(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100000 | 0o644) << 16
    archive.writestr(info, data)


def _unique(name: str, taken: set[str]) -> str:
    # Two devices of one product on two instances would share a file name.
    stem, dot, ext = name.rpartition(".")
    candidate, number = name, 2
    while candidate in taken:
        candidate = f"{stem}-{number}{dot}{ext}"
        number += 1
    taken.add(candidate)
    return candidate


def _ca_filename(ca: x509.Certificate, taken: set[str]) -> str:
    names = ca.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else "issuing-ca"
    return _unique("ca/" + bundles.bundle_filename(common_name, "", "ca", "pem"), taken)


def certificates_zip(records: QuerySet[CertificateRecord]) -> tuple[bytes, int, int]:
    """The ZIP of ``records``' certificates, their issuing CAs and a manifest.

    Returns the archive, the number of devices and the number of certificates in it.
    """
    buffer = io.BytesIO()
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(MANIFEST_HEADER)
    taken: set[str] = set()
    issuers: dict[bytes, x509.Certificate | None] = {}
    devices = exported = 0
    with zipfile.ZipFile(buffer, "w") as archive:
        for record in records.iterator(chunk_size=500):
            devices += 1
            filename, note = "", ""
            if not record.certificate:
                note = _("no certificate recorded")
            else:
                try:
                    certificate = load_certificate(record.certificate)
                except CertificateDecodeError:
                    note = _("not exported: the certificate could not be decoded")
                else:
                    filename = _unique(
                        "certificates/"
                        + bundles.bundle_filename(
                            record.product_key, record.device_name, "certificate", "pem"
                        ),
                        taken,
                    )
                    _write(archive, filename, bundles.certificate_pem(certificate))
                    exported += 1
                    # Certificates of one CA share its name: check the chain once per issuer.
                    issuer_key = certificate.issuer.public_bytes()
                    if issuer_key not in issuers:
                        issuers[issuer_key] = issuer_of(certificate)
            writer.writerow(
                [
                    csv_cell(value)
                    for value in (
                        record.device_name,
                        record.product_key,
                        record.iot_instance_id,
                        record.cert_sn,
                        record.serial,
                        record.sha256_fingerprint,
                        utc_text(record.not_after),
                        filename,
                        note,
                    )
                ]
            )
        seen_cas: set[bytes] = set()
        for ca in issuers.values():
            if ca is None:
                continue
            der = bundles.certificate_der(ca)
            if der not in seen_cas:
                seen_cas.add(der)
                _write(archive, _ca_filename(ca, taken), bundles.certificate_pem(ca))
        _write(archive, "manifest.csv", manifest.getvalue().encode("utf-8"))
    return buffer.getvalue(), devices, exported


def certificate_export(*, actor, source: ExportSource, context: RequestContext) -> DownloadFile:
    """The ZIP of ``source``'s certificates, recorded as one certificate-export event first.

    Raises ``ExportRefused`` (no device, or over ``EXPORT_MAX_CERTIFICATES``) and
    ``AuditWriteError`` (then no file).
    """
    count = source.records.order_by().count()
    if count == 0:
        raise ExportRefused(_("No device matches: there is nothing to export."))
    if count > EXPORT_MAX_CERTIFICATES:
        raise ExportRefused(
            _(
                "%(count)s devices match; at most %(limit)s can be exported at once. "
                "Narrow the filter."
            )
            % {"count": f"{count:,}", "limit": f"{EXPORT_MAX_CERTIFICATES:,}"}
        )
    data, devices, exported = certificates_zip(source.records)
    filename = source.filename(devices=devices, at=timezone.now())
    audit_record(
        action=AuditAction.CERT_EXPORT,
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        context=context,
        device=DeviceRef(source.product_key, "", source.iot_instance_id, source.account),
        detail=export_detail(source=source, devices=devices, exported=exported, filename=filename),
    )
    return DownloadFile(filename, "application/zip", data)
