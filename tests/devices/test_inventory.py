"""The inventory's per-device check against the emulator over real HTTP, and its migration."""

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from certadmin.devices.inventory import device_certificate_check, inventory_store_failure
from certadmin.devices.models import CertificateRecord
from certadmin.emulator import DEMO_PRODUCT_KEY
from certadmin.iot.errors import IotBusinessError, IotThrottledError
from certadmin.iot.identity import DeviceRef
from certadmin.iot.results import DeviceListing
from tests.support.databases import migrate
from tests.support.key_material import api_answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(iot):
    return iot


def listing(name: str, nickname: str = "Boiler_2", status: str = "OFFLINE") -> DeviceListing:
    return DeviceListing(name, nickname, status, "iot-id", "2025-01-06T08:00:00.000Z")


def stored_text(record: CertificateRecord) -> str:
    return " ".join(str(getattr(record, f.attname)) for f in record._meta.concrete_fields)


def test_ready_device_stores_every_public_field(client, dashboard_iot):
    device = DeviceRef(DEMO_PRODUCT_KEY, "thermo-001")
    record = device_certificate_check(device=device, client=client, listing=listing("thermo-001"))
    cert = x509.load_pem_x509_certificate(record.certificate.encode())
    assert record.status == 2
    assert record.cert_sn == str(cert.serial_number)
    assert int(record.serial.replace(":", ""), 16) == cert.serial_number
    assert record.serial == record.serial.upper()
    assert record.not_before == cert.not_valid_before_utc
    assert record.not_after == cert.not_valid_after_utc
    assert "Alibaba Cloud IoT Operation CA1" in record.issuer
    assert record.sha256_fingerprint.count(":") == 31
    assert record.key_matches is True
    assert record.chain_status == "verified"
    assert record.nickname == "Boiler_2"
    assert record.device_status == "OFFLINE"
    assert record.last_error_code == ""
    assert record.request_id
    assert [e.device_name for e in dashboard_iot.request_log] == ["thermo-001"]


def test_certificate_being_generated_is_stored_without_certificate_fields(client):
    record = device_certificate_check(
        device=DeviceRef(DEMO_PRODUCT_KEY, "sensor-gen"), client=client
    )
    assert record.status == 0
    assert record.certificate == ""
    assert record.serial == ""
    assert record.not_after is None
    assert record.key_matches is None
    assert record.chain_status == ""
    assert record.last_error_code == ""


def test_a_device_the_platform_does_not_have_leaves_no_record_and_an_old_one_is_marked_removed(
    client,
):
    device = DeviceRef(DEMO_PRODUCT_KEY, "no-such-device")
    # A record from before (a device deleted on the platform since).
    inventory_store_failure(device=device, code="iot.device.NotExistedDevice")
    with pytest.raises(IotBusinessError) as missing:
        device_certificate_check(device=device, client=client, listing=listing("x"))
    assert missing.value.code == "iot.device.NotExistedDevice"
    kept = CertificateRecord.objects.get(device_name="no-such-device")
    assert kept.removed_at is not None
    CertificateRecord.objects.filter(pk=kept.pk).delete()
    other = DeviceRef("a1NoSuchProd", "thermo-001")
    with pytest.raises(IotBusinessError) as no_product:
        device_certificate_check(device=other, client=client)
    assert no_product.value.code == "iot.prod.NotExistedProduct"
    assert not CertificateRecord.objects.exists()


def test_a_failure_keeps_the_last_good_certificate_and_a_success_clears_it(client):
    device = DeviceRef(DEMO_PRODUCT_KEY, "thermo-002")
    good = device_certificate_check(device=device, client=client)
    failed = inventory_store_failure(device=device, code="iot.device.NotExistedDevice")
    assert failed.pk == good.pk
    assert failed.last_error_code == "iot.device.NotExistedDevice"
    assert (failed.certificate, failed.serial, failed.not_after, failed.status) == (
        good.certificate,
        good.serial,
        good.not_after,
        2,
    )
    assert failed.last_checked >= good.last_checked
    assert device_certificate_check(device=device, client=client).last_error_code == ""


