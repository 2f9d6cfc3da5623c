"""Channel URLs hold tokens: they never reach a log line (apprise's own included), a page, an
error message or the audit trail, and a channel stored in the dashboard is kept encrypted."""

import logging

import pytest
from django.urls import reverse

from certadmin.audit.models import AuditAction, AuditEvent
from certadmin.findings.runs import findings_run
from certadmin.notifications.channels import channel_url, channel_url_masked
from certadmin.notifications.dispatch import notifications_dispatch
from certadmin.notifications.models import Channel
from tests.findings.conftest import days, leaf_expiring_in
from tests.notifications.conftest import SMTP_PASSWORD, WEBHOOK_TOKEN

pytestmark = pytest.mark.django_db

STORED_TOKEN = "0a9b8c7d6e5f4a3b" * 4  # a DingTalk access token: 64 hex digits


def _audit_text() -> str:
    return "\n".join(
        " ".join(str(value) for value in row)
        for row in AuditEvent.objects.values_list("detail", "reason", "user_agent")
    )


def test_no_token_reaches_a_log_line_even_at_debug_nor_the_audit_trail(
    channels, webhook, smtp, make_route, store, caplog, capfd
):
    caplog.set_level(logging.DEBUG)
    make_route()
    make_route(name="mail-route", channel="mail")
    make_route(name="broken", channel="nowhere")
    store(leaf_expiring_in(days(-2)), device_name="meter-log", device_status="OFFLINE")
    findings_run()
    notifications_dispatch()
    assert webhook.requests
    assert smtp.messages
    webhook.status = 500  # a failing send, whose errors apprise would log with the URL
    make_route(name="again")
    notifications_dispatch()
    assert len(webhook.requests) == 2
    logged = caplog.text + "\n".join(capfd.readouterr())
    assert "channel hook" in logged
    for secret in (WEBHOOK_TOKEN, SMTP_PASSWORD, f"/notify/{WEBHOOK_TOKEN}"):
        assert secret not in logged
        assert secret not in _audit_text()
    assert AuditEvent.objects.filter(
        action=AuditAction.NOTIFICATION_SEND, outcome="failed"
    ).exists()


def test_a_stored_channel_is_encrypted_and_never_shown_back(
    channels, fleet_manager_client, settings
):
    url = f"dingtalk://{STORED_TOKEN}/"
    response = fleet_manager_client.post(
        reverse("notifications:channel-save"), {"name": "team-ding", "url": url}, follow=True
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "team-ding" in page
    assert "dingtalk://•••" in page
    assert STORED_TOKEN not in page
    stored = Channel.objects.get(name="team-ding")
    assert STORED_TOKEN not in stored.url_encrypted
    assert STORED_TOKEN not in f"{stored.scheme}{stored.host_masked}{stored}"
    assert channel_url("team-ding") == url
    event = AuditEvent.objects.get(action=AuditAction.NOTIFICATION_CHANNEL_SET)
    assert event.detail == "team-ding: dingtalk://•••"
    # The environment's channels are listed, masked.
    assert WEBHOOK_TOKEN not in page
    assert SMTP_PASSWORD not in page
    assert "json://•••" in page


def test_a_refused_channel_url_is_not_repeated_in_the_error(fleet_manager_client, channels):
    bad = f"ftp://user:{STORED_TOKEN}@files.example.com/"
    response = fleet_manager_client.post(
        reverse("notifications:channel-save"), {"name": "bad", "url": bad}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Use an apprise URL of one of these services" in page
    assert STORED_TOKEN not in page
    assert not Channel.objects.exists()


def test_without_a_key_channels_cannot_be_stored(fleet_manager_client, channels, settings):
    settings.NOTIFY_KEYS = []
    response = fleet_manager_client.post(
        reverse("notifications:channel-save"),
        {"name": "team-ding", "url": f"dingtalk://{STORED_TOKEN}/"},
    )
    assert response.status_code == 400
    assert "CERTADMIN_NOTIFY_KEYS is not set" in response.content.decode()
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("dingtalk://secret-token/", "dingtalk://•••"),
        ("wecombot://secret-key", "wecombot://•••"),
        ("jsons://user:pw@hooks.ops.example.com/secret/path?x=1", "jsons://•••.example.com"),
        ("mailto://user:pw@smtp.example.com?to=a@example.com", "mailto://•••.example.com"),
        ("json://127.0.0.1:8000/secret", "json://•••.0.1"),
    ],
)
def test_a_page_shows_the_scheme_and_a_masked_host_only(url, shown):
    assert channel_url_masked(url) == shown
