"""Break-glass: a custodian releases a key alone where approvals are required, with a ticket
and a fuller reason; the release is marked, and listed for auditors until one reviews it."""

import pytest
from django.urls import reverse

from certadmin.audit.models import AuditAction, AuditOutcome
from certadmin.custody import observers
from certadmin.custody.models import BreakGlass
from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.support.key_material import events

PK = DEMO_PRODUCT_KEY
DEVICE = "thermo-001"
FULL_REASON = (
    "Production line three stopped: the gateway lost its identity after a firmware "
    "rollback and the approvers are unreachable overnight"
)


def break_glass(browser, **data):
    payload = {"action": "reveal", "reason": FULL_REASON, "ticket": "INC-900", **data}
    return browser.post(reverse("custody:break-glass", args=[PK, DEVICE]), payload)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"reason": "Ticket INC-900: gateway down now"}, b"at least 10 different words"),
        ({"ticket": ""}, b"This field is required"),
        ({"ticket": "<script>"}, b"A ticket is letters"),
    ],
)
def test_break_glass_asks_a_ticket_and_a_fuller_reason(
    approvals, custodian, browser_for, change, problem
):
    answer = break_glass(browser_for(custodian), **change)
    assert answer.status_code == 400
    assert problem in answer.content
    assert b"PRIVATE KEY" not in answer.content
    assert not BreakGlass.objects.exists()
    assert not events(outcome=AuditOutcome.SUCCESS)


def test_break_glass_releases_marks_and_waits_for_review(
    approvals, custodian, auditor, browser_for, announced
):
    answer = break_glass(browser_for(custodian))
    assert answer.status_code == 200
    assert b"PRIVATE KEY" in answer.content
    assert b"an auditor will review it" in answer.content
    (release,) = events(action=AuditAction.KEY_REVEAL, outcome=AuditOutcome.SUCCESS)
    assert release.detail == "break-glass, review required; ticket INC-900"
    assert release.reason == FULL_REASON
    (item,) = BreakGlass.objects.all()
    assert item.event_id == release.pk
    assert item.reviewed_at is None
    assert announced[-1].kind == observers.BREAK_GLASS
    assert auditor.username in announced[-1].recipients

    # The auditor's page lists it until it is reviewed.
    checker = browser_for(auditor)
    home = checker.get(reverse("devices:home"), follow=True)
    assert b"1 break-glass release waits for review" in home.content
    page = checker.get(reverse("custody:overview"))
    assert f'data-break-glass="{release.pk}"'.encode() in page.content
    short = checker.post(reverse("custody:break-glass-review", args=[item.pk]), {"note": "ok"})
    assert short.status_code == 302
    item.refresh_from_db()
    assert item.reviewed_at is None  # a review says what was checked
    checker.post(
        reverse("custody:break-glass-review", args=[item.pk]),
        {"note": "Confirmed INC-900 with the plant manager, outage was real"},
    )
    item.refresh_from_db()
    assert item.reviewed_at is not None
    assert item.reviewed_by_username == auditor.username
    (review,) = events(action=AuditAction.BREAK_GLASS_REVIEW)
    assert review.detail == f"break-glass {release.pk}: reviewed"
    assert review.reason == "Confirmed INC-900 with the plant manager, outage was real"
    assert item.review_event_id == review.pk
    page = checker.get(reverse("custody:overview"))
    assert f'data-break-glass="{release.pk}"'.encode() not in page.content
    assert b"Every break-glass release has been reviewed" in page.content
    # Reviewed once: a second review is refused.
    checker.post(
        reverse("custody:break-glass-review", args=[item.pk]),
        {"note": "Second look at the same release, nothing new"},
    )
    assert len(events(action=AuditAction.BREAK_GLASS_REVIEW)) == 1


def test_nobody_reviews_their_own_break_glass(approvals, make_user, browser_for):
    both = make_user("Key custodian")
    both.groups.add(*make_user("Auditor").groups.all())
    browser = browser_for(both)
    break_glass(browser)
    item = BreakGlass.objects.get()
    browser.post(
        reverse("custody:break-glass-review", args=[item.pk]),
        {"note": "Reviewing my own release, which must not count"},
    )
    item.refresh_from_db()
    assert item.reviewed_at is None
    assert not events(action=AuditAction.BREAK_GLASS_REVIEW)


def test_only_auditors_review(approvals, custodian, approver, browser_for):
    break_glass(browser_for(custodian))
    item = BreakGlass.objects.get()
    answer = browser_for(approver).post(
        reverse("custody:break-glass-review", args=[item.pk]),
        {"note": "An approver trying to review a release"},
    )
    assert answer.status_code == 403


def test_break_glass_is_only_for_accounts_that_need_approval(dashboard_iot, custodian, browser_for):
    answer = break_glass(browser_for(custodian))
    assert answer.status_code == 409
    assert b"PRIVATE KEY" not in answer.content
    assert not BreakGlass.objects.exists()


def test_a_break_glass_download_is_marked_too(approvals, custodian, browser_for):
    passphrase = "Tundra-Lantern-Quarry-88"
    answer = break_glass(
        browser_for(custodian),
        action="p12",
        passphrase=passphrase,
        passphrase_confirm=passphrase,
    )
    assert answer.status_code == 200
    assert answer["Content-Disposition"].startswith("attachment")
    (release,) = events(action=AuditAction.KEY_DOWNLOAD, outcome=AuditOutcome.SUCCESS)
    assert release.detail == "p12; break-glass, review required; ticket INC-900"
    assert BreakGlass.objects.get().action == "p12"
