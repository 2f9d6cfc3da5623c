"""IotClient against the local emulator over real HTTP: both signatures, errors, limits, faults."""

import json
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from cryptography import x509
from django.conf import settings

from certadmin.iot.client import IotClient
from certadmin.iot.errors import (
    IotBusinessError,
    IotGatewayError,
    IotResponseError,
    IotThrottledError,
    IotTransportError,
)
from certadmin.iot.ratelimit import GcraRateLimiter
from certadmin.iot.results import CertStatus
from tests.iot.clients import quick_clients

PRODUCT = "a1Demo7Sh2x"
ENTERPRISE_PRODUCT = "a1Ent0Prd9k"
ENTERPRISE_INSTANCE = "iot-06z00demo0ent"
# Devices these tests add live on their own product, so other tests' counts are untouched.
TEST_PRODUCT = "a1IotCli3nt"
TOKEN = "CAIS8wF1q6Ft5B2yfSjIr5bStsTokenForTests=="


@pytest.fixture
def make_client(emulator):
    with quick_clients(
        endpoint=emulator.url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
    ) as make:
        yield make


class ClearFaultBeforeRetry:
    """A rate limiter stand-in: the emulator's fault is lifted just before the second attempt."""

    def __init__(self, emulator) -> None:
        self.emulator = emulator
        self.attempts = 0

    def acquire(self, key: str, *, quota: str) -> None:
        self.attempts += 1
        if self.attempts == 2:
            self.emulator.set_fault(None)


# ---- success ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v3", "v1"])
def test_ready_certificate_is_returned_with_its_key(emulator, make_client, version):
    cert = make_client(signature_version=version).query_device_cert(
        product_key=PRODUCT, device_name="thermo-001"
    )
    assert cert.status is CertStatus.READY
    assert cert.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert cert.request_id
    parsed = x509.load_pem_x509_certificate(cert.certificate.encode())
    assert "Alibaba Cloud IoT Operation CA1" in parsed.issuer.rfc4514_string()
    assert cert.cert_sn == str(parsed.serial_number)
    assert "PRIVATE KEY" not in repr(cert)
    assert emulator.request_log == [
        ("QueryDeviceCert", settings.DEMO_ACCESS_KEY_ID, version, "thermo-001")
    ]


@pytest.mark.parametrize("version", ["v3", "v1"])
@pytest.mark.parametrize(
    ("device", "status"),
    [("sensor-gen", CertStatus.GENERATING), ("sensor-fail", CertStatus.FAILED)],
)
def test_pending_and_failed_certificates(make_client, version, device, status):
    cert = make_client(signature_version=version).query_device_cert(
        product_key=PRODUCT, device_name=device
    )
    assert cert.status is status
    assert cert.certificate == cert.private_key == ""


@pytest.mark.parametrize("version", ["v3", "v1"])
@pytest.mark.parametrize("device", ["cam-lobby:01", "lab.probe@b2"])
def test_device_names_with_punctuation_are_signed_correctly(make_client, version, device):
    cert = make_client(signature_version=version).query_device_cert(
        product_key=PRODUCT, device_name=device
    )
    assert cert.status is CertStatus.READY
    assert cert.device_name == device


@pytest.mark.parametrize("version", ["v3", "v1"])
def test_sts_token_is_sent_and_accepted(emulator, make_client, version):
    client = make_client(signature_version=version, security_token=TOKEN)
    assert client.query_device_cert(product_key=PRODUCT, device_name="thermo-002").private_key
    assert emulator.security_tokens == [TOKEN]


@pytest.mark.parametrize("version", ["v3", "v1"])
def test_enterprise_instance_is_required_for_its_products(emulator, make_client, version):
    client = make_client(signature_version=version)
    with pytest.raises(IotBusinessError) as caught:
        client.query_device_cert(product_key=ENTERPRISE_PRODUCT, device_name="ent-gw-01")
    assert caught.value.is_instance_error
    assert not caught.value.is_not_found
    assert len(emulator.request_log) == 1

    cert = client.query_device_cert(
        product_key=ENTERPRISE_PRODUCT,
        device_name="ent-gw-01",
        iot_instance_id=ENTERPRISE_INSTANCE,
    )
    assert cert.status is CertStatus.READY
    assert cert.iot_instance_id == ENTERPRISE_INSTANCE


# ---- refusals, never retried ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product_key", "device_name", "code"),
    [
        (PRODUCT, "no-such-device", "iot.device.NotExistedDevice"),
        ("a1NoSuchPrd", "thermo-001", "iot.prod.NotExistedProduct"),
    ],
)
def test_not_found_is_a_business_error_and_not_retried(
    emulator, make_client, product_key, device_name, code
):
    with pytest.raises(IotBusinessError) as caught:
        make_client().query_device_cert(product_key=product_key, device_name=device_name)
    assert caught.value.code == code
    assert caught.value.is_not_found
    assert caught.value.request_id
    assert len(emulator.request_log) == 1


