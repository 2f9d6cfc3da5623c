"""Spent exactly once under concurrency (PostgreSQL): one approval, or one hand-over link,
used by many sessions at the same moment gives the key to exactly one of them."""

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from certadmin.audit.models import AuditAction, AuditOutcome
from certadmin.audit.verification import chain_verify
from certadmin.custody.models import HandOver, KeyRequest
from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.support.key_material import events, reauth_now

PK = DEMO_PRODUCT_KEY
DEVICE = "thermo-001"
REASON = "Ticket OPS-4711: reprovision the device after a board swap"
WORKERS = 8


def _same_moment(user, post) -> list[int]:
    """``post(client)`` from WORKERS sessions of ``user`` at once; their statuses."""
    clients = []
    for _ in range(WORKERS):
        client = Client()
        client.force_login(user)
        reauth_now(client)
        clients.append(client)
    start = threading.Barrier(WORKERS)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def run(client: Client) -> None:
        try:
            start.wait(timeout=30)
            statuses.append(post(client).status_code)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    return statuses


@pytest.fixture
def server_database():
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("threads need a server database (run with DATABASE_URL=postgres://…)")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_approval_used_by_many_sessions_at_once_releases_the_key_once(
    server_database, approvals, custodian, approver, browser_for, settings
):
    settings.LIVE_LOOKUPS_PER_USER = WORKERS
    browser_for(custodian).post(
        reverse("custody:request-create", args=[PK, DEVICE]), {"action": "reveal", "reason": REASON}
    )
    key_request = KeyRequest.objects.get()
    browser_for(approver).post(
        reverse("custody:request-decide", args=[key_request.pk]),
        {"decision": "approve", "reason": "Checked the ticket with the on-call lead"},
    )
    statuses = _same_moment(
        custodian, lambda c: c.post(reverse("custody:request-use", args=[key_request.pk]))
    )
    assert sorted(statuses) == [200] + [403] * (WORKERS - 1)
    assert len(events(action=AuditAction.KEY_REVEAL, outcome=AuditOutcome.SUCCESS)) == 1
    assert chain_verify().ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_hand_over_link_opened_by_many_sessions_at_once_gives_the_key_once(
    server_database, dashboard_iot, custodian, make_user, browser_for, settings
):
    settings.LIVE_LOOKUPS_PER_USER = WORKERS
    recipient = make_user("Viewer")
    made = browser_for(custodian).post(
        reverse("custody:handover-new", args=[PK, DEVICE]),
        {"recipient": recipient.username, "delivery": "reveal", "reason": REASON},
    )
    token = made.content.decode().split("token=", 1)[1].split("<", 1)[0].strip()
    statuses = _same_moment(
        recipient, lambda c: c.post(reverse("custody:handover-open"), {"token": token})
    )
    assert sorted(statuses) == [200] + [410] * (WORKERS - 1)
    assert len(events(action=AuditAction.KEY_REVEAL, outcome=AuditOutcome.SUCCESS)) == 1
    assert HandOver.objects.get().opened_at is not None
    assert chain_verify().ok