def test_no_key_material_or_device_secret_in_any_stored_column(client, dashboard_iot):
    names = ["thermo-001", "thermo-002", "edge-ec01", "legacy-b64", "sensor-fail"]
    for name in names:
        device_certificate_check(device=DeviceRef(DEMO_PRODUCT_KEY, name), client=client)
    dashboard_iot.reset_rate_limits()
    stored = " ".join(stored_text(r) for r in CertificateRecord.objects.all())
    assert "PRIVATE KEY" not in stored
    for name in names:
        key = api_answer(dashboard_iot, name).private_key
        body_lines = [line for line in key.splitlines() if line and "-----" not in line]
        assert not any(line.strip() in stored for line in body_lines if len(line.strip()) > 20)
    # The emulator's DeviceSecret is sha256("secret/PK/name")[:32]; QueryDevice would carry it.
    for name in names:
        secret = hashlib.sha256(f"secret/{DEMO_PRODUCT_KEY}/{name}".encode()).hexdigest()[:32]
        assert secret not in stored


def test_throttling_is_raised_for_the_caller_and_stores_nothing(client, dashboard_iot):
    device = DeviceRef(DEMO_PRODUCT_KEY, "thermo-003")
    for _ in range(10):
        api_answer(dashboard_iot, "thermo-001")
    with pytest.raises(IotThrottledError):
        device_certificate_check(device=device, client=client)
    assert not CertificateRecord.objects.filter(device_name="thermo-003").exists()
    assert dashboard_iot.throttled["QueryDeviceCert"] == 1


def _model_at(migration: str):
    executor = MigrationExecutor(connection)
    executor.migrate([("devices", migration)])
    state = executor.loader.project_state([("devices", migration)])
    return state.apps.get_model("devices", "CertificateRecord")


@pytest.fixture(scope="module")
def migrated(django_db_setup, django_db_blocker, emulator_session) -> dict:
    """Records stored under old schemas, then migrated to the latest one.

    One round trip serves both migration tests below (a round trip each was the slowest part of
    this file): a record stored under 0001 goes through every later migration, the records of
    the re-encoding test are stored under 0004, just before it, and then everything migrates to
    the latest schema once. Read back here; the tests' own flush removes the rows."""
    thermo_001 = api_answer(emulator_session, "thermo-001")
    thermo_002 = api_answer(emulator_session, "thermo-002")
    der_base64 = "".join(thermo_002.certificate.strip().splitlines()[1:-1])
    stored_under_0004 = {
        "full-pem": thermo_002.certificate.replace("\n", "\r\n"),
        "headerless": der_base64,
        "with-key": thermo_002.certificate + "\n" + der_base64[:40] + "SECRETKEYDATA",
        "garbage": "not a certificate at all",
    }
    with django_db_blocker.unblock():
        _model_at("0001_initial").objects.create(
            product_key=DEMO_PRODUCT_KEY,
            device_name="thermo-001",
            status=2,
            certificate=thermo_001.certificate,
            last_checked=timezone.now(),
        )
        old_model = _model_at("0004_inventory_search_trigram")
        for name, text in stored_under_0004.items():
            old_model.objects.create(
                product_key="migr01pk", device_name=name, status=2, certificate=text
            )
        migrate("devices", "latest")
        return {
            "thermo-001": thermo_001,
            "thermo-002": thermo_002,
            "record": CertificateRecord.objects.get(device_name="thermo-001"),
            "stored": dict(
                CertificateRecord.objects.filter(product_key="migr01pk").values_list(
                    "device_name", "certificate"
                )
            ),
        }


@pytest.mark.django_db(transaction=True)
def test_migration_fills_serial_and_not_before_from_stored_certificates(migrated):
    record = migrated["record"]
    cert = x509.load_pem_x509_certificate(migrated["thermo-001"].certificate.encode())
    assert int(record.serial.replace(":", ""), 16) == cert.serial_number
    assert record.not_before == cert.not_valid_before_utc
    assert record.chain_status == ""
    assert record.last_error_code == ""


@pytest.mark.django_db(transaction=True)
def test_migration_keeps_only_parsed_certificates_re_encoded(migrated):
    stored = migrated["stored"]
    expected = x509.load_pem_x509_certificate(migrated["thermo-002"].certificate.encode())
    for name in ("full-pem", "headerless", "with-key"):
        assert stored[name] == expected.public_bytes(serialization.Encoding.PEM).decode()
    assert stored["garbage"] == ""
    assert not any("SECRETKEYDATA" in text for text in stored.values())
