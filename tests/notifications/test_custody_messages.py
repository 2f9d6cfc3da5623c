"""Key custody's events reach the account's routes over real HTTP (a local json:// webhook):
a request (to the approvers who may use the account), its approval or refusal, a break-glass
release and a hand-over link's possible interception. Each message is kept when the event
happens and sent by the dispatch task queued on commit (never inside the request), in the
route's language, audited like a finding's; a failed send is audited and sent by the next
dispatch. Never a key, a reason, a ticket or a link's token."""

import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.custody.models import BreakGlass, HandOver, KeyRequest
from certadmin.emulator import DEMO_PRODUCT_KEY
from certadmin.notifications.configuration import DEMO_CHANNEL, demo_inbox_url
from certadmin.notifications.demo_seed import notifications_demo_seed
from certadmin.notifications.dispatch import notifications_dispatch
from certadmin.notifications.models import CustodyMessage, DemoInboxMessage
from tests.custody.conftest import approvals, approver, browser_for  # noqa: F401 - fixtures
from tests.notifications.conftest import WEBHOOK_TOKEN, posted
from tests.support.iot_accounts import account_on
from tests.support.people import ROLE_PASSWORD

pytestmark = pytest.mark.django_db

PK = DEMO_PRODUCT_KEY
DEVICE = "thermo-001"
REASON = "Ticket OPS-4711: reprovision after the board swap at customer Hangzhou Water"
FULL_REASON = (
    "Production line three stopped: the gateway lost its identity after a firmware "
    "rollback and the approvers are unreachable overnight"
)
SITE = "https://certadmin.example.com"


def _ask(browser) -> KeyRequest:
    answer = browser.post(
        reverse("custody:request-create", args=[PK, DEVICE]),
        {"action": "reveal", "reason": REASON, "ticket": "OPS-4711"},
    )
    assert answer.status_code in (200, 302), answer.content.decode()[:1000]
    return KeyRequest.objects.latest("id")


def _decide(browser, key_request: KeyRequest, decision: str) -> None:
    answer = browser.post(
        reverse("custody:request-decide", args=[key_request.pk]),
        {"decision": decision, "reason": "Checked the ticket with the on-call lead"},
    )
    assert answer.status_code in (200, 302)


def _queued() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path__endswith="notifications_send"))


def _run_queued() -> None:
    """What a worker does: run every queued dispatch once."""
    for task in _queued():
        import_string(task.task_path).call(*task.args_kwargs["args"], **task.args_kwargs["kwargs"])
        task.delete()


def _sends() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.NOTIFICATION_SEND).order_by("id"))


def _assert_nothing_secret(message: dict) -> None:
    text = message["title"] + message["message"]
    for secret in (REASON, "OPS-4711", FULL_REASON, "INC-900", "PRIVATE KEY", WEBHOOK_TOKEN):
        assert secret not in text


def test_a_request_is_sent_to_the_accounts_route_naming_its_approvers_after_the_request(
    channels,
    webhook,
    make_route,
    approvals,  # noqa: F811
    custodian,
    approver,  # noqa: F811
    make_user,
    browser_for,  # noqa: F811
    django_capture_on_commit_callbacks,
    settings,
):
    # The default account is for plant A's people: an approver outside it is not named.
    account_on(settings, "default", groups=("plant-a",))
    plant_a = Group.objects.create(name="plant-a")
    custodian.groups.add(plant_a)
    approver.groups.add(plant_a)
    elsewhere = make_user("Key approver")
    make_route()
    make_route(name="other-product", product_key="a1Other00000")
    make_route(name="staging", account="staging")

    with django_capture_on_commit_callbacks(execute=True):
        key_request = _ask(browser_for(custodian))
    # Kept for the one route it concerns; sent by the queued task, not by the request.
    assert CustodyMessage.objects.get().route.name == "ops"
    assert not webhook.requests
    assert len(_queued()) == 1
    _run_queued()

    [message] = posted(webhook)
    number = key_request.pk
    assert message["title"] == f"[certadmin] Key request {number} waits for approval: {DEVICE}"
    body = message["message"]
    for expected in (
        f"Number: {number}",
        f"Requested by: {custodian.username}",
        f"Approvers: {approver.username}",
        f"Device: {DEVICE}",
        f"ProductKey: {PK}",
        "API account: default",
        f"Link: {SITE}/custody/requests/{number}/",
    ):
        assert expected in body
    assert elsewhere.username not in body
    _assert_nothing_secret(message)
    [event] = _sends()
    assert event.outcome == AuditOutcome.SUCCESS
    assert event.detail == f"ops → hook: key request {number}"
    assert (event.account, event.product_key, event.device_name) == ("default", PK, DEVICE)
    # Sent once: the next dispatch has nothing more.
    _run_queued()
    assert len(webhook.requests) == 1
    assert CustodyMessage.objects.get().sent_at is not None


