"""The inventory CSV: its columns, formula neutralisation, no key material, and the audit export
sharing the same cell rule."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from certadmin.devices.inventory_csv import (
    INVENTORY_CSV_HEADER,
    inventory_csv_lines,
    inventory_csv_rows,
)
from certadmin.devices.models import CertificateRecord
from certadmin.web.csv_safety import csv_cell

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def record(**fields) -> CertificateRecord:
    values = {
        "product_key": "a1Fleet5kXz",
        "device_name": "line1-unit-00001",
        "iot_instance_id": "",
        "status": 2,
        "cert_sn": "123456789",
        "serial": "0A:1B",
        "sha256_fingerprint": "AB:CD",
        "subject": "CN=Alibaba Cloud IoT Certificate,O=Alibaba Cloud IoT,C=CN",
        "issuer": "CN=Alibaba Cloud IoT Operation CA1,O=Alibaba Cloud IoT,C=CN",
        "not_before": NOW - timedelta(days=365),
        "not_after": NOW + timedelta(days=10, hours=3),
        "key_matches": True,
        "chain_status": "verified",
        "last_checked": NOW - timedelta(hours=1),
        "certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    }
    values.update(fields)
    return CertificateRecord(**values)


def as_dict(row: list[str]) -> dict[str, str]:
    assert len(row) == len(INVENTORY_CSV_HEADER)
    return dict(zip(INVENTORY_CSV_HEADER, row, strict=True))


def test_header_names_every_column_of_the_overview():
    assert INVENTORY_CSV_HEADER == [
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
        "account",
        "state_text",
        "node_type",
        "firmware_version",
        "activated_at",
    ]


def test_device_context_columns_say_gateway_firmware_and_activation_in_utc():
    (gateway,) = inventory_csv_rows(
        [record(node_type=1, firmware_version="2.4.1", activated_at=NOW - timedelta(days=30))],
        now=NOW,
    )
    (unknown,) = inventory_csv_rows([record()], now=NOW)
    cells = as_dict(gateway)
    assert (cells["node_type"], cells["firmware_version"], cells["activated_at"]) == (
        "gateway",
        "2.4.1",
        "2026-02-13T12:00:00Z",
    )
    assert as_dict(unknown)["node_type"] == ""
    assert as_dict(unknown)["activated_at"] == ""


def test_ready_certificate_row_has_utc_times_days_left_and_state():
    (row,) = inventory_csv_rows([record(nickname="Boiler_2", device_status="ONLINE")], now=NOW)
    cells = as_dict(row)
    assert cells["not_after"] == "2026-03-25T15:00:00Z"
    assert cells["not_before"] == "2025-03-15T12:00:00Z"
    assert cells["last_checked"] == "2026-03-15T11:00:00Z"
    assert cells["days_left"] == "10"
    assert cells["state"] == "days_8_30"
    assert cells["state_text"] == "Expires in 8–30 days"
    assert cells["cert_status"] == "2"
    assert cells["key_matches"] == "true"
    assert cells["nickname"] == "Boiler_2"
    assert cells["error_code"] == ""


@pytest.mark.parametrize(
    ("status", "text"),
    [(0, "Certificate being generated"), (1, "Certificate generation failed")],
)
def test_a_certificate_not_issued_says_whether_it_is_being_generated_or_failed(status, text):
    (row,) = inventory_csv_rows([record(status=status, not_before=None, not_after=None)], now=NOW)
    cells = as_dict(row)
    assert (cells["state"], cells["cert_status"], cells["state_text"]) == (
        "not_issued",
        str(status),
        text,
    )


def test_expired_certificate_has_negative_days_left_unquoted():
    (row,) = inventory_csv_rows([record(not_after=NOW - timedelta(days=3, hours=1))], now=NOW)
    cells = as_dict(row)
    assert cells["days_left"] == "-3"
    assert cells["state"] == "expired"


def test_never_checked_and_failed_rows_leave_unknown_cells_empty():
    never = record(
        status=None,
        cert_sn="",
        serial="",
        not_before=None,
        not_after=None,
        key_matches=None,
        chain_status="",
        last_checked=None,
    )
    failed = record(device_name="gone-1", last_error_code="iot.device.NotExistedDevice")
    rows = [as_dict(row) for row in inventory_csv_rows([never, failed], now=NOW)]
    assert rows[0]["state"] == "never"
    assert rows[0]["days_left"] == rows[0]["not_after"] == rows[0]["cert_status"] == ""
    assert rows[0]["key_matches"] == rows[0]["last_checked"] == ""
    assert rows[1]["state"] == "failed"
    assert rows[1]["error_code"] == "iot.device.NotExistedDevice"


@pytest.mark.parametrize("payload", ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\tx"])
def test_formula_in_any_text_column_is_neutralised(payload):
    hostile = record(nickname=payload, device_status=payload, subject=payload, issuer=payload)
    cells = as_dict(next(inventory_csv_rows([hostile], now=NOW)))
    for column in ("nickname", "device_status", "subject", "issuer"):
        assert cells[column] == "'" + payload


def test_no_certificate_text_or_key_material_in_the_csv():
    text = "".join(inventory_csv_lines([record()], now=NOW))
    assert "BEGIN" not in text
    assert "PRIVATE KEY" not in text
    assert "MIIB" not in text


def test_csv_lines_parse_back_with_the_header_first():
    text = "".join(inventory_csv_lines([record(subject='CN=a,"b"\nc')], now=NOW))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == INVENTORY_CSV_HEADER
    assert as_dict(rows[1])["subject"] == 'CN=a,"b"\nc'


def test_cell_rule_keeps_numbers_and_neutralises_text():
    assert csv_cell(-3) == "-3"
    assert csv_cell("-3") == "'-3"
    assert csv_cell(None) == ""
    assert csv_cell(NOW) == "2026-03-15T12:00:00+00:00"
    assert csv_cell("plain") == "plain"
