"""One-time hand-over links: made for a named active user, opened once after the recipient's
own login and password, within minutes; a second use or another person is refused, recorded,
and the maker told. Only the token's hash is kept, and nothing of the key."""

import hashlib
import re
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from django.urls import reverse
from django.utils import timezone

from certadmin.audit.models import AuditAction, AuditOutcome
from certadmin.custody import observers
from certadmin.custody.models import HandOver, KeyRequest, Notice
from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.support.emulator import api_calls
from tests.support.key_material import api_answer, assert_no_key_in, events
from tests.support.people import ROLE_PASSWORD

PK = DEMO_PRODUCT_KEY
DEVICE = "thermo-001"
REASON = "Ticket OPS-5150: field engineer flashes the replacement board"


def make_link(browser, recipient, delivery: str = "p12", **extra) -> str:
    answer = browser.post(
        reverse("custody:handover-new", args=[PK, DEVICE]),
        {"recipient": recipient.username, "delivery": delivery, "reason": REASON, **extra},
    )
    assert answer.status_code == 200, answer.content.decode()[:2000]
    return re.search(r"data-handover-link>([^<]+)<", answer.content.decode()).group(1)


def token_of(link: str) -> str:
    return link.split("token=", 1)[1]


def open_link(browser, link: str, **data):
    return browser.post(reverse("custody:handover-open"), {"token": token_of(link), **data})


@pytest.fixture
def recipient(make_user):
    # Any active user: here one with no key permission at all.
    return make_user("Viewer")


def test_a_link_is_made_recorded_and_only_its_hash_kept(
    dashboard_iot, custodian, recipient, browser_for, announced
):
    link = make_link(browser_for(custodian), recipient, ticket="OPS-5150")
    handover = HandOver.objects.get()
    token = token_of(link)
    assert handover.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(list(HandOver.objects.values()))
    (event,) = events(action=AuditAction.HANDOVER_CREATE)
    assert event.pk == handover.pk
    assert event.reason == REASON
    assert event.detail.startswith(f"to {recipient.username} (p12), until ")
    assert event.detail.endswith("; ticket OPS-5150")
    assert token not in event.detail
    # Ten minutes by default.
    assert timedelta(minutes=9) < handover.expires_at - timezone.now() <= timedelta(minutes=10)
    assert announced[-1].kind == observers.HANDOVER_MADE
    assert announced[-1].recipients == (recipient.username,)
    assert token not in repr(announced[-1])
    assert api_calls(dashboard_iot) == 0  # the key is fetched at use, not now


@pytest.mark.parametrize("who", ["self", "inactive", "unknown"])
def test_the_recipient_is_another_active_user(
    dashboard_iot, custodian, make_user, browser_for, who
):
    person = {"self": custodian, "inactive": make_user("Viewer"), "unknown": None}[who]
    if who == "inactive":
        person.is_active = False
        person.save()
    answer = browser_for(custodian).post(
        reverse("custody:handover-new", args=[PK, DEVICE]),
        {
            "recipient": person.username if person else "nobody-here",
            "delivery": "p12",
            "reason": REASON,
        },
    )
    assert answer.status_code in (400, 409)
    assert not HandOver.objects.exists()


def test_the_recipient_opens_a_p12_link_once_with_their_password(
    dashboard_iot, custodian, recipient, browser_for, announced
):
    link = make_link(browser_for(custodian), recipient)
    theirs = browser_for(recipient, fresh=False)
    # Opening the page uses nothing (a link preview cannot spend it).
    page = theirs.get(link.split("testserver", 1)[1])
    assert page.status_code == 200
    assert custodian.username.encode() in page.content
    assert b"Receive the key" in page.content
    assert open_link(theirs, link).status_code == 400  # the password first
    assert open_link(theirs, link, password="wrong").status_code == 400
    assert HandOver.objects.get().opened_at is None
    step = open_link(theirs, link, password=ROLE_PASSWORD)
    assert step.status_code == 200
    assert "no-store" in step["Cache-Control"]
    text = step.content.decode()
    passphrase = re.search(r"data-handover-passphrase>([^<]+)<", text).group(1)
    download_token = re.search(r'name="token" value="([^"]+)"', text).group(1)
    assert len(passphrase.replace("-", "")) == 24
    assert b"PRIVATE KEY" not in step.content
    (opened,) = events(action=AuditAction.HANDOVER_OPEN, outcome=AuditOutcome.SUCCESS)
    assert opened.outcome == AuditOutcome.SUCCESS
    assert opened.actor_username == recipient.username

    file = theirs.post(reverse("custody:handover-download"), {"token": download_token})
    assert file.status_code == 200
    assert file["Content-Disposition"].startswith("attachment")
    key, cert, _ = pkcs12.load_key_and_certificates(file.content, passphrase.encode())
    assert key is not None
    assert cert is not None
    release = events(action=AuditAction.KEY_DOWNLOAD, outcome=AuditOutcome.SUCCESS)[-1]
    assert release.actor_username == recipient.username
    assert release.detail == f"p12; hand-over {HandOver.objects.get().pk} from {custodian.username}"
    assert release.reason == REASON
    # Neither the passphrase nor the key is kept anywhere here.
    rows = str(list(HandOver.objects.values()))
    assert passphrase not in rows
    assert_no_key_in(rows, api_answer(dashboard_iot, DEVICE).private_key, "the hand-over rows")

    # A second download, or a second use of the link: refused, recorded, the maker told.
    again = theirs.post(reverse("custody:handover-download"), {"token": download_token})
    assert again.status_code == 410
    assert len(events(action=AuditAction.KEY_DOWNLOAD, outcome=AuditOutcome.SUCCESS)) == 1
    reused = open_link(theirs, link)
    assert reused.status_code == 410
    assert b"already been used" in reused.content
    denied = events(action=AuditAction.HANDOVER_REUSE, outcome=AuditOutcome.DENIED)
    assert [e.detail for e in denied] == [
        f"hand-over {HandOver.objects.get().pk}: used before: possible interception"
    ] * 2
    assert Notice.objects.filter(user=custodian).count() == 2
    assert announced[-1].kind == observers.HANDOVER_INTERCEPTION
    assert announced[-1].recipients == (custodian.username,)
    page = browser_for(custodian).get(reverse("custody:overview"))
    assert b"Possible interception" in page.content


