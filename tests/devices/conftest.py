"""Fixtures for the device pages and the CLI: what the emulator really returns for a device."""

import pytest
from django.conf import settings

from certadmin.iot.client import IotClient
from certadmin.iot.results import DeviceCert


@pytest.fixture
def device_cert(emulator):
    """``device_cert(product_key, device_name)``: the emulator's QueryDeviceCert answer, fetched
    directly (not through the dashboard), so tests know the exact certificate and key text."""
    client = IotClient(
        endpoint=emulator.url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
        rate_limiter=None,
    )

    def fetch(product_key: str, device_name: str, iot_instance_id: str | None = None) -> DeviceCert:
        return client.query_device_cert(
            product_key=product_key, device_name=device_name, iot_instance_id=iot_instance_id
        )

    yield fetch
    client.close()
