"""Fixtures for notifications: local receivers over real HTTP (apprise's json://) and real
SMTP (apprise's mailto://), channels that point at them, routes, and the findings' own
inventory fixtures (``store``: a record holding a crafted certificate)."""

import pytest

from tests.findings.conftest import fleet_ca, store  # noqa: F401 - fixtures reused here
from tests.support.smtp_receiver import RunningSmtpReceiver
from tests.support.webhook_receiver import RunningWebhookReceiver

# The token in the webhook channel's URL: it must never reach a log, page or audit record.
WEBHOOK_TOKEN = "hook-token-5f3b9c1e7a"
SMTP_PASSWORD = "smtp-pass-8d2e4a6c0b"


@pytest.fixture
def webhook():
    receiver = RunningWebhookReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp():
    receiver = RunningSmtpReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def channels(settings, webhook, smtp, dashboard_iot):
    """Channels from the environment: ``hook`` (json:// to ``webhook``, its token in the path)
    and ``mail`` (mailto:// to ``smtp``, with a password)."""
    settings.NOTIFY_CHANNEL_SECRETS = {
        "hook": f"json://127.0.0.1:{webhook.port}/notify/{WEBHOOK_TOKEN}",
        "mail": (
            f"mailto://certadmin:{SMTP_PASSWORD}@127.0.0.1:{smtp.port}"
            "?from=certadmin@example.com&to=ops@example.com&mode=insecure"
        ),
    }
    settings.BASE_URL = "https://certadmin.example.com"
    return settings.NOTIFY_CHANNEL_SECRETS


@pytest.fixture
def make_route(db):
    """``make_route(**fields)``: a route of the default account, every product, minimum
    severity low, to ``hook``, in English."""
    from django.utils import timezone

    from certadmin.findings.severity import Severity
    from certadmin.notifications.models import Route

    def make(**fields):
        values = {
            "name": "ops",
            "account": "default",
            "min_severity": Severity.LOW,
            "channel": "hook",
            "language": "en",
            "updated_at": timezone.now(),
            **fields,
        }
        return Route.objects.create(**values)

    return make


def posted(webhook) -> list[dict]:
    """The messages the webhook received: apprise's JSON (title, message, type)."""
    return [request.json for request in webhook.requests]
