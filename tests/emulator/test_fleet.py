"""The fleet product: 5,000 devices whose every detail follows from the device name."""

import datetime as dt
import time
from collections import Counter

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings

from certadmin.emulator.seed import (
    FLEET_PRODUCT_KEY,
    FLEET_SIZE,
    fleet_device_name,
    fleet_profile,
)
from certadmin.emulator.server import start_emulator
from certadmin.emulator.store import STATUS_FAILED, STATUS_GENERATING, STATUS_READY
from certadmin.iot.client import IotClient

FLEET_NAMES = [fleet_device_name(unit) for unit in range(1, FLEET_SIZE + 1)]


def first_fleet_device(wanted) -> str:
    return next(name for name in FLEET_NAMES if wanted(fleet_profile(name)))


def days_band(profile) -> str:
    if profile.status != STATUS_READY:
        return "not issued"
    days = profile.valid_days
    if days is None:
        return "100 years"
    for edge, band in ((0, "expired"), (7, "7"), (30, "30"), (90, "90"), (730, "24 months")):
        if days < edge:
            return band
    return "years"


def unlimited_client(url: str) -> IotClient:
    return IotClient(
        endpoint=url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
        rate_limiter=None,
        max_attempts=1,
    )


@pytest.fixture
def client(emulator):
    iot = unlimited_client(emulator.url)
    yield iot
    iot.close()


def test_fleet_names_follow_the_issue_example():
    assert len(set(FLEET_NAMES)) == FLEET_SIZE == 5000
    assert fleet_device_name(4321) == "line3-unit-04321"
    assert FLEET_NAMES[0] == "line1-unit-00001"
    assert FLEET_NAMES[-1] == "line3-unit-05000"


def test_fleet_profile_is_the_same_at_every_call():
    assert [fleet_profile(n) for n in FLEET_NAMES[:200]] == [
        fleet_profile(n) for n in FLEET_NAMES[:200]
    ]


def test_fleet_spreads_expiry_and_statuses_for_an_interesting_overview():
    profiles = [fleet_profile(name) for name in FLEET_NAMES]
    bands = Counter(days_band(p) for p in profiles)
    assert bands["expired"] >= 100
    assert bands["7"] >= 50
    assert bands["30"] >= 100
    assert bands["90"] >= 150
    assert bands["24 months"] >= 1000
    assert bands["years"] + bands["100 years"] >= 1500
    assert Counter(p.status for p in profiles)[STATUS_GENERATING] >= 20
    assert Counter(p.status for p in profiles)[STATUS_FAILED] >= 20
    assert set(Counter(p.device_status for p in profiles)) == {
        "ONLINE",
        "OFFLINE",
        "UNACTIVE",
        "DISABLE",
    }
    # Expiry months spread over the coming 24 months: every month has some.
    months = {int(p.valid_days // 30.5) for p in profiles if p.valid_days and p.valid_days > 0}
    assert set(range(24)) <= months
    assert sum(1 for p in profiles if p.nickname) > 4000


def test_query_device_pages_the_whole_fleet_within_its_50_qps(emulator, client):
    pace = 1 / 45  # under QueryDevice's 50 calls per second
    # Spaced from the previous call, not from the start: a call held up on a busy machine must
    # not make the next ones catch up in a burst.
    last = -pace
    rows, page, page_count = [], 1, 1
    while page <= page_count:
        time.sleep(max(0.0, last + pace - time.monotonic()))
        last = time.monotonic()
        result = client.query_device(product_key=FLEET_PRODUCT_KEY, page=page, page_size=50)
        rows.extend(result.devices)
        page_count, page = result.page_count, page + 1
    assert result.total == FLEET_SIZE
    assert page_count == 100
    assert [row.device_name for row in rows] == FLEET_NAMES
    by_name = {row.device_name: row for row in rows}
    for name in FLEET_NAMES[::97]:
        profile = fleet_profile(name)
        assert by_name[name].nickname == profile.nickname
        assert by_name[name].device_status == profile.device_status
    assert emulator.throttled["QueryDevice"] == 0


def test_query_device_beyond_50_calls_a_second_is_throttled_and_counted(emulator, v1):
    params = {"ProductKey": FLEET_PRODUCT_KEY, "PageSize": "1"}
    started = time.monotonic()
    codes = [v1(action="QueryDevice", params=params).status_code for _ in range(55)]
    if time.monotonic() - started >= 1.0:
        pytest.skip("machine too slow to make 55 calls within one second")
    assert codes.count(400) == emulator.throttled["QueryDevice"] >= 5
    assert emulator.throttled["QueryDeviceCert"] == 0


def test_fleet_certificate_validity_follows_the_name(client):
    for wanted in (
        lambda p: p.valid_days is not None and p.valid_days < 0,
        lambda p: p.valid_days is not None and 0 < p.valid_days < 7,
        lambda p: p.valid_days is not None and p.valid_days > 730,
    ):
        name = first_fleet_device(wanted)
        cert = client.query_device_cert(product_key=FLEET_PRODUCT_KEY, device_name=name)
        parsed = x509.load_pem_x509_certificate(cert.certificate.encode())
        expected = dt.datetime.now(dt.UTC) + dt.timedelta(days=fleet_profile(name).valid_days)
        assert abs(parsed.not_valid_after_utc - expected) < dt.timedelta(minutes=5), name


@pytest.mark.parametrize("status", [STATUS_GENERATING, STATUS_FAILED])
def test_fleet_devices_without_a_certificate_answer_empty(client, status):
    name = first_fleet_device(lambda p: p.status == status)
    cert = client.query_device_cert(product_key=FLEET_PRODUCT_KEY, device_name=name)
    assert int(cert.status) == status
    assert cert.certificate == ""
    assert cert.private_key == ""


@pytest.mark.slow
def test_fleet_certificates_are_distinct_and_each_key_matches_its_certificate(client):
    ready = [n for n in FLEET_NAMES if fleet_profile(n).status == STATUS_READY][:12]
    certificates = set()
    for name in ready:
        cert = client.query_device_cert(product_key=FLEET_PRODUCT_KEY, device_name=name)
        parsed = x509.load_pem_x509_certificate(cert.certificate.encode())
        key = serialization.load_pem_private_key(cert.private_key.encode(), password=None)
        assert key.public_key() == parsed.public_key(), name
        certificates.add(parsed.fingerprint(parsed.signature_hash_algorithm))
        time.sleep(0.11)  # QueryDeviceCert: 10 calls per second
    assert len(certificates) == len(ready)


def started_and_answered_seconds(device_name: str) -> float:
    started = time.monotonic()
    with start_emulator(
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
    ) as running:
        iot = unlimited_client(running.url)
        cert = iot.query_device_cert(product_key=FLEET_PRODUCT_KEY, device_name=device_name)
        elapsed = time.monotonic() - started
        iot.close()
    assert cert.certificate.startswith("-----BEGIN CERTIFICATE-----")
    return elapsed


def test_a_new_emulator_starts_and_answers_a_fleet_lookup_within_a_second():
    name = first_fleet_device(lambda p: p.status == STATUS_READY)
    # Two RSA keys are generated (the CA's, the device's): their time varies, so best of two.
    assert min(started_and_answered_seconds(name) for _ in range(2)) < 1.0
