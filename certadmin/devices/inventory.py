"""The inventory: the last known public state of each device's certificate.

Certificate pages, product syncs and batch lookups write it; device lists, searches and the
expiry overview read it. It knows which devices the platform has: a lookup the platform answers
with "no such device" or "no such product" (``IotError.is_not_found``) marks the device's
record removed instead of recording the failure, and a product sync whose listing was complete
marks removed the records of that product's devices it did not list
(``inventory_unlisted_mark_removed``). A removed record is kept (``removed_at``), left out of
lists, counts and exports unless asked for (``models.LISTED_Q``), and a listing or lookup that
finds the device again clears the mark.
Everything stored is public: the private key the API returns with
every certificate is used for one thing, checking that it matches the certificate, and is
dropped; a DeviceSecret never reaches this module (``DeviceListing`` and ``DeviceDetail`` have
none).
"""

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from django.db import connections, models, router, transaction
from django.db.models import AutoField, Q
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery
from django.utils import timezone
from django.utils.translation import gettext_noop
from django.views.decorators.debug import sensitive_variables

from certadmin.certs.chain_check import check_chain
from certadmin.certs.details import CertificateDetails, certificate_details
from certadmin.certs.fingerprints import private_key_matches
from certadmin.certs.key_material import WithheldCertificate
from certadmin.certs.loading import (
    CertificateDecodeError,
    PrivateKeyDecodeError,
    load_certificate,
    load_private_key,
)
from certadmin.devices.models import (
    LISTED_Q,
    CertificateRecord,
    InventoryVersion,
    NodeType,
    default_account_name,
)
from certadmin.devices.platform import ca_certificates
from certadmin.iot.client import IotClient
from certadmin.iot.errors import IotBusinessError
from certadmin.iot.identity import DeviceRef
from certadmin.iot.results import DeviceCert, DeviceDetail, DeviceListing

_CODE_LENGTH = CertificateRecord._meta.get_field("last_error_code").max_length


@dataclass(frozen=True)
class DecodedCertificate:
    """A certificate string from the API, decoded; or why it could not be.

    Only what was parsed as a certificate is ever kept: ``text`` is the parsed certificate
    re-encoded as PEM, or "" when the string could not be parsed. The string as received is
    known only by its length and the SHA-256 of its bytes (``received_length``,
    ``received_sha256``): whatever else it carried (a private key in any shape) is never
    shown, stored or logged.

    A certificate that parses but carries the device's private key is treated exactly like
    one that cannot be parsed: ``withheld`` says where the key is and gives its fingerprint.
    """

    text: str
    certificate: x509.Certificate | None
    details: CertificateDetails | None
    error: str
    received_length: int = 0
    received_sha256: str = ""
    withheld: WithheldCertificate | None = None

    @property
    def ok(self) -> bool:
        return self.details is not None

    def __repr__(self) -> str:
        return f"DecodedCertificate(ok={self.ok}, received_length={self.received_length})"


def _storable(text: str) -> str:
    # PostgreSQL text cannot hold NUL; the platform's strings are not guaranteed free of it.
    return text.replace("\x00", "\ufffd")


@sensitive_variables("text")
def certificate_decode(text: str) -> DecodedCertificate:
    """Decode a certificate string as the API returned it, never raising.

    The result holds the re-encoded certificate, never the received text (see
    ``DecodedCertificate``).
    """
    length = len(text)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    try:
        cert = load_certificate(text)
        details = certificate_details(cert)
    except CertificateDecodeError as error:
        return DecodedCertificate("", None, None, str(error), length, digest)
    # The PEM from the DER the fingerprint is taken from (encoded once, not a second time).
    return DecodedCertificate(details.pem, cert, details, "", length, digest)


