"""The inventory as CSV: one set of columns for the expiry overview's export, a batch lookup's
results and ``cert_expiry_report --format csv``.

Public certificate data only: the certificate text itself is not a column, and no record ever
holds key material. Times are ISO 8601 in UTC (``2026-03-01T08:00:00Z``). ``days_left`` counts
whole days until notAfter, toward zero and negative once expired
(``certs.details.expiry_days_left``, the same number as the report's JSON and the device
table); ``state`` is the record's expiry state (``expiry.EXPIRY_STATES`` keys);
``cert_status`` is the platform's Status (0 being generated, 1 generation failed, 2 issued);
``key_matches`` is ``true``/``false``, empty when there was no key to check;
``state_text`` says the state in words, in the reader's language, as the device table does
(``expiry.expiry_state_label``: "Certificate being generated" or "Certificate generation
failed" where ``state`` is ``not_issued``); ``device_status``
is the platform's word from the last sync's listing (``ONLINE``, ``OFFLINE``, ``UNACTIVE``,
``DISABLE``), ``node_type`` ``gateway`` or ``device`` and ``activated_at`` the first activation,
from the sync's device details (empty when not known or never activated). Every cell goes
through ``csv_safety.csv_cell``: text a spreadsheet would run as a formula is neutralised.
"""

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime

from certadmin.certs.details import expiry_days_left
from certadmin.devices.expiry import expiry_state_label, expiry_state_of
from certadmin.devices.models import CertificateRecord, NodeType
from certadmin.web.csv_safety import LineBuffer, csv_cell
from certadmin.web.times import utc_text

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
    # Last, so the earlier columns keep their places for existing readers.
    "account",
    "state_text",
    "node_type",
    "firmware_version",
    "activated_at",
]


# Words, not the platform's 0 and 1, so a reader need not know them.
_NODE_TYPES = {NodeType.DEVICE: "device", NodeType.GATEWAY: "gateway"}


def _key_matches(value: bool | None) -> str:
    if value is None:
        return ""
    return "true" if value else "false"


def inventory_csv_rows(
    records: Iterable[CertificateRecord], *, now: datetime
) -> Iterator[list[str]]:
    """One row of cells (``INVENTORY_CSV_HEADER`` order) per record, states and days left at
    ``now``. The header is not included."""
    labels: dict[tuple[str, int | None], str] = {}
    for record in records:
        state = expiry_state_of(record, now=now)
        if (state, record.status) not in labels:
            labels[state, record.status] = expiry_state_label(state=state, status=record.status)
        row = [
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
            utc_text(record.not_before),
            utc_text(record.not_after),
            None
            if record.not_after is None
            else expiry_days_left(not_after=record.not_after, now=now),
            state,
            _key_matches(record.key_matches),
            record.chain_status,
            utc_text(record.last_checked),
            record.last_error_code,
            record.account,
            labels[state, record.status],
            _NODE_TYPES.get(record.node_type, ""),
            record.firmware_version,
            utc_text(record.activated_at),
        ]
        yield [csv_cell(value) for value in row]


def inventory_csv_lines(records: Iterable[CertificateRecord], *, now: datetime) -> Iterator[str]:
    """The whole CSV, header first, one text line at a time (for ``StreamingHttpResponse`` or a
    command's stdout). Pass ``records.iterator()`` for a large queryset."""
    writer = csv.writer(LineBuffer())
    yield writer.writerow(INVENTORY_CSV_HEADER)
    for row in inventory_csv_rows(records, now=now):
        yield writer.writerow(row)
