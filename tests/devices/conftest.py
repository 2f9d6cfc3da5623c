"""Fixtures for the device pages and the CLI: what the emulator really returns for a device."""

import pytest

from tests.devices.key_material import api_answer


@pytest.fixture
def device_cert(emulator):
    """``device_cert(product_key, device_name)``: the emulator's QueryDeviceCert answer, fetched
    directly (not through the dashboard), so tests know the exact certificate and key text."""

    def fetch(product_key: str, device_name: str, iot_instance_id: str | None = None):
        return api_answer(emulator, device_name, product_key, iot_instance_id)

    return fetch
