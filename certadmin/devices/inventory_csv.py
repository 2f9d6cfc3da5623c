"""TEMP placeholder until H9's inventory CSV module is merged: the merger takes H9's file."""

from collections.abc import Iterable, Iterator
from datetime import datetime

from certadmin.devices.expiry import expiry_state_of

INVENTORY_CSV_HEADER: list[str] = [
    "ProductKey",
    "DeviceName",
    "IotInstanceId",
    "state",
    "not_after",
    "days_left",
    "CertSN",
    "serial",
    "sha256_fingerprint",
    "last_checked",
    "error_code",
]


def _cell(value: str) -> str:
    # A spreadsheet must not run what a device's data says.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def inventory_csv_rows(records: Iterable, *, now: datetime) -> Iterator[list[str]]:
    for r in records:
        days = "" if r.not_after is None else str((r.not_after - now).days)
        yield [
            _cell(v)
            for v in (
                r.product_key,
                r.device_name,
                r.iot_instance_id,
                expiry_state_of(r, now=now),
                r.not_after.isoformat() if r.not_after else "",
                days,
                r.cert_sn,
                r.serial,
                r.sha256_fingerprint,
                r.last_checked.isoformat() if r.last_checked else "",
                r.last_error_code,
            )
        ]