@sensitive_variables("private_key_text", "key")
def key_matches_certificate(
    certificate: x509.Certificate | None, private_key_text: str
) -> bool | None:
    """Whether the key matches the certificate; None when either is missing or unreadable."""
    if certificate is None or not private_key_text:
        return None
    try:
        # Without OpenSSL's RSA validation (its primality tests were more than half of a
        # synced device's CPU): the key only answers whether it fits, and private_key_matches
        # checks its numbers itself. The key is never used to sign or released from here.
        key = load_private_key(private_key_text, validate=False)
    except PrivateKeyDecodeError:
        return None
    return private_key_matches(certificate, key)


def inventory_changed(*, account: str, product_key: str, iot_instance_id: str) -> None:
    """Give one product's inventory a new version: every writer of its records calls it in the
    transaction that writes them (see ``devices.expiry_cache``)."""
    product_version_renew(
        InventoryVersion,
        account=account or default_account_name(),
        product_key=product_key,
        iot_instance_id=iot_instance_id,
    )


def product_version_renew(
    model: type[models.Model], *, account: str, product_key: str, iot_instance_id: str
) -> None:
    """Upsert a new random version for one product in ``model`` (a table unique on account,
    ProductKey and instance with a ``version`` column: the inventory's, the findings')."""
    upsert_one(
        model(
            account=account,
            product_key=product_key,
            iot_instance_id=iot_instance_id,
            version=secrets.randbits(62),
        ),
        unique_fields=["account", "product_key", "iot_instance_id"],
        update_fields=["version"],
    )


# Upserts compiled once, by model, database, key and columns written: a sync writes a record
# of some fifty columns and its product's version for every device, and Django compiling the
# same statement again each time cost more CPU than the rest of the write (issue 24).
_UPSERTS: dict[tuple, str | None] = {}


def upsert_one(obj: models.Model, *, unique_fields: list[str], update_fields: list[str]) -> None:
    """``bulk_create([obj], update_conflicts=True, unique_fields=..., update_fields=...)`` of a
    new instance (no pk yet), with the statement compiled once and only ``obj``'s values bound
    each time; ``obj``'s pk is set from the row written where the database returns it, as
    ``bulk_create`` does. The statement is taken over only when the values bound are the ones
    Django bound when it compiled it (else every call goes through ``bulk_create``)."""
    model = type(obj)
    opts = model._meta
    alias = router.db_for_write(model, instance=obj)
    connection = connections[alias]
    key = (opts.label, alias, connection.vendor, tuple(unique_fields), tuple(update_fields))
    fields = [
        field
        for field in opts.concrete_fields
        if not field.generated and not isinstance(field, AutoField)
    ]
    if key not in _UPSERTS:
        _UPSERTS[key] = _upsert_compiled(obj, fields, alias, unique_fields, update_fields)
    sql = _UPSERTS[key]
    if sql is None:
        model._base_manager.using(alias).bulk_create(
            [obj], update_conflicts=True, unique_fields=unique_fields, update_fields=update_fields
        )
        return
    params = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if connection.features.can_return_rows_from_bulk_insert:
            obj.pk = cursor.fetchone()[0]
    obj._state.adding = False
    obj._state.db = alias


def _upsert_compiled(
    obj: models.Model, fields: list, alias: str, unique_fields: list[str], update_fields: list[str]
) -> str | None:
    """The upsert's SQL as ``bulk_create`` makes it for ``obj`` (returning the pk where the
    database can), or None when its parameters are not simply the fields' values in order."""
    opts = type(obj)._meta
    connection = connections[alias]
    query = InsertQuery(
        type(obj),
        on_conflict=OnConflict.UPDATE,
        update_fields=[opts.get_field(name) for name in update_fields],
        unique_fields=[opts.get_field(name) for name in unique_fields],
    )
    query.insert_values(fields, [obj])
    compiler = query.get_compiler(using=alias)
    returning = connection.features.can_return_rows_from_bulk_insert
    compiler.returning_fields = [opts.pk] if returning else None
    statements = compiler.as_sql()
    if len(statements) != 1:
        return None
    sql, params = statements[0]
    mine = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    if list(params) != mine:
        return None
    return sql


