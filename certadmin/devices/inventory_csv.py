"""TEMPORARY placeholder for H9's inventory CSV (the merger takes H9's module instead).

Same names and signature as H9's contract: ``INVENTORY_CSV_HEADER`` and
``inventory_csv_rows(records, *, now)``.
"""

from collections.abc import Iterable, Iterator
from datetime import datetime

from certadmin.devices.expiry import expiry_state_of
from certadmin.devices.models import CertificateRecord

INVENTORY_CSV_HEADER: list[str] = [
    "product_key",
    "device_name",
    "iot_instance_id",
    "nickname",
    "device_status",
    "cert_status",
    "cert_sn",
    "serial",
    "sha256_fingerprint",
    "subject",
    "issuer",
    "not_before",
    "not_after",
    "days_left",
    "state",
    "key_matches",
    "chain_status",
    "last_checked",
    "error_code",
]
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def _iso(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def inventory_csv_rows(
    records: Iterable[CertificateRecord], *, now: datetime
) -> Iterator[list[str]]:
    """One row per record, in ``INVENTORY_CSV_HEADER``'s order, formula-safe."""
    for record in records:
        days_left = (record.not_after - now).days if record.not_after else ""
        yield [
            _cell(value)
            for value in (
                record.product_key,
                record.device_name,
                record.iot_instance_id,
                record.nickname,
                record.device_status,
                record.status,
                record.cert_sn,
                record.serial,
                record.sha256_fingerprint,
                record.subject,
                record.issuer,
                _iso(record.not_before),
                _iso(record.not_after),
                days_left,
                expiry_state_of(record, now=now),
                "" if record.key_matches is None else str(record.key_matches).lower(),
                record.chain_status,
                _iso(record.last_checked),
                record.last_error_code,
            )
        ]