def test_a_reveal_link_shows_the_key_once(dashboard_iot, custodian, recipient, browser_for):
    link = make_link(browser_for(custodian), recipient, delivery="reveal")
    theirs = browser_for(recipient)
    shown = open_link(theirs, link)
    assert shown.status_code == 200
    assert api_answer(dashboard_iot, DEVICE).private_key.strip() in shown.content.decode()
    release = events(action=AuditAction.KEY_REVEAL, outcome=AuditOutcome.SUCCESS)[-1]
    assert release.actor_username == recipient.username
    assert release.detail == f"hand-over {HandOver.objects.get().pk} from {custodian.username}"
    second = open_link(theirs, link)
    assert second.status_code == 410
    assert b"PRIVATE KEY" not in second.content


def test_someone_else_cannot_use_the_link_and_the_maker_is_told(
    dashboard_iot, custodian, recipient, make_user, browser_for
):
    link = make_link(browser_for(custodian), recipient, delivery="reveal")
    intruder = browser_for(make_user("Key custodian"))
    assert intruder.get(link.split("testserver", 1)[1]).status_code == 403
    answer = open_link(intruder, link, password=ROLE_PASSWORD)
    assert answer.status_code == 403
    assert b"PRIVATE KEY" not in answer.content
    assert api_calls(dashboard_iot) == 0
    denied = events(action=AuditAction.HANDOVER_REUSE, outcome=AuditOutcome.DENIED)
    assert len(denied) == 2
    assert denied[0].detail.endswith("made for another person: possible interception")
    assert Notice.objects.filter(user=custodian).exists()
    # The recipient can still use it.
    assert b"PRIVATE KEY" in open_link(browser_for(recipient), link).content


def test_an_expired_link_is_refused_and_recorded(dashboard_iot, custodian, recipient, browser_for):
    link = make_link(browser_for(custodian), recipient, delivery="reveal")
    HandOver.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    answer = open_link(browser_for(recipient), link)
    assert answer.status_code == 410
    assert b"expired" in answer.content
    (denied,) = events(action=AuditAction.HANDOVER_EXPIRED, outcome=AuditOutcome.DENIED)
    assert denied.detail.endswith(": expired")
    assert not Notice.objects.exists()
    assert api_calls(dashboard_iot) == 0


def test_an_unknown_or_mangled_link_is_a_404(dashboard_iot, recipient, browser_for):
    theirs = browser_for(recipient)
    assert theirs.get(reverse("custody:handover-open") + "?token=nope").status_code == 404
    assert theirs.post(reverse("custody:handover-open"), {"token": "x" * 500}).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in_first(
    dashboard_iot, custodian, recipient, client, browser_for
):
    link = make_link(browser_for(custodian), recipient)
    answer = client.get(link.split("testserver", 1)[1])
    assert answer.status_code == 302
    assert answer["Location"].startswith("/login/")


def test_where_approvals_are_required_a_link_needs_an_approved_request(
    approvals, custodian, approver, recipient, browser_for
):
    mine = browser_for(custodian)
    direct = mine.post(
        reverse("custody:handover-new", args=[PK, DEVICE]),
        {"recipient": recipient.username, "delivery": "p12", "reason": REASON},
    )
    assert direct.status_code == 403
    assert not HandOver.objects.exists()
    mine.post(
        reverse("custody:request-create", args=[PK, DEVICE]),
        {
            "action": "handover",
            "recipient": recipient.username,
            "delivery": "reveal",
            "reason": REASON,
        },
    )
    key_request = KeyRequest.objects.get()
    assert key_request.recipient == recipient
    browser_for(approver).post(
        reverse("custody:request-decide", args=[key_request.pk]),
        {"decision": "approve", "reason": "The engineer is on site, ticket checked"},
    )
    made = mine.post(reverse("custody:request-use", args=[key_request.pk]))
    assert made.status_code == 200
    assert b"data-handover-link" in made.content
    handover = HandOver.objects.get()
    assert handover.request == key_request
    assert handover.delivery == "reveal"
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.USED
    assert f"request {key_request.pk}" in events(action=AuditAction.HANDOVER_CREATE)[0].detail
    # Used: no second link from the same approval.
    assert mine.post(reverse("custody:request-use", args=[key_request.pk])).status_code == 403
    assert HandOver.objects.count() == 1