# The record's key: one device of one API account (the unique constraint upserts go by).
RECORD_KEY = ["account", "product_key", "device_name", "iot_instance_id"]


def _record_write(
    *, account: str, product_key: str, device_name: str, iot_instance_id: str, fields: dict
) -> CertificateRecord:
    """Write ``fields`` into one device's record (created when the inventory has none) and
    change its product's inventory version, in one transaction: one ``INSERT ... ON CONFLICT
    DO UPDATE`` of the record (a sync writes one per device). Returns the record as written:
    its key, ``fields`` and its pk; the columns not written are not read back."""
    record = CertificateRecord(
        account=account,
        product_key=product_key,
        device_name=device_name,
        iot_instance_id=iot_instance_id,
        **fields,
    )
    with transaction.atomic():
        upsert_one(record, unique_fields=RECORD_KEY, update_fields=list(fields))
        inventory_changed(account=account, product_key=product_key, iot_instance_id=iot_instance_id)
    return record


def decode_if_any(text: str) -> DecodedCertificate | None:
    """``certificate_decode(text)``, or None for an empty text (no certificate issued)."""
    return certificate_decode(text) if text else None


# English for the audit trail and the CLI, like every decoding error; pages translate it.
CERTIFICATE_WITHHELD = gettext_noop(
    "the certificate carries the device's private key, so it is withheld"
)


def device_cert_decode(result: DeviceCert) -> DecodedCertificate | None:
    """The answer's certificate as the rest of the dashboard uses it: decoded; None when none
    was issued; or, when it carried the device's private key (``result.certificate_withheld``),
    a result that is not ``ok`` and says so (nothing of it to show, store or serve)."""
    if result.certificate_withheld is not None:
        return DecodedCertificate(
            "", None, None, CERTIFICATE_WITHHELD, withheld=result.certificate_withheld
        )
    return decode_if_any(result.certificate)


def certificate_key_fields(details: CertificateDetails | None) -> dict[str, object]:
    """The inventory's key and signature columns (``public_key_sha256``, ``key_algorithm``,
    ``key_size``, ``key_curve``, ``signature_hash``) of a decoded certificate; empty without
    one. The one writer of these columns: a lookup's store and the backfill of migration
    devices 0012 both use it."""
    if details is None:
        return {
            "public_key_sha256": "",
            "key_algorithm": "",
            "key_size": None,
            "key_curve": "",
            "signature_hash": "",
        }
    return {
        "public_key_sha256": details.public_key_sha256,
        "key_algorithm": details.public_key_algorithm[:32],
        "key_size": details.public_key_size,
        "key_curve": (details.public_key_curve or "")[:32],
        "signature_hash": details.signature_hash[:16],
    }


def _listing_fields(listing: DeviceListing | None) -> dict[str, str]:
    if listing is None:
        return {}
    return {
        "nickname": _storable(listing.nickname)[:128],
        "device_status": _storable(listing.device_status)[:32],
    }


def _looked_up_fields(listing: DeviceListing | None) -> dict[str, object]:
    # A lookup's write: the listing's fields, and the row's UtcModified, which an incremental
    # sync compares with the next listing's (kept only once the lookup is recorded, so a
    # device whose lookup never happened is not taken as up to date).
    fields: dict[str, object] = {**_listing_fields(listing), "removed_at": None}
    if listing is not None and listing.modified:
        fields["listing_modified"] = _storable(listing.modified)[:64]
    return fields


