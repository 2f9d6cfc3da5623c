"""Routes announce new and escalating findings once per threshold, in the route's language,
over real HTTP (a local json:// webhook) and real SMTP (a local mailto:// server); a failed
send is audited and tried again by the next dispatch; the daily digest; and the dispatch runs as
a task queued after each findings run."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.findings.models import Finding
from certadmin.findings.runs import findings_run
from certadmin.findings.severity import Severity
from certadmin.notifications.dispatch import notifications_digest, notifications_dispatch
from certadmin.notifications.models import Delivery
from tests.findings.conftest import PRODUCT, days, leaf_expiring_in
from tests.notifications.conftest import posted

pytestmark = pytest.mark.django_db


def _sends() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.NOTIFICATION_SEND).order_by("id"))


def test_a_new_finding_is_announced_once_with_everything_a_person_needs(
    channels, webhook, make_route, store
):
    make_route()
    record = store(leaf_expiring_in(days(20)), device_name="meter-20")
    findings_run()
    summary = notifications_dispatch()
    assert (summary.sent, summary.failed) == (1, 0)
    [message] = posted(webhook)
    assert message["title"] == "[certadmin] low: Certificate expiring on meter-20"
    body = message["message"]
    for expected in (
        "Device: meter-20",
        f"ProductKey: {PRODUCT}",
        "API account: default",
        f"Serial: {record.serial}",
        f"SHA-256 fingerprint: {record.sha256_fingerprint}",
        "Days left: 19",
        f"Link: https://certadmin.example.com/devices/{PRODUCT}/meter-20/",
    ):
        assert expected in body
    [event] = _sends()
    assert event.outcome == AuditOutcome.SUCCESS
    assert (event.product_key, event.device_name) == (PRODUCT, "meter-20")
    assert event.certificate_sha256 == record.sha256_fingerprint
    assert event.detail == "ops → hook: cert.expiring low"

    # A second findings run and dispatch: the finding is still open, nothing is repeated.
    findings_run()
    assert notifications_dispatch().sent == 0
    assert len(webhook.requests) == 1
    assert len(_sends()) == 1


def test_an_escalation_from_30_to_7_days_is_announced_again(
    channels, webhook, make_route, store, settings
):
    settings.SYNC_RECHECK_DAYS = 30  # two weeks on, the record is not stale yet
    make_route()
    store(leaf_expiring_in(days(20)), device_name="meter-esc")
    findings_run()
    notifications_dispatch()
    later = timezone.now() + timedelta(days=14)
    findings_run(now=later)
    finding = Finding.objects.get(device_name="meter-esc", closed_at__isnull=True)
    assert (finding.window_days, finding.severity) == (7, Severity.HIGH)
    assert notifications_dispatch(now=later).sent == 1
    _first, second = posted(webhook)
    assert second["title"] == "[certadmin] Escalated to high: Certificate expiring on meter-esc"
    assert "Severity: high (was low)" in second["message"]
    assert "Days left: 5" in second["message"]
    # Announced at both thresholds, and no more.
    thresholds = set(Delivery.objects.values_list("severity", "window_days"))
    assert thresholds == {(Severity.LOW, 30), (Severity.HIGH, 7)}
    findings_run(now=later)
    assert notifications_dispatch(now=later).sent == 0


def test_a_route_sends_only_its_account_product_and_severity(channels, webhook, make_route, store):
    make_route(min_severity=Severity.HIGH)
    make_route(name="other-product", product_key="a1Elsewhere1")
    store(leaf_expiring_in(days(20)), device_name="meter-low")  # low: below the first
    store(leaf_expiring_in(days(-3)), device_name="meter-dead")  # critical, online: 2
    store(
        leaf_expiring_in(days(-3)),
        device_name="staging-dead",
        account="staging",
        device_status="OFFLINE",
    )
    findings_run()
    notifications_dispatch()
    titles = sorted(message["title"] for message in posted(webhook))
    assert titles == [
        "[certadmin] critical: Certificate expired on meter-dead",
        "[certadmin] critical: Certificate expired while the device is online on meter-dead",
    ]


def test_a_chinese_route_gets_chinese_text(channels, webhook, make_route, store):
    make_route(language="zh-hans")
    store(leaf_expiring_in(days(20)), device_name="meter-zh")
    findings_run()
    notifications_dispatch()
    [message] = posted(webhook)
    assert "API 账号: default" in message["message"]
    assert "API account" not in message["message"]
    assert "meter-zh" in message["title"]


def test_email_goes_over_smtp(channels, smtp, make_route, store):
    make_route(channel="mail")
    store(leaf_expiring_in(days(-1)), device_name="meter-mail", device_status="OFFLINE")
    findings_run()
    assert notifications_dispatch().sent == 1
    [mail] = smtp.messages
    assert (mail.sender, mail.recipients, mail.user) == (
        "certadmin@example.com",
        ["ops@example.com"],
        "certadmin",
    )
    assert mail.message["Subject"] == "[certadmin] critical: Certificate expired on meter-mail"
    assert "Device: meter-mail" in mail.message.get_body().get_content()


def test_a_failing_channel_is_audited_as_failed_and_retried_next_run(
    channels, webhook, make_route, store
):
    make_route()
    store(leaf_expiring_in(days(-2)), device_name="meter-a", device_status="OFFLINE")
    store(leaf_expiring_in(days(20)), device_name="meter-b")
    findings_run()
    webhook.status = 500
    summary = notifications_dispatch()
    assert (summary.sent, summary.failed) == (0, 1)
    # The channel is down: the first (riskiest) message failed, the other waits.
    assert len(webhook.requests) == 1
    [failed] = _sends()
    assert failed.outcome == AuditOutcome.FAILED
    assert failed.detail == "ops → hook: cert.expired critical, failed"
    assert not Delivery.objects.exists()

    webhook.status = 200
    assert notifications_dispatch().sent == 2
    assert [e.outcome for e in _sends()] == ["failed", "success", "success"]
    assert notifications_dispatch().sent == 0


def test_beyond_the_messages_per_run_the_rest_come_in_one_summary(
    channels, webhook, make_route, store, settings
):
    settings.NOTIFY_MESSAGES_PER_RUN = 2
    make_route()
    for number in range(5):
        store(leaf_expiring_in(days(-1)), device_name=f"meter-{number}", device_status="OFFLINE")
    findings_run()
    summary = notifications_dispatch()
    assert (summary.sent, summary.summarised) == (2, 3)
    titles = [message["title"] for message in posted(webhook)]
    assert titles[-1] == "[certadmin] 3 more findings for route ops"
    assert "Certificate expired (cert.expired): 3" in posted(webhook)[-1]["message"]
    assert notifications_dispatch().sent == 0


def test_the_daily_digest_is_sent_once_a_day(channels, webhook, make_route, store):
    make_route()
    make_route(name="quiet", digest=False)
    store(leaf_expiring_in(days(-2)), device_name="meter-d1", device_status="OFFLINE")
    store(leaf_expiring_in(days(20)), device_name="meter-d2")
    findings_run()
    assert notifications_digest() == 1
    [digest] = posted(webhook)
    assert digest["title"] == "[certadmin] Daily digest for route ops: 2 open findings"
    assert "critical 1, low 1" in digest["message"]
    assert "meter-d1" in digest["message"]
    assert notifications_digest() == 0
    [event] = _sends()
    assert event.detail == "ops → hook: digest of 2 findings"


def test_a_findings_run_queues_the_dispatch_task_which_sends(channels, webhook, make_route, store):
    make_route()
    store(leaf_expiring_in(days(-2)), device_name="meter-task", device_status="OFFLINE")
    findings_run()
    assert not webhook.requests
    queued = DBTaskResult.objects.filter(task_path__endswith="notifications_send")
    assert queued.count() == 1
    task = queued.get()
    import_string(task.task_path).call(*task.args_kwargs["args"], **task.args_kwargs["kwargs"])
    assert len(webhook.requests) == 1


def test_no_route_no_task(channels, store):
    store(leaf_expiring_in(days(-2)), device_name="meter-none", device_status="OFFLINE")
    findings_run()
    assert not DBTaskResult.objects.filter(task_path__endswith="notifications_send").exists()
