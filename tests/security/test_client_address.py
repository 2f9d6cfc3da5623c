"""The client's address behind trusted proxies: one answer for the login
lockout and the audit trail, and X-Forwarded-For believed only through the configured proxies."""

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from certadmin.audit.models import AuditAction
from certadmin.emulator import DEMO_PRODUCT_KEY
from certadmin.http.client_address import client_address
from tests.support.key_material import events, reauth_now
from tests.support.people import ROLE_PASSWORD

PROXY = "10.0.0.1"
ALICE = "203.0.113.5"
BOB = "198.51.100.7"


def log_in(username: str, password: str, *, forwarded_for: str | None) -> int:
    client = Client(REMOTE_ADDR=PROXY)
    headers = {"x-forwarded-for": forwarded_for} if forwarded_for else {}
    response = client.post(
        reverse("login"), {"username": username, "password": password}, headers=headers
    )
    return response.status_code


def test_behind_a_proxy_one_clients_failures_do_not_lock_out_another(settings, make_user, viewer):
    settings.TRUSTED_PROXIES = 1
    for attempt in range(settings.AXES_FAILURE_LIMIT + 1):
        log_in(f"nobody-{attempt}", "wrong password", forwarded_for=ALICE)

    assert log_in(f"nobody-{attempt}", "wrong password", forwarded_for=ALICE) == 429
    assert log_in(viewer.username, ROLE_PASSWORD, forwarded_for=BOB) == 302


def test_without_trusted_proxies_a_forged_forwarded_for_does_not_escape_the_lockout(
    settings, viewer
):
    settings.TRUSTED_PROXIES = 0
    for attempt in range(settings.AXES_FAILURE_LIMIT + 1):
        log_in(f"nobody-{attempt}", "wrong password", forwarded_for=f"192.0.2.{attempt}")

    assert log_in(viewer.username, ROLE_PASSWORD, forwarded_for="192.0.2.200") == 429


def test_the_client_a_proxy_forwarded_cannot_be_chosen_by_the_client(settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR=PROXY, headers={"x-forwarded-for": f"6.6.6.6, {ALICE}, 10.0.0.9"}
    )
    settings.TRUSTED_PROXIES = 0
    assert client_address(request) == PROXY
    settings.TRUSTED_PROXIES = 1
    assert client_address(request) == "10.0.0.9"
    settings.TRUSTED_PROXIES = 2
    assert client_address(request) == ALICE
    settings.TRUSTED_PROXIES = 4  # fewer entries than proxies: not through every proxy
    assert client_address(request) == PROXY


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [("[2001:DB8::1]:443", "2001:db8::1"), (f"{ALICE}:5555", ALICE), ("not-an-ip", PROXY)],
)
def test_forwarded_addresses_are_normalised(settings, forwarded, expected):
    settings.TRUSTED_PROXIES = 1
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, headers={"x-forwarded-for": forwarded})
    assert client_address(request) == expected


@pytest.mark.parametrize(("proxies", "recorded"), [(1, ALICE), (0, PROXY)])
def test_the_audit_trail_records_the_same_client_address(
    dashboard_iot, custodian, settings, proxies, recorded
):
    settings.TRUSTED_PROXIES = proxies
    client = Client(REMOTE_ADDR=PROXY)
    client.force_login(custodian)
    reauth_now(client)

    response = client.post(
        reverse("devices:key", args=[DEMO_PRODUCT_KEY, "thermo-001"]),
        {
            "action": "reveal",
            "reason": "Ticket OPS-4711: reprovision the device after a board swap",
        },
        headers={"x-forwarded-for": ALICE},
    )

    assert response.status_code == 200
    [event] = events(action=AuditAction.KEY_REVEAL)
    assert event.ip_address == recorded
