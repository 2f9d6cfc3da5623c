"""Fixtures for the emulator's own tests: signed callers bound to the shared emulator."""

from collections.abc import Callable

import pytest
import requests
from django.conf import settings

from certadmin.emulator.server import RunningEmulator
from tests.emulator.signer import call_v1, call_v3

Caller = Callable[..., requests.Response]


@pytest.fixture
def v1(emulator: RunningEmulator) -> Caller:
    """``v1(params=..., **options)``: a V1-signed call with the demo pair."""

    def call(**kwargs) -> requests.Response:
        kwargs.setdefault("access_key_id", settings.DEMO_ACCESS_KEY_ID)
        kwargs.setdefault("secret", settings.DEMO_ACCESS_KEY_SECRET)
        return call_v1(emulator.url, **kwargs)

    return call


@pytest.fixture
def v3(emulator: RunningEmulator) -> Caller:
    """``v3(params=..., **options)``: a V3-signed call with the demo pair."""

    def call(**kwargs) -> requests.Response:
        kwargs.setdefault("access_key_id", settings.DEMO_ACCESS_KEY_ID)
        kwargs.setdefault("secret", settings.DEMO_ACCESS_KEY_SECRET)
        return call_v3(emulator.url, **kwargs)

    return call