@pytest.mark.parametrize("version", ["v3", "v1"])
def test_wrong_secret_is_refused_once_and_the_error_hides_the_secret(
    emulator, make_client, version
):
    wrong = "not-the-demo-secret-0042"
    client = make_client(signature_version=version, access_key_secret=wrong)
    with pytest.raises(IotGatewayError) as caught:
        client.query_device_cert(product_key=PRODUCT, device_name="thermo-001")
    error = caught.value
    assert error.code == "SignatureDoesNotMatch"
    assert error.http_status == 400
    assert error.is_credentials_error
    assert not error.retryable
    assert "server string to sign is:" in error.message
    assert len(emulator.request_log) == 1
    for text in (str(error), repr(error), repr(error.args), repr(error.__dict__)):
        assert wrong not in text
        assert settings.DEMO_ACCESS_KEY_SECRET not in text


def test_unknown_access_key_is_refused_once(emulator, make_client):
    with pytest.raises(IotGatewayError) as caught:
        make_client(access_key_id="LTAI5tNobodyKnowsMe").query_device_cert(
            product_key=PRODUCT, device_name="thermo-001"
        )
    assert caught.value.code == "InvalidAccessKeyId.NotFound"
    assert caught.value.http_status == 404
    assert len(emulator.request_log) == 1


# ---- flow control ----------------------------------------------------------------------------


def _query_many(client: IotClient, count: int) -> list:
    def one(n: int):
        try:
            return client.query_device_cert(product_key=PRODUCT, device_name=f"sensor-{n:04d}")
        except Exception as exc:  # collected, asserted by the caller
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(1, count + 1)))


def test_without_a_local_limiter_the_emulator_throttles(emulator, make_client):
    results = _query_many(make_client(max_attempts=1), 15)
    throttled = [r for r in results if isinstance(r, Exception)]
    assert throttled
    assert all(isinstance(r, IotThrottledError) for r in throttled)
    assert {r.code for r in throttled} == {"Throttling.User"}


def test_throttling_is_retried_until_every_call_succeeds(emulator, make_client):
    client = make_client(max_attempts=10, backoff_base=0.2, backoff_max=1.0)
    for _ in range(3):  # a loaded machine may spread 15 arrivals over more than a second
        emulator.request_log.clear()
        emulator.reset_rate_limits()
        results = _query_many(client, 15)
        assert all(r.status is CertStatus.READY for r in results), results
        if len(emulator.request_log) > 15:
            break
    assert len(emulator.request_log) > 15  # some calls were throttled and retried


def test_with_the_shared_limiter_25_concurrent_calls_all_succeed_unthrottled(emulator, make_client):
    client = make_client(max_attempts=1, rate_limiter=GcraRateLimiter())
    results = _query_many(client, 25)
    assert all(r.status is CertStatus.READY for r in results), results
    assert len(emulator.request_log) == 25


def test_clients_share_the_process_limiter_by_default(emulator):
    clients = [
        IotClient(
            endpoint=emulator.url,
            access_key_id=settings.DEMO_ACCESS_KEY_ID,
            access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
            max_attempts=1,
        )
        for _ in range(3)
    ]
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(
            pool.map(
                lambda n: clients[n % 3].query_device_cert(
                    product_key=PRODUCT, device_name=f"sensor-{n + 1:04d}"
                ),
                range(12),
            )
        )
    assert len(results) == len(emulator.request_log) == 12
    for client in clients:
        client.close()


# ---- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["5xx", "drop"])
def test_transient_fault_is_retried_then_succeeds(emulator, make_client, fault):
    emulator.set_fault(fault)
    limiter = ClearFaultBeforeRetry(emulator)
    cert = make_client(rate_limiter=limiter).query_device_cert(
        product_key=PRODUCT, device_name="thermo-001"
    )
    assert cert.status is CertStatus.READY
    assert limiter.attempts == 2
    assert len(emulator.request_log) == 2


def test_persistent_5xx_fails_after_max_attempts(emulator, make_client):
    emulator.set_fault("5xx")
    with pytest.raises(IotGatewayError) as caught:
        make_client(max_attempts=3).query_device_cert(product_key=PRODUCT, device_name="thermo-001")
    assert caught.value.code == "ServiceUnavailable"
    assert caught.value.http_status == 503
    assert len(emulator.request_log) == 3


def test_persistent_drop_fails_as_a_transport_error(emulator, make_client):
    emulator.set_fault("drop")
    with pytest.raises(IotTransportError) as caught:
        make_client(max_attempts=2).query_device_cert(product_key=PRODUCT, device_name="thermo-001")
    assert caught.value.code == "Transport.Unreachable"
    assert len(emulator.request_log) == 2