def inventory_store(
    *,
    result: DeviceCert,
    key_matches: bool | None,
    decoded: DecodedCertificate | None = None,
    listing: DeviceListing | None = None,
    account: str = "",
) -> CertificateRecord:
    """Remember the public part of a lookup (never the key), clearing any earlier error.

    ``account``: the API account the lookup was made with ("" for the default account).

    ``decoded`` is ``result.certificate`` already decoded, when the caller has it;
    ``listing`` (the device's QueryDevice row) supplies nickname and device status.
    """
    if decoded is None:
        decoded = device_cert_decode(result)
    details = decoded.details if decoded else None
    now = timezone.now()
    chain = (
        check_chain(decoded.certificate, list(ca_certificates()), now).status
        if decoded and decoded.certificate is not None
        else ""
    )
    return _record_write(
        account=account or default_account_name(),
        product_key=result.product_key,
        device_name=result.device_name,
        iot_instance_id=result.iot_instance_id or "",
        fields={
            **_looked_up_fields(listing),
            "status": int(result.status),
            "cert_sn": _storable(result.cert_sn)[:128],
            # The parsed certificate re-encoded, never the received text ("" when unparsable).
            "certificate": decoded.text if decoded else "",
            "sha256_fingerprint": details.sha256_fingerprint if details else "",
            "serial": details.serial_hex[:128] if details else "",
            "subject": details.subject_text if details else "",
            "issuer": details.issuer_text if details else "",
            "not_before": details.not_before if details else None,
            "not_after": details.not_after if details else None,
            **certificate_key_fields(details),
            "key_matches": key_matches,
            "chain_status": chain,
            "last_error_code": "",
            "request_id": _storable(result.request_id)[:128],
            "last_checked": now,
        },
    )


def inventory_listing_store(
    *,
    product_key: str,
    iot_instance_id: str,
    listings: Iterable[DeviceListing],
    account: str = "",
) -> int:
    """Record the devices a product sync listed (one QueryDevice page): nickname, device
    status and when they were listed, in bulk. A device new to the inventory is "never
    checked" (``last_checked`` empty); one already there keeps its certificate fields, and
    loses its removed mark (the platform lists it again). Returns how many were listed."""
    now = timezone.now()
    records = {
        listing.device_name: CertificateRecord(
            account=account or default_account_name(),
            product_key=product_key,
            device_name=listing.device_name,
            iot_instance_id=iot_instance_id,
            listed_at=now,
            **_listing_fields(listing),
        )
        for listing in listings
    }
    with transaction.atomic():
        CertificateRecord.objects.bulk_create(
            records.values(),
            update_conflicts=True,
            unique_fields=RECORD_KEY,
            update_fields=["nickname", "device_status", "listed_at", "removed_at"],
            batch_size=500,
        )
        inventory_changed(account=account, product_key=product_key, iot_instance_id=iot_instance_id)
    return len(records)


_FIRMWARE_LENGTH = CertificateRecord._meta.get_field("firmware_version").max_length
CONTEXT_FIELDS = ["node_type", "firmware_version", "activated_at", "context_checked_at"]


def inventory_context_store(
    *,
    product_key: str,
    iot_instance_id: str,
    details: Iterable[DeviceDetail],
    account: str = "",
) -> int:
    """Record what ``BatchQueryDeviceDetail`` said of a product's devices: node type, firmware
    version and activation time, checked now (``context_checked_at``), in bulk. The device
    status stays the listing's. A device the answer left out keeps what it had. Returns how
    many devices were recorded."""
    node_types = set(NodeType.values)
    now = timezone.now()
    records = {
        detail.device_name: CertificateRecord(
            account=account or default_account_name(),
            product_key=product_key,
            device_name=detail.device_name,
            iot_instance_id=iot_instance_id,
            node_type=detail.node_type if detail.node_type in node_types else None,
            firmware_version=_storable(detail.firmware_version)[:_FIRMWARE_LENGTH],
            activated_at=detail.activated,
            context_checked_at=now,
        )
        for detail in details
    }
    if not records:
        return 0
    with transaction.atomic():
        CertificateRecord.objects.bulk_create(
            records.values(),
            update_conflicts=True,
            unique_fields=RECORD_KEY,
            update_fields=CONTEXT_FIELDS,
            batch_size=500,
        )
        inventory_changed(account=account, product_key=product_key, iot_instance_id=iot_instance_id)
    return len(records)


