"""Two-person approval: the key form defers to it, requests wait for approvers, nobody approves
their own request, an approval is used once by its requester within its time, and every step is
in the audit trail."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from certadmin.audit.models import AuditAction, AuditOutcome
from certadmin.audit.verification import chain_verify
from certadmin.custody import observers
from certadmin.custody.models import KeyApproval, KeyRequest
from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.support.emulator import api_calls
from tests.support.key_material import api_answer, assert_no_key_in, events
from tests.support.people import ROLE_PASSWORD

PK = DEMO_PRODUCT_KEY
DEVICE = "thermo-001"
REASON = "Ticket OPS-4711: reprovision the device after a board swap"


def ask(browser, action: str = "reveal", **extra):
    return browser.post(
        reverse("custody:request-create", args=[PK, DEVICE]),
        {"action": action, "reason": REASON, "ticket": "OPS-4711", **extra},
    )


def decide(browser, key_request, decision: str = "approve"):
    return browser.post(
        reverse("custody:request-decide", args=[key_request.pk]),
        {"decision": decision, "reason": "Checked the ticket with the on-call lead"},
    )


def use(browser, key_request, **data):
    return browser.post(reverse("custody:request-use", args=[key_request.pk]), data)


def test_without_approvals_the_key_form_works_as_before_and_offers_a_hand_over(
    dashboard_iot, custodian, browser_for
):
    browser = browser_for(custodian)
    page = browser.get(reverse("devices:device", args=[PK, DEVICE]))
    assert b"Reveal private key" in page.content
    assert b"Hand over the key" in page.content
    assert b"Request approval" not in page.content
    answer = browser.post(
        reverse("devices:key", args=[PK, DEVICE]), {"action": "reveal", "reason": REASON}
    )
    assert answer.status_code == 200
    assert b"PRIVATE KEY" in answer.content


@pytest.mark.parametrize("action", ["reveal", "key", "p12", "zip", "zip-plain"])
def test_with_approvals_the_key_form_refuses_every_release_and_records_it(
    approvals, dashboard_iot, custodian, browser_for, action
):
    browser = browser_for(custodian)
    calls = api_calls(dashboard_iot)
    answer = browser.post(
        reverse("devices:key", args=[PK, DEVICE]),
        {
            "action": action,
            "reason": REASON,
            "passphrase": "x" * 20,
            "passphrase_confirm": "x" * 20,
        },
    )
    assert answer.status_code == 403
    assert b"PRIVATE KEY" not in answer.content
    assert b"Request approval" in answer.content
    assert api_calls(dashboard_iot) == calls  # nothing was fetched
    (event,) = events(outcome=AuditOutcome.DENIED)
    assert event.detail == "two-person approval required"
    assert event.action == (
        AuditAction.KEY_REVEAL if action == "reveal" else AuditAction.KEY_DOWNLOAD
    )


def test_the_device_page_asks_for_approval_where_the_account_needs_it(
    approvals, custodian, browser_for
):
    approvals({"staging": 1})
    browser = browser_for(custodian)
    page = browser.get(reverse("devices:device", args=[PK, DEVICE]))
    assert b"Reveal private key" in page.content  # the default account needs none
    approvals({"default": 2})
    page = browser.get(reverse("devices:device", args=[PK, DEVICE]))
    assert b"Request approval" in page.content
    assert b"after 2 approvals" in page.content
    assert b"Break glass" in page.content


def test_a_request_is_recorded_waits_and_tells_the_approvers(
    approvals, custodian, approver, make_user, browser_for, announced
):
    also = make_user("Key approver")
    answer = ask(browser_for(custodian))
    key_request = KeyRequest.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == reverse("custody:request", args=[key_request.pk])
    (event,) = events(action=AuditAction.KEY_REQUEST)
    assert event.pk == key_request.pk  # one number in the trail and on the page
    assert event.outcome == AuditOutcome.SUCCESS
    assert event.reason == REASON
    assert event.detail == "reveal; 1 approval(s) needed; ticket OPS-4711"
    assert key_request.state == KeyRequest.State.PENDING
    assert key_request.requester == custodian
    (told,) = announced
    assert told.kind == observers.REQUEST_MADE
    assert set(told.recipients) == {approver.username, also.username}
    assert told.path == reverse("custody:request", args=[key_request.pk])
    # The approver sees it waiting: on the menu, the dashboard and the custody page.
    page = browser_for(approver).get(reverse("devices:home"))
    assert b"1 key request waits for your decision" in page.content
    page = browser_for(approver).get(reverse("custody:overview"))
    assert REASON.encode() in page.content


def test_a_request_needs_a_reason_and_a_recipient_for_a_hand_over(
    approvals, custodian, browser_for
):
    browser = browser_for(custodian)
    answer = browser.post(
        reverse("custody:request-create", args=[PK, DEVICE]), {"action": "reveal", "reason": "x"}
    )
    assert answer.status_code == 400
    answer = ask(browser, action="handover")
    assert answer.status_code == 400
    assert b"Name the person who receives the key" in answer.content
    assert not KeyRequest.objects.exists()


@pytest.mark.parametrize("who", ["custodian-and-approver", "superuser"])
def test_nobody_approves_their_own_request_whatever_they_hold(
    approvals, make_user, browser_for, who
):
    if who == "superuser":
        requester = make_user("superuser")
    else:
        requester = make_user("Key custodian")
        requester.groups.add(*make_user("Key approver").groups.all())
    browser = browser_for(requester)
    ask(browser)
    key_request = KeyRequest.objects.get()
    answer = decide(browser, key_request)
    assert answer.status_code == 403
    assert b"someone else must decide" in answer.content
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.PENDING
    assert not KeyApproval.objects.exists()
    (denied,) = events(action=AuditAction.KEY_REQUEST_APPROVE)
    assert denied.outcome == AuditOutcome.DENIED
    assert (
        denied.detail == f"request {key_request.pk}: the requester cannot approve their own request"
    )
    # Nor is it offered: the request page has no decision form for its requester.
    page = browser.get(reverse("custody:request", args=[key_request.pk]))
    assert b"Record my decision" not in page.content


def test_an_approved_request_releases_the_key_once_to_its_requester(
    approvals, dashboard_iot, custodian, approver, browser_for, announced
):
    mine = browser_for(custodian)
    ask(mine)
    key_request = KeyRequest.objects.get()
    assert use(mine, key_request).status_code == 403  # not approved yet
    assert decide(browser_for(approver), key_request).status_code == 302
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.APPROVED
    assert announced[-1].kind == observers.REQUEST_APPROVED
    assert announced[-1].recipients == (custodian.username,)
    approval = events(action=AuditAction.KEY_REQUEST_APPROVE)[-1]
    assert approval.outcome == AuditOutcome.SUCCESS
    assert approval.detail == f"request {key_request.pk} (1 of 1): approved"
    assert approval.reason == "Checked the ticket with the on-call lead"
    assert approval.actor_username == approver.username

    answer = use(mine, key_request)
    assert answer.status_code == 200
    key_text = api_answer(dashboard_iot, DEVICE).private_key.strip()
    assert key_text in answer.content.decode()
    assert "no-store" in answer["Cache-Control"]
    release = events(action=AuditAction.KEY_REVEAL, outcome=AuditOutcome.SUCCESS)[-1]
    assert release.detail == f"request {key_request.pk}"
    assert release.reason == REASON
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.USED

    # Used: a second use is refused and recorded, and fetches nothing.
    calls = api_calls(dashboard_iot)
    again = use(mine, key_request)
    assert again.status_code == 403
    assert b"PRIVATE KEY" not in again.content
    assert api_calls(dashboard_iot) == calls
    refused = events(action=AuditAction.KEY_REVEAL, outcome=AuditOutcome.DENIED)[-1]
    assert refused.detail == f"request {key_request.pk}: not approved, already used or expired"
    assert chain_verify().ok


def test_someone_else_cannot_use_an_approved_request(
    approvals, custodian, approver, make_user, browser_for
):
    ask(browser_for(custodian))
    key_request = KeyRequest.objects.get()
    decide(browser_for(approver), key_request)
    other = browser_for(make_user("Key custodian"))
    assert use(other, key_request).status_code == 404
    # An approver sees it but cannot use it.
    answer = use(browser_for(approver), key_request)
    assert answer.status_code in (403, 404)
    assert b"PRIVATE KEY" not in answer.content
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.APPROVED


def test_a_refused_request_cannot_be_used(approvals, custodian, approver, browser_for, announced):
    mine = browser_for(custodian)
    ask(mine)
    key_request = KeyRequest.objects.get()
    decide(browser_for(approver), key_request, "refuse")
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.REFUSED
    assert announced[-1].kind == observers.REQUEST_REFUSED
    refusal = events(action=AuditAction.KEY_REQUEST_REFUSE)[-1]
    assert refusal.detail == f"request {key_request.pk} (0 of 1): refused"
    answer = use(mine, key_request)
    assert answer.status_code == 403
    assert b"PRIVATE KEY" not in answer.content
    # A refused request takes no more decisions either.
    assert decide(browser_for(approver), key_request).status_code == 409


def test_an_expired_approval_cannot_be_used_and_its_expiry_is_recorded(
    approvals, custodian, approver, browser_for
):
    mine = browser_for(custodian)
    ask(mine)
    key_request = KeyRequest.objects.get()
    decide(browser_for(approver), key_request)
    key_request.refresh_from_db()
    # Approved now, usable for KEY_APPROVAL_HOURS (4 by default) from the approval.
    assert timedelta(hours=3.9) < key_request.expires_at - timezone.now() <= timedelta(hours=4)
    KeyRequest.objects.filter(pk=key_request.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    answer = use(mine, key_request)
    assert answer.status_code == 403
    assert b"PRIVATE KEY" not in answer.content
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.EXPIRED
    (expiry,) = events(action=AuditAction.KEY_REQUEST_EXPIRE)
    assert expiry.detail == f"request {key_request.pk}: expired"
    assert expiry.actor_id is None
    # Recorded once, however many pages look at it.
    mine.get(reverse("custody:overview"))
    assert len(events(action=AuditAction.KEY_REQUEST_EXPIRE)) == 1


def test_a_pending_request_expires_too(approvals, custodian, approver, browser_for):
    ask(browser_for(custodian))
    key_request = KeyRequest.objects.get()
    KeyRequest.objects.filter(pk=key_request.pk).update(expires_at=timezone.now())
    assert decide(browser_for(approver), key_request).status_code == 409
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.EXPIRED


def test_two_approvals_are_two_different_people(approvals, custodian, make_user, browser_for):
    approvals({"default": 2})
    first, second = make_user("Key approver"), make_user("Key approver")
    ask(browser_for(custodian))
    key_request = KeyRequest.objects.get()
    assert key_request.approvals_required == 2
    decide(browser_for(first), key_request)
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.PENDING
    # The same approver again: already decided.
    assert decide(browser_for(first), key_request).status_code == 409
    decide(browser_for(second), key_request)
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.APPROVED
    assert events(action=AuditAction.KEY_REQUEST_APPROVE)[-1].detail == (
        f"request {key_request.pk} (2 of 2): approved"
    )


def test_an_approved_p12_request_asks_its_passphrase_at_use(
    approvals, custodian, approver, browser_for
):
    from cryptography.hazmat.primitives.serialization import pkcs12

    mine = browser_for(custodian)
    ask(mine, action="p12")
    key_request = KeyRequest.objects.get()
    decide(browser_for(approver), key_request)
    passphrase = "Tundra-Lantern-Quarry-88"
    refused = use(mine, key_request, passphrase="short", passphrase_confirm="short")
    assert refused.status_code == 400
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.APPROVED  # not spent by a slip
    answer = use(mine, key_request, passphrase=passphrase, passphrase_confirm=passphrase)
    assert answer.status_code == 200
    assert answer["Content-Disposition"].startswith("attachment")
    key, cert, _ = pkcs12.load_key_and_certificates(answer.content, passphrase.encode())
    assert key is not None
    assert cert is not None
    assert events(action=AuditAction.KEY_DOWNLOAD, outcome=AuditOutcome.SUCCESS)[-1].detail == (
        f"p12; request {key_request.pk}"
    )


def test_a_stale_password_is_asked_at_use(approvals, custodian, approver, browser_for):
    mine = browser_for(custodian, fresh=False)
    ask(mine)
    key_request = KeyRequest.objects.get()
    decide(browser_for(approver), key_request)
    assert use(mine, key_request).status_code == 400
    assert use(mine, key_request, password="wrong").status_code == 400
    answer = use(mine, key_request, password=ROLE_PASSWORD)
    assert answer.status_code == 200
    assert b"PRIVATE KEY" in answer.content


def test_a_platform_failure_does_not_spend_the_approval(
    approvals, dashboard_iot, custodian, approver, browser_for
):
    mine = browser_for(custodian)
    ask(mine)
    key_request = KeyRequest.objects.get()
    decide(browser_for(approver), key_request)
    dashboard_iot.set_fault("5xx", actions=["QueryDeviceCert"])
    failed = use(mine, key_request)
    assert failed.status_code >= 500
    assert b"PRIVATE KEY" not in failed.content
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.APPROVED
    assert events(action=AuditAction.KEY_REVEAL)[-1].outcome == AuditOutcome.FAILED
    dashboard_iot.set_fault(None)
    assert b"PRIVATE KEY" in use(mine, key_request).content


def test_nothing_of_the_key_is_kept_for_a_request(
    approvals, dashboard_iot, custodian, approver, browser_for
):
    mine = browser_for(custodian)
    ask(mine)
    key_request = KeyRequest.objects.get()
    decide(browser_for(approver), key_request)
    use(mine, key_request)
    key_text = api_answer(dashboard_iot, DEVICE).private_key
    rows = str(list(KeyRequest.objects.values())) + str(list(KeyApproval.objects.values()))
    assert_no_key_in(rows, key_text, "the custody tables")


def test_approvers_and_viewers_may_not_request_keys(approvals, approver, viewer, browser_for):
    for person in (approver, viewer):
        assert ask(browser_for(person)).status_code == 403
    assert not KeyRequest.objects.exists()


def test_an_approver_decides_only_on_the_api_accounts_they_may_use(
    approvals, settings, dashboard_iot, custodian, approver, make_user, browser_for
):
    from django.contrib.auth.models import Group

    from tests.support.iot_accounts import account_on

    # The default account is now for the "prod" group only: the custodian is in it, the
    # approver is not; a second approver is.
    account_on(settings, "default", groups=("prod",))
    prod = Group.objects.create(name="prod")
    custodian.groups.add(prod)
    insider = make_user("Key approver")
    insider.groups.add(prod)
    assert ask(browser_for(custodian)).status_code == 302
    key_request = KeyRequest.objects.get()

    outsider = browser_for(approver)
    assert key_request.pk not in [
        r.pk for r in outsider.get(reverse("custody:overview")).context["to_decide"]
    ]
    assert outsider.get(reverse("custody:request", args=[key_request.pk])).status_code == 404
    assert decide(outsider, key_request).status_code == 404
    assert not KeyApproval.objects.exists()

    assert decide(browser_for(insider), key_request).status_code == 302
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.APPROVED


def test_the_menu_count_follows_each_decision_without_counting_on_every_page(
    a_fresh_minute,
    approvals,
    dashboard_iot,
    custodian,
    approver,
    browser_for,
    django_assert_max_num_queries,
    django_capture_on_commit_callbacks,
):
    from certadmin.custody.selectors import custody_counts

    # (Each write is committed as in production: the cached counts are forgotten on commit.)
    with django_capture_on_commit_callbacks(execute=True):
        assert ask(browser_for(custodian)).status_code == 302
    key_request = KeyRequest.objects.get()
    assert custody_counts(user=approver)["to_decide"] == 1
    # Counted once, then read from the cache until something in custody changes.
    with django_assert_max_num_queries(0):
        assert custody_counts(user=approver)["to_decide"] == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert decide(browser_for(approver), key_request).status_code == 302
    assert custody_counts(user=approver)["to_decide"] == 0
    assert custody_counts(user=custodian)["to_use"] == 1
    # Using the approval is a conditional update, not a save: the count follows it too.
    with django_capture_on_commit_callbacks(execute=True):
        assert use(browser_for(custodian), key_request).status_code == 200
    assert custody_counts(user=custodian)["to_use"] == 0
