"""A slow platform: a page answers within its deadline, with a clear error,
after one QueryDeviceCert (a read timeout may have run upstream and spent quota)."""

import time

from django.urls import reverse

from certadmin.emulator import DEMO_PRODUCT_KEY


def test_a_page_answers_within_its_deadline_when_the_platform_is_slow(
    dashboard_iot, viewer, client_for, settings
):
    settings.IOT_DEADLINE_SECONDS = 2.0
    dashboard_iot.set_fault(None, latency=20.0)
    client = client_for(viewer)

    started = time.monotonic()
    response = client.get(reverse("devices:device", args=[DEMO_PRODUCT_KEY, "thermo-003"]))
    elapsed = time.monotonic() - started

    assert elapsed < settings.IOT_DEADLINE_SECONDS + 1.0
    assert response.status_code == 502
    assert "did not answer in time" in response.content.decode()
    calls = [entry for entry in dashboard_iot.request_log if entry.action == "QueryDeviceCert"]
    assert len(calls) == 1


def test_pages_have_a_deadline_by_default():
    from certadmin.devices.platform import iot_client

    client = iot_client()
    assert client.deadline == 8.0
    assert client.retry_read_timeouts is False