def inventory_store_failure(
    *, device: DeviceRef, code: str, listing: DeviceListing | None = None
) -> CertificateRecord:
    """Record that a lookup of ``device`` failed with the platform's error ``code``.

    The certificate fields of the last good lookup, if any, are kept; ``last_checked`` is now.
    """
    written = _record_write(
        account=device.account,
        product_key=device.product_key,
        device_name=device.device_name,
        iot_instance_id=device.iot_instance_id,
        fields={
            **_looked_up_fields(listing),
            "last_error_code": _storable(code)[:_CODE_LENGTH] or "UnknownError",
            "last_checked": timezone.now(),
        },
    )
    # Read back whole: the certificate fields kept from the last good lookup are the caller's.
    return CertificateRecord.objects.get(pk=written.pk)


def inventory_mark_removed(*, device: DeviceRef) -> int:
    """Mark ``device``'s record removed (the platform says it does not exist); a device the
    inventory never had gets no record. Returns how many records were marked."""
    with transaction.atomic():
        marked = CertificateRecord.objects.filter(
            LISTED_Q,
            account=device.account or default_account_name(),
            product_key=device.product_key,
            device_name=device.device_name,
            iot_instance_id=device.iot_instance_id,
        ).update(removed_at=timezone.now())
        if marked:
            inventory_changed(
                account=device.account,
                product_key=device.product_key,
                iot_instance_id=device.iot_instance_id,
            )
    return marked


def inventory_unlisted_mark_removed(
    *,
    account: str,
    product_key: str,
    iot_instance_id: str,
    listing_started: datetime,
) -> int:
    """Mark removed the records of one product's devices that a complete listing (QueryDevice,
    every page, begun at ``listing_started``) did not contain: the platform no longer has them.
    The listing's pages stamped the devices they had (``inventory_listing_store``); call this
    only when the listing was complete. The records are kept, with their last certificate.

    A record checked since the listing began is left alone: a lookup found that device after
    the listing may have passed it by. Returns how many were marked."""
    with transaction.atomic():
        marked = (
            CertificateRecord.objects.filter(
                LISTED_Q,
                account=account or default_account_name(),
                product_key=product_key,
                iot_instance_id=iot_instance_id,
            )
            .filter(Q(listed_at__isnull=True) | Q(listed_at__lt=listing_started))
            .filter(Q(last_checked__isnull=True) | Q(last_checked__lt=listing_started))
            .update(removed_at=timezone.now())
        )
        if marked:
            inventory_changed(
                account=account, product_key=product_key, iot_instance_id=iot_instance_id
            )
    return marked


@sensitive_variables("result")
def device_certificate_check(
    *, device: DeviceRef, client: IotClient, listing: DeviceListing | None = None
) -> CertificateRecord:
    """One QueryDeviceCert; stores every public field (never the key), or, for a per-device
    business error (IotBusinessError), the error Code with last_checked (keeping the last good
    certificate fields).

    When the platform has no such device or product (``is_not_found``), the device's record,
    if any, is marked removed and the IotBusinessError is raised: a typo is a result of the batch
    that named it, not a device of the inventory. Raises IotThrottledError, IotTransportError
    and retryable IotGatewayError for the caller to retry."""
    try:
        result = client.query_device_cert(
            product_key=device.product_key,
            device_name=device.device_name,
            iot_instance_id=device.iot_instance_id or None,
        )
    except IotBusinessError as error:
        if error.is_not_found:
            inventory_mark_removed(device=device)
            raise
        return inventory_store_failure(device=device, code=error.code, listing=listing)
    decoded = device_cert_decode(result)
    key_matches = key_matches_certificate(
        decoded.certificate if decoded else None, result.private_key
    )
    return inventory_store(
        result=result,
        key_matches=key_matches,
        decoded=decoded,
        listing=listing,
        account=device.account,
    )