def test_malformed_json_is_a_response_error_and_not_retried(emulator, make_client):
    emulator.set_fault("malformed")
    with pytest.raises(IotResponseError) as caught:
        make_client().query_device_cert(product_key=PRODUCT, device_name="thermo-001")
    assert caught.value.code == "Response.Malformed"
    assert len(emulator.request_log) == 1


def test_slow_device_times_out_and_is_retried(emulator, make_client):
    emulator.add_device(
        {"product_key": TEST_PRODUCT, "device_name": "slow-device-1", "fault": {"latency": 0.6}}
    )
    with pytest.raises(IotTransportError) as caught:
        make_client(read_timeout=0.2, max_attempts=2).query_device_cert(
            product_key=TEST_PRODUCT, device_name="slow-device-1"
        )
    assert caught.value.code == "Transport.Timeout"
    assert len(emulator.request_log) == 2


def test_device_answering_500_is_retried_then_reported(emulator, make_client):
    emulator.add_device(
        {"product_key": TEST_PRODUCT, "device_name": "broken-500", "fault": {"http_status": 500}}
    )
    with pytest.raises(IotGatewayError) as caught:
        make_client(max_attempts=2).query_device_cert(
            product_key=TEST_PRODUCT, device_name="broken-500"
        )
    assert caught.value.code == "InternalError"
    assert len(emulator.request_log) == 2


def test_oversized_response_is_refused(emulator, make_client):
    emulator.add_device(
        {
            "product_key": TEST_PRODUCT,
            "device_name": "huge-cert-1",
            "certificate": "A" * 1_200_000,
            "private_key": "B" * 100,
        }
    )
    with pytest.raises(IotResponseError) as caught:
        make_client().query_device_cert(product_key=TEST_PRODUCT, device_name="huge-cert-1")
    assert caught.value.code == "Response.TooLarge"
    assert len(emulator.request_log) == 1


def test_verbatim_key_is_returned_but_kept_out_of_repr(emulator, make_client):
    key = "-----BEGIN PRIVATE KEY-----\nMIIEhostileKEYmaterial\n-----END PRIVATE KEY-----"
    emulator.add_device(
        {
            "product_key": TEST_PRODUCT,
            "device_name": "hostile-key",
            "certificate": "not a certificate",
            "private_key": key,
            "cert_sn": "1",
        }
    )
    cert = make_client().query_device_cert(product_key=TEST_PRODUCT, device_name="hostile-key")
    assert cert.private_key == key
    assert "MIIEhostileKEYmaterial" not in repr(cert) + str(cert)


# ---- QueryDevice -------------------------------------------------------------------------------


def test_query_device_pages_through_the_product_and_drops_device_secrets(fresh_emulator):
    raw_bodies: list[bytes] = []
    session = requests.Session()
    session.hooks["response"].append(lambda response, **_: raw_bodies.append(response.content))
    client = IotClient(
        endpoint=fresh_emulator.url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
        session=session,
        rate_limiter=None,
    )
    first = client.query_device(product_key=PRODUCT, page=1, page_size=50)
    second = client.query_device(product_key=PRODUCT, page=2, page_size=50)
    client.close()

    assert first.total == second.total == 67
    assert (first.page, first.page_size, first.page_count) == (1, 50, 2)
    assert (second.page, len(second.devices)) == (2, 17)
    names = [d.device_name for d in first.devices + second.devices]
    assert len(set(names)) == 67
    assert {f"sensor-{n:04d}" for n in range(1, 56)} <= set(names)
    assert all(d.iot_id and d.created for d in first.devices)

    secrets = [
        row["DeviceSecret"] for body in raw_bodies for row in json.loads(body)["Data"]["DeviceInfo"]
    ]
    assert len(secrets) == 67
    for page in (first, second):
        flat = repr(page) + str(page) + repr(pickle.dumps(page))
        assert not any(secret in flat for secret in secrets)


@pytest.mark.parametrize("version", ["v3", "v1"])
def test_query_device_on_the_enterprise_instance(make_client, version):
    page = make_client(signature_version=version).query_device(
        product_key=ENTERPRISE_PRODUCT, iot_instance_id=ENTERPRISE_INSTANCE
    )
    assert sorted(d.device_name for d in page.devices) == ["ent-gw-01", "ent-meter-02"]
    assert page.iot_instance_id == ENTERPRISE_INSTANCE


def test_query_device_for_a_missing_product(make_client):
    with pytest.raises(IotBusinessError) as caught:
        make_client().query_device(product_key="a1NoSuchPrd")
    assert caught.value.is_not_found


def test_threads_can_share_one_client(emulator, make_client):
    client = make_client(rate_limiter=GcraRateLimiter())
    errors = []

    def work():
        try:
            for name in ("thermo-001", "thermo-002"):
                client.query_device_cert(product_key=PRODUCT, device_name=name)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
