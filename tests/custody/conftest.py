"""Fixtures for key custody: approvals on, people in each role, each with a browser of their own."""

import pytest
from django.test import Client

from tests.support.key_material import reauth_now


@pytest.fixture
def approvals(settings, dashboard_iot):
    """``approvals(rules)``: turn two-person approval on (``{"*": 1}``, ``{"default": 2}``…)."""

    def set_rules(rules: dict[str, int]) -> None:
        settings.KEY_APPROVALS = rules

    set_rules({"*": 1})
    return set_rules


@pytest.fixture
def browser_for(dashboard_iot):
    """``browser_for(user, fresh=True)``: a client of its own, logged in as ``user`` and (by
    default) inside the re-authentication window."""

    def make(user, *, fresh: bool = True) -> Client:
        browser = Client()
        browser.force_login(user)
        if fresh:
            reauth_now(browser)
        return browser

    return make


@pytest.fixture
def approver(make_user):
    return make_user("Key approver")


@pytest.fixture
def announced():
    """The custody events observers were told of during the test."""
    from certadmin.custody.observers import custody_observer_add, custody_observer_remove

    seen = []
    custody_observer_add(seen.append)
    yield seen
    custody_observer_remove(seen.append)
