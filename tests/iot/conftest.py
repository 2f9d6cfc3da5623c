"""Fixtures of the IoT client tests."""

import pytest

from tests.iot.clients import quick_clients
from tests.support.canned_api import KEY_ID, SECRET, CannedApi


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
    with quick_clients(
        endpoint=canned_api.url, access_key_id=KEY_ID, access_key_secret=SECRET
    ) as make:
        yield make
