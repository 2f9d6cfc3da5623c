"""/metrics: protected by token and/or address, Prometheus text with the certadmin families."""

import contextlib

import pytest
from django.utils import timezone

from certadmin.audit.models import ChainVerification
from certadmin.emulator import DEMO_PRODUCT_KEY

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-for-tests"


def _scrape(client, **headers):
    return client.get("/metrics", REMOTE_ADDR="10.1.2.3", **headers)


def test_production_without_token_or_allow_list_refuses_every_scrape(client, settings):
    settings.DEMO_MODE = False
    settings.METRICS_TOKEN, settings.METRICS_ALLOW = "", []
    assert client.get("/metrics").status_code == 403


def test_a_scrape_needs_the_bearer_token(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOW = TOKEN, []
    assert _scrape(client).status_code == 401
    assert _scrape(client, HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = _scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")


def test_a_scrape_from_outside_the_allow_list_is_refused(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOW = "", ["192.168.0.0/16"]
    assert _scrape(client).status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="192.168.7.7").status_code == 200


def test_metrics_count_views_platform_calls_jobs_certificates_and_the_audit_chain(
    client_for, viewer, dashboard_iot, settings
):
    settings.METRICS_TOKEN, settings.METRICS_ALLOW = TOKEN, []
    browser = client_for(viewer)
    browser.get(f"/devices/{DEMO_PRODUCT_KEY}/cam-lobby:01/")
    browser.get(f"/devices/{DEMO_PRODUCT_KEY}/no-such-device/")
    ChainVerification.objects.create(checked_at=timezone.now(), ok=True, checked=0)

    text = _scrape(client_for(viewer), HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()

    assert 'certadmin_http_request_duration_seconds_count{method="GET"' in text
    assert 'view="devices:device"' in text
    assert (
        'certadmin_platform_calls_total{account="default",action="QueryDeviceCert",'
        'outcome="Success"}' in text
    )
    assert 'outcome="iot.device.NotExistedDevice"' in text
    assert "certadmin_platform_call_duration_seconds_bucket" in text
    over_90 = f'certadmin_certificates{{product_key="{DEMO_PRODUCT_KEY}",state="days_over_90"}}'
    assert over_90 in text
    assert (
        f'certadmin_certificates_expiring_within_days{{days="30",product_key="{DEMO_PRODUCT_KEY}"}}'
        in text
    )
    assert 'certadmin_job_items_active{state="pending"}' in text
    assert "certadmin_audit_chain_ok 1.0" in text
    assert "certadmin_audit_chain_last_verified_timestamp_seconds" in text


def _observed_client(emulator, records, **options):
    from certadmin.iot.client import IotClient

    return IotClient(
        endpoint=emulator.url,
        access_key_id=settings_demo_pair()[0],
        access_key_secret=settings_demo_pair()[1],
        rate_limiter=None,
        backoff_base=0.01,
        on_call=records.append,
        **options,
    )


def settings_demo_pair():
    from django.conf import settings

    return settings.DEMO_ACCESS_KEY_ID, settings.DEMO_ACCESS_KEY_SECRET


def test_the_client_reports_throttled_answers_and_retries_to_its_observer(emulator):
    from certadmin.iot.errors import IotError

    records = []
    client = _observed_client(emulator, records, max_attempts=1)
    for _ in range(12):
        with contextlib.suppress(IotError):
            client.query_device_cert(product_key=DEMO_PRODUCT_KEY, device_name="thermo-001")
    assert records[0].outcome == "Success"
    assert records[0].request_id
    throttled = [r for r in records if r.outcome.startswith("Throttling")]
    assert throttled
    assert all(r.throttled == 1 and r.attempts == 1 for r in throttled)

    records.clear()
    emulator.set_fault("5xx")
    with pytest.raises(IotError):
        _observed_client(emulator, records, max_attempts=3).query_device_cert(
            product_key=DEMO_PRODUCT_KEY, device_name="thermo-001"
        )
    (failed,) = records
    assert failed.attempts == 3
    assert failed.device_name == "thermo-001"


def test_throttles_and_retries_are_counted():
    from certadmin.iot.client import CallRecord
    from certadmin.ops.metrics import PLATFORM_RETRIES, PLATFORM_THROTTLED, platform_call_count

    def value(metric):
        return metric.labels("default", "QueryDeviceCert")._value.get()

    retries, throttled = value(PLATFORM_RETRIES), value(PLATFORM_THROTTLED)
    record = CallRecord(
        action="QueryDeviceCert",
        product_key=DEMO_PRODUCT_KEY,
        device_name="thermo-001",
        outcome="Success",
        request_id="r",
        duration=0.2,
        attempts=3,
        throttled=2,
    )
    platform_call_count(record, account="default")

    assert value(PLATFORM_THROTTLED) == throttled + 2
    assert value(PLATFORM_RETRIES) == retries + 2
