"""The audit tables' rows, prepared once per page, show what the per-row template tags showed."""

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.html import escape

from certadmin.audit.detail_text import detail_display
from certadmin.audit.models import AuditAction, AuditOutcome
from certadmin.audit.rows import PathFormat, event_rows
from certadmin.web.times import timestamp
from tests.support.audit_events import make_event

NAMES = [
    "alice",
    "ops.team-1_x",
    "a b",
    "名字",
    "résumé",
    "a%2Fb",
    "a?b#c",
    "a&b=c;d",
    "~user:@!$'()*+,",
    'quote"',
    "<tag>",
    "line\nbreak",
    "tab\there",
    "\x00nul",
    "slash/inside",
    "/",
    "",
    " ",
    "..",
    "%",
    "emoji-🔑",
]


def _reversed(view: str, *names: str) -> str:
    try:
        return reverse(view, args=names)
    except NoReverseMatch:
        return ""


@pytest.mark.parametrize("name", NAMES)
def test_a_user_link_is_what_reverse_gives(name):
    assert PathFormat("audit:user", 1).path(name) == _reversed("audit:user", name)


@pytest.mark.parametrize("product_key", ["a1B2c3D4e5F", "", "p/k", "ü k"])
@pytest.mark.parametrize("device_name", NAMES)
def test_a_device_link_is_what_reverse_gives(product_key, device_name):
    assert PathFormat("audit:device", 2).path(product_key, device_name) == _reversed(
        "audit:device", product_key, device_name
    )


def test_a_link_follows_the_script_prefix(settings):
    from django.urls import get_script_prefix, set_script_prefix

    before = get_script_prefix()
    set_script_prefix("/certs admin/")
    try:
        assert PathFormat("audit:user", 1).path("名字") == reverse("audit:user", args=["名字"])
        assert PathFormat("audit:user", 1).path("x").startswith("/certs%20admin/")
    finally:
        set_script_prefix(before)


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_rows_show_what_the_model_and_the_timestamp_tag_show(language):
    events = [
        make_event(outcome=AuditOutcome.FAILED, detail="key: the private key could not be decoded"),
        make_event(
            action=AuditAction.CERT_DOWNLOAD,
            outcome=AuditOutcome.REFUSED,
            detail="no valid reason given",
        ),
        make_event(outcome=AuditOutcome.DENIED, detail="ticket-7.zip", device_name=""),
    ]
    with translation.override(language):
        rows = event_rows(events=events)
        for row, event in zip(rows, events, strict=True):
            assert row.event is event
            assert row.outcome_label == event.get_outcome_display()
            assert row.action_label == event.get_action_display()
            assert row.detail_shown == detail_display(event.detail)
            assert row.time == timestamp(event.created_at)
            assert row.user_url == _reversed("audit:user", event.actor_username)
            assert row.device_url == _reversed("audit:device", event.product_key, event.device_name)
    assert rows[2].device_url == ""


@pytest.mark.django_db
def test_the_list_page_shows_each_rows_labels_links_and_time_in_chinese(auditor, client_for):
    event = make_event(
        actor=auditor, outcome=AuditOutcome.DENIED, detail="no permission to access private keys"
    )
    anonymous = make_event(actor=None, platform_request_id="REQ-1")
    client = client_for(auditor)
    client.cookies["django_language"] = "zh-hans"
    html = client.get(reverse("audit:events")).content.decode()
    with translation.override("zh-hans"):
        expected = [
            event.get_outcome_display(),
            event.get_action_display(),
            detail_display(event.detail),
            str(timestamp(event.created_at)),
            f'href="{reverse("audit:user", args=[auditor.username])}"',
            f'href="{reverse("audit:device", args=[event.product_key, event.device_name])}"',
            f'data-label="{translation.gettext("Time")}"',
            translation.gettext("(anonymous)"),
            f"{translation.gettext('RequestId')} {anonymous.platform_request_id}",
        ]
    for text in expected:
        assert escape(text) in html or text in html, text
