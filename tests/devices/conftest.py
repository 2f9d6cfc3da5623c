"""Fixtures for the device pages and the CLI: what the emulator really returns for a device."""

import pytest
from django.conf import settings

from certadmin.iot.client import IotClient
from tests.support.key_material import api_answer


@pytest.fixture
def device_cert(emulator):
    """``device_cert(product_key, device_name)``: the emulator's QueryDeviceCert answer, fetched
    directly (not through the dashboard), so tests know the exact certificate and key text."""

    def fetch(product_key: str, device_name: str, iot_instance_id: str | None = None):
        return api_answer(emulator, device_name, product_key, iot_instance_id)

    return fetch


@pytest.fixture
def iot(dashboard_iot):
    """A client of the dashboard's emulator with the demo pair: no limiter, one attempt."""
    client = IotClient(
        endpoint=dashboard_iot.url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
        rate_limiter=None,
        max_attempts=1,
    )
    yield client
    client.close()
