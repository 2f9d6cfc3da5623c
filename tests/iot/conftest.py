"""Fixtures of the IoT client tests."""

import pytest

from .canned_api import CannedApi


@pytest.fixture
def canned_api():
    """A scripted HTTP API on a free local port; push ``Canned`` answers onto it."""
    api = CannedApi()
    yield api
    api.close()