@pytest.mark.parametrize(("decision", "word"), [("approve", "approved"), ("refuse", "refused")])
def test_a_decision_is_sent_naming_the_requester_and_the_approver(
    channels,
    webhook,
    make_route,
    approvals,  # noqa: F811
    custodian,
    approver,  # noqa: F811
    browser_for,  # noqa: F811
    django_capture_on_commit_callbacks,
    decision,
    word,
):
    make_route()
    with django_capture_on_commit_callbacks(execute=True):
        key_request = _ask(browser_for(custodian))
        _decide(browser_for(approver), key_request, decision)
    _run_queued()
    _made, decided = posted(webhook)
    assert decided["title"] == f"[certadmin] Key request {key_request.pk} {word}: {DEVICE}"
    assert f"Requested by: {custodian.username}" in decided["message"]
    assert f"Decided by: {approver.username}" in decided["message"]
    assert "Checked the ticket" not in decided["message"]
    _assert_nothing_secret(decided)
    assert _sends()[-1].detail == f"ops → hook: key request {key_request.pk} {word}"


def test_a_break_glass_release_is_sent_as_high_for_review(
    channels,
    webhook,
    make_route,
    approvals,  # noqa: F811
    custodian,
    auditor,
    browser_for,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    make_route()
    with django_capture_on_commit_callbacks(execute=True):
        answer = browser_for(custodian).post(
            reverse("custody:break-glass", args=[PK, DEVICE]),
            {"action": "reveal", "reason": FULL_REASON, "ticket": "INC-900"},
        )
    assert answer.status_code == 200
    assert b"PRIVATE KEY" in answer.content
    _run_queued()
    [message] = posted(webhook)
    release = BreakGlass.objects.get()
    assert message["title"] == (
        f"[certadmin] high: break-glass by {custodian.username} on {DEVICE}, review required"
    )
    assert f"Number: {release.event_id}" in message["message"]
    assert f"Auditors: {auditor.username}" in message["message"]
    assert f"Link: {SITE}/custody/" in message["message"]
    _assert_nothing_secret(message)
    assert _sends()[-1].detail == f"ops → hook: break-glass {release.event_id}, review required"


def test_a_hand_over_link_used_by_someone_else_is_sent_as_a_possible_interception(
    channels,
    webhook,
    make_route,
    custodian,
    make_user,
    browser_for,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    make_route()
    recipient = make_user("Viewer")
    made = browser_for(custodian).post(
        reverse("custody:handover-new", args=[PK, DEVICE]),
        {"recipient": recipient.username, "delivery": "reveal", "reason": REASON},
    )
    link = re.search(r"data-handover-link>([^<]+)<", made.content.decode()).group(1)
    token = link.split("token=", 1)[1]
    # Making the link is not announced to the route.
    assert not CustodyMessage.objects.exists()
    intruder = make_user("Key custodian")
    with django_capture_on_commit_callbacks(execute=True):
        answer = browser_for(intruder).post(
            reverse("custody:handover-open"), {"token": token, "password": ROLE_PASSWORD}
        )
    assert answer.status_code == 403
    _run_queued()
    [message] = posted(webhook)
    handover = HandOver.objects.get()
    assert message["title"] == (
        f"[certadmin] high: possible interception of hand-over {handover.pk} on {DEVICE}"
    )
    assert f"Made by: {custodian.username}" in message["message"]
    assert f"Tried by: {intruder.username}" in message["message"]
    assert token not in message["message"]
    _assert_nothing_secret(message)
    assert _sends()[-1].detail == (f"ops → hook: hand-over {handover.pk}, possible interception")


def test_a_route_that_opts_out_or_is_disabled_gets_no_custody_message(
    channels,
    webhook,
    make_route,
    approvals,  # noqa: F811
    custodian,
    approver,  # noqa: F811
    browser_for,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    make_route(custody=False)
    make_route(name="off", enabled=False)
    with django_capture_on_commit_callbacks(execute=True):
        _ask(browser_for(custodian))
    assert not CustodyMessage.objects.exists()
    assert not _queued()
    assert not webhook.requests


def test_a_chinese_route_gets_chinese_text(
    channels,
    webhook,
    make_route,
    approvals,  # noqa: F811
    custodian,
    approver,  # noqa: F811
    browser_for,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    make_route(language="zh-hans")
    with django_capture_on_commit_callbacks(execute=True):
        key_request = _ask(browser_for(custodian))
    _run_queued()
    [message] = posted(webhook)
    body = message["message"]
    assert f"设备: {DEVICE}" in body
    assert "API 账号: default" in body
    assert f"链接: {SITE}/custody/requests/{key_request.pk}/" in body
    assert "API account" not in body


def test_a_failing_channel_is_audited_as_failed_and_sent_by_the_next_dispatch(
    channels,
    webhook,
    make_route,
    approvals,  # noqa: F811
    custodian,
    approver,  # noqa: F811
    browser_for,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    make_route()
    webhook.status = 500
    with django_capture_on_commit_callbacks(execute=True):
        key_request = _ask(browser_for(custodian))
        _decide(browser_for(approver), key_request, "approve")
    summary = notifications_dispatch()
    assert (summary.sent, summary.failed) == (0, 1)
    # The first failed; the decision waits behind it (the channel is not hammered).
    assert len(webhook.requests) == 1
    [failed] = _sends()
    assert failed.outcome == AuditOutcome.FAILED
    assert failed.detail == f"ops → hook: key request {key_request.pk}, failed"
    assert CustodyMessage.objects.filter(sent_at__isnull=True).count() == 2

    webhook.status = 200
    assert notifications_dispatch().sent == 2
    titles = [message["title"] for message in posted(webhook)]
    assert titles[1:] == [
        f"[certadmin] Key request {key_request.pk} waits for approval: {DEVICE}",
        f"[certadmin] Key request {key_request.pk} approved: {DEVICE}",
    ]
    assert [e.outcome for e in _sends()] == ["failed", "success", "success"]
    assert notifications_dispatch().sent == 0


@pytest.mark.django_db(transaction=True)
def test_with_approvals_on_the_demo_inbox_shows_the_request_from_the_demo_route(
    live_server,
    settings,
    approvals,  # noqa: F811
    make_user,
    browser_for,  # noqa: F811
):
    # As `CERTADMIN_KEY_APPROVALS='*:1' make run` starts it: the demo channel posts to the
    # dashboard itself, and the seeded demo route takes custody messages.
    settings.DEMO_MODE = True
    settings.BASE_URL = live_server.url
    settings.NOTIFY_CHANNEL_SECRETS = {
        DEMO_CHANNEL: demo_inbox_url(base_url=live_server.url, secret_key=settings.SECRET_KEY)
    }
    notifications_demo_seed()
    make_user("Key approver", "approver")
    key_request = _ask(browser_for(make_user("Key custodian", "custodian")))
    _run_queued()
    [message] = DemoInboxMessage.objects.all()
    assert message.title == f"[certadmin] Key request {key_request.pk} waits for approval: {DEVICE}"
    assert "Approvers: approver" in message.body
    assert f"Link: {live_server.url}/custody/requests/{key_request.pk}/" in message.body
