"""Fixtures of the IoT client tests."""

import pytest

from certadmin.iot.client import IotClient

from .canned_api import KEY_ID, SECRET, CannedApi


@pytest.fixture
def canned_api():
    """A scripted HTTP API on a free local port; push ``Canned`` answers onto it."""
    api = CannedApi()
    yield api
    api.close()


@pytest.fixture
def make_client(canned_api):
    """``make_client(**overrides)``: an IotClient on the canned API, no rate limiter, quick
    back-off; closed after the test."""
    clients = []

    def make(**overrides) -> IotClient:
        options = {
            "endpoint": canned_api.url,
            "access_key_id": KEY_ID,
            "access_key_secret": SECRET,
            "backoff_base": 0.01,
            "backoff_max": 0.05,
            "rate_limiter": None,
        }
        options.update(overrides)
        client = IotClient(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
