"""CSRF tokens are tied to the session."""

import re

from django.test import Client
from django.urls import reverse

from certadmin.audit.models import AuditAction
from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.support.key_material import events, reauth_now

REASON = "Ticket OPS-4711: reprovision the device after a board swap"


def reveal_url() -> str:
    return reverse("devices:key", args=[DEMO_PRODUCT_KEY, "thermo-001"])


def page_token(client: Client) -> str:
    page = client.get(reverse("devices:home")).content.decode()
    return re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


def test_an_attackers_own_token_cookie_and_matching_token_are_refused(dashboard_iot, custodian):
    attacker_token = "A" * 32  # a well-formed secret of the attacker's choosing
    victim = Client(enforce_csrf_checks=True)
    victim.force_login(custodian)
    reauth_now(victim)
    victim.cookies["csrftoken"] = attacker_token

    response = victim.post(
        reveal_url(),
        {"action": "reveal", "reason": REASON, "csrfmiddlewaretoken": attacker_token},
        headers={"x-csrftoken": attacker_token},
    )

    assert response.status_code == 403
    assert events(action=AuditAction.KEY_REVEAL) == []


def test_the_htmx_header_with_the_pages_token_still_works(dashboard_iot, custodian):
    client = Client(enforce_csrf_checks=True)
    client.force_login(custodian)
    reauth_now(client)

    response = client.post(
        reveal_url(),
        {"action": "reveal", "reason": REASON},
        headers={"x-csrftoken": page_token(client), "hx-request": "true"},
    )

    assert response.status_code == 200
    assert "csrftoken" not in response.cookies
    assert len(events(action=AuditAction.KEY_REVEAL)) == 1
