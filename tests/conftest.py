"""Shared fixtures: the local IoT API emulator over real HTTP.

- ``emulator``: the session's emulator (one per test run, demo AccessKey pair), with faults,
  flow-control quotas, the request log and recorded STS tokens reset before and after each
  test. Devices added with ``add_device`` stay for the session: give them unique names.
- ``emulator_session``: the same emulator without the per-test reset.
- ``fresh_emulator``: a new emulator (own CA, own state) for one test.
"""

from collections.abc import Iterator

import pytest
from django.conf import settings

from certadmin.emulator.server import RunningEmulator, start_emulator


def _start() -> RunningEmulator:
    return start_emulator(
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
    )


def _reset(emulator: RunningEmulator) -> None:
    emulator.set_fault(None)
    emulator.reset_rate_limits()
    emulator.request_log.clear()
    emulator.security_tokens.clear()


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[RunningEmulator]:
    """One emulator for the whole test session."""
    with _start() as running:
        yield running


@pytest.fixture
def emulator(emulator_session: RunningEmulator) -> Iterator[RunningEmulator]:
    """The session's emulator, with no faults, full quotas and an empty request log."""
    _reset(emulator_session)
    yield emulator_session
    _reset(emulator_session)


@pytest.fixture
def fresh_emulator() -> Iterator[RunningEmulator]:
    """A new emulator for one test, stopped afterwards."""
    with _start() as running:
        yield running
