"""The Notifications page: fleet managers only; routes created, changed and removed, each
change audited; the test button sends at once and is audited; the demo inbox and its
receiver."""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.findings.severity import Severity
from certadmin.notifications.configuration import DEMO_INBOX_HEADER, demo_inbox_token
from certadmin.notifications.models import DemoInboxMessage, Route
from tests.notifications.conftest import posted

pytestmark = pytest.mark.django_db

ROUTE = {
    "name": "ops-zh",
    "account": "default",
    "product_key": "a1Demo7Sh2x",
    "min_severity": "medium",
    "channel": "hook",
    "language": "zh-hans",
    "digest": "on",
    "custody": "on",
    "enabled": "on",
}


@pytest.mark.parametrize("role", ["Viewer", "Key custodian", "Auditor", None])
def test_only_fleet_managers_open_the_page(client_for, make_user, role, channels, make_route):
    route = make_route()
    client = client_for(make_user(role))
    assert client.get(reverse("notifications:routes")).status_code == 403
    for name, args in [
        ("notifications:route-save", []),
        ("notifications:route-delete", [route.pk]),
        ("notifications:route-test", [route.pk]),
        ("notifications:channel-save", []),
    ]:
        assert client.post(reverse(name, args=args), ROUTE).status_code == 403
    assert Route.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_a_fleet_manager_creates_changes_and_removes_a_route_each_audited(
    fleet_manager_client, channels
):
    page = fleet_manager_client.get(reverse("notifications:routes"))
    assert page.status_code == 200
    assert "hook" in page.content.decode()

    response = fleet_manager_client.post(reverse("notifications:route-save"), ROUTE)
    assert response.status_code == 302
    route = Route.objects.get()
    assert (route.product_key, route.min_severity, route.language) == (
        "a1Demo7Sh2x",
        Severity.MEDIUM,
        "zh-hans",
    )
    edit = fleet_manager_client.get(reverse("notifications:routes"), {"route": route.pk})
    assert 'value="ops-zh"' in edit.content.decode()
    changed = {**ROUTE, "route": route.pk, "min_severity": "critical", "product_key": ""}
    assert (
        fleet_manager_client.post(reverse("notifications:route-save"), changed).status_code == 302
    )
    route.refresh_from_db()
    assert (route.min_severity, route.product_key) == (Severity.CRITICAL, "")
    assert Route.objects.count() == 1

    response = fleet_manager_client.post(reverse("notifications:route-delete", args=[route.pk]))
    assert response.status_code == 302
    assert not Route.objects.exists()
    events = AuditEvent.objects.order_by("id")
    assert [(e.action, e.detail) for e in events] == [
        (
            AuditAction.NOTIFICATION_ROUTE_SET,
            "ops-zh: default/a1Demo7Sh2x ≥ medium → hook (zh-hans, digest)",
        ),
        (
            AuditAction.NOTIFICATION_ROUTE_SET,
            "ops-zh: default/* ≥ critical → hook (zh-hans, digest)",
        ),
        (AuditAction.NOTIFICATION_ROUTE_DELETE, "ops-zh"),
    ]


def test_custody_messages_are_on_for_a_new_route_and_a_route_can_opt_out_audited(
    fleet_manager_client, channels
):
    page = fleet_manager_client.get(reverse("notifications:routes")).content.decode()
    assert re.search(r'<input type="checkbox" name="custody"[^>]* checked', page)
    without = {key: value for key, value in ROUTE.items() if key != "custody"}
    assert (
        fleet_manager_client.post(reverse("notifications:route-save"), without).status_code == 302
    )
    route = Route.objects.get()
    assert route.custody is False
    edit = fleet_manager_client.get(reverse("notifications:routes"), {"route": route.pk})
    assert not re.search(
        r'<input type="checkbox" name="custody"[^>]* checked', edit.content.decode()
    )
    (event,) = AuditEvent.objects.filter(action=AuditAction.NOTIFICATION_ROUTE_SET)
    assert event.detail == (
        "ops-zh: default/a1Demo7Sh2x ≥ medium → hook (zh-hans, digest, no custody messages)"
    )


def test_a_route_to_an_unknown_channel_or_a_taken_name_is_refused(
    fleet_manager_client, channels, make_route
):
    make_route(name="taken")
    unknown = fleet_manager_client.post(
        reverse("notifications:route-save"), {**ROUTE, "channel": "nowhere"}
    )
    assert unknown.status_code == 400
    taken = fleet_manager_client.post(
        reverse("notifications:route-save"), {**ROUTE, "name": "taken"}
    )
    assert taken.status_code == 400
    assert "Another route has this name." in taken.content.decode()
    assert Route.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_the_test_button_sends_now_and_is_audited(
    fleet_manager_client, channels, webhook, make_route
):
    route = make_route(language="zh-hans")
    response = fleet_manager_client.post(
        reverse("notifications:route-test", args=[route.pk]), follow=True
    )
    assert "Test message sent to channel hook." in response.content.decode()
    [message] = posted(webhook)
    assert "ops" in message["title"]
    webhook.status = 500
    response = fleet_manager_client.post(
        reverse("notifications:route-test", args=[route.pk]), follow=True
    )
    assert "did not take the test message" in response.content.decode()
    events = AuditEvent.objects.filter(action=AuditAction.NOTIFICATION_TEST).order_by("id")
    assert [(e.outcome, e.detail, e.actor_username) for e in events] == [
        (AuditOutcome.SUCCESS, "ops → hook: test message", "fleet-manager-1"),
        (AuditOutcome.FAILED, "ops → hook: test message, failed", "fleet-manager-1"),
    ]


def test_the_demo_inbox_keeps_what_the_demo_channel_posts(viewer_client, settings):
    token = demo_inbox_token(settings.SECRET_KEY)
    receive = reverse("notifications:demo-inbox-receive")
    anonymous = Client()
    body = json.dumps({"title": "T1", "message": "line 1\nline 2", "type": "info"})
    refused = anonymous.post(receive, body, content_type="application/json")
    assert refused.status_code == 403
    accepted = anonymous.post(
        receive,
        body,
        content_type="application/json",
        headers={DEMO_INBOX_HEADER: token},
    )
    assert accepted.status_code == 204
    page = viewer_client.get(reverse("notifications:demo-inbox")).content.decode()
    assert "T1" in page
    assert "line 1\nline 2" in page
    settings.DEMO_MODE = False
    assert viewer_client.get(reverse("notifications:demo-inbox")).status_code == 404
    gone = anonymous.post(
        receive, body, content_type="application/json", headers={DEMO_INBOX_HEADER: token}
    )
    assert gone.status_code == 404
    assert DemoInboxMessage.objects.count() == 1
