"""The certificate page says whether the device is online (QueryDeviceDetail, asked beside
QueryDeviceCert), and still shows the certificate when that call fails."""

import logging
import re

import pytest
from django.apps import apps

from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.support.pages import HTMX_HEADERS

pytestmark = pytest.mark.django_db


def device_page(client, device_name: str, query: str = "", **headers) -> str:
    response = client.get(f"/devices/{DEMO_PRODUCT_KEY}/{device_name}/{query}", headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def presence(html: str) -> str:
    """The status line's text, tags removed."""
    line = re.search(r'<p class="device-status-line" id="device-presence">(.*?)</p>', html, re.S)
    assert line, "no device status on the page"
    return " ".join(re.sub(r"<[^>]+>", " ", line.group(1)).split())


@pytest.mark.parametrize(
    ("device_name", "words", "online_time"),
    [
        ("thermo-001", "online", True),
        ("thermo-003", "offline", True),
        ("sensor-0017", "disabled", True),
        ("sensor-gen", "not activated", False),
    ],
)
def test_the_page_says_whether_the_device_is_online_and_when_it_last_was(
    dashboard_iot, viewer_client, device_name, words, online_time
):
    html = device_page(viewer_client, device_name)
    shown = presence(html)
    assert shown.startswith(f"Device status {words}")
    assert ("last online" in shown) is online_time
    if online_time:
        assert re.search(r'id="device-presence">.*?<time datetime="20', html, re.S)


def asked(emulator) -> list[str]:
    return [entry.action for entry in emulator.request_log]


def test_the_status_is_asked_beside_the_certificate_and_refreshed_with_it(
    dashboard_iot, viewer_client
):
    device_page(viewer_client, "thermo-002")
    refreshed = device_page(viewer_client, "thermo-002", "?refresh=1", **HTMX_HEADERS)
    assert "Device status online" in presence(refreshed)
    assert asked(dashboard_iot).count("QueryDeviceDetail") == 2
    assert asked(dashboard_iot).count("QueryDeviceCert") == 2


def test_a_view_again_within_seconds_shows_the_status_the_platform_just_gave(
    dashboard_iot, viewer_client, custodian_client
):
    # Not one QueryDeviceDetail per view: its quota (50/s per account) would cap the pages.
    first = presence(device_page(viewer_client, "thermo-003"))
    assert presence(device_page(viewer_client, "thermo-003")) == first
    assert presence(device_page(custodian_client, "thermo-003")) == first
    assert first.startswith("Device status offline last online")
    assert asked(dashboard_iot).count("QueryDeviceDetail") == 1


def test_a_failed_status_call_is_not_kept(dashboard_iot, viewer_client):
    dashboard_iot.set_fault("5xx", actions=["QueryDeviceDetail"])
    assert presence(device_page(viewer_client, "thermo-001")).startswith("Device status unknown")
    dashboard_iot.set_fault(None)
    assert presence(device_page(viewer_client, "thermo-001")).startswith("Device status online")


@pytest.mark.parametrize("fault", ["5xx", "malformed", "drop"])
def test_when_the_status_call_fails_the_certificate_is_still_shown(
    dashboard_iot, viewer_client, fault
):
    dashboard_iot.set_fault(fault, actions=["QueryDeviceDetail"])
    html = device_page(viewer_client, "thermo-001")
    assert "Certificate ready" in html
    assert "BEGIN CERTIFICATE" in html
    shown = presence(html)
    assert shown.startswith("Device status unknown")
    assert "did not say whether the device is online" in shown


def test_the_device_secret_is_never_shown_logged_or_kept(dashboard_iot, viewer_client, caplog):
    secret = dashboard_iot._gateway.store.get(DEMO_PRODUCT_KEY, "thermo-003").device_secret
    with caplog.at_level(logging.DEBUG):
        html = device_page(viewer_client, "thermo-003")
    assert "Device status offline" in presence(html)
    assert secret not in html
    assert secret not in caplog.text
    for model in apps.get_models():
        assert secret not in str(list(model.objects.order_by().values_list())), model
