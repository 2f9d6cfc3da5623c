"""The auditor's evidence: filters that answer "who saw device X's key last month",
outcomes that tell a slip from an incident, labelled times, translated details, an anchored head
checked from the chain page, and the trail's own reads and checks recorded in it."""

from datetime import date, datetime

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone, translation

from certadmin.audit.detail_text import detail_display
from certadmin.audit.forms import quick_ranges
from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome, ChainVerification
from certadmin.jobs.models import Job
from certadmin.web.times import local_time_text
from tests.audit.chain_runs import verification_run
from tests.support.audit_events import make_event, make_events
from tests.support.pages import HTMX_HEADERS

pytestmark = pytest.mark.django_db


def _ids(response) -> list[int]:
    return [event.id for event in response.context["events"]]


def test_device_and_user_match_any_part_in_any_case(auditor, make_user, client_for):
    custodian = make_user("Key custodian", "custodian")
    thermo = make_event(actor=custodian, device_name="thermo-001")
    make_event(actor=auditor, device_name="gateway-01")
    client = client_for(auditor)
    url = reverse("audit:events")
    assert _ids(client.get(url, {"device_name": "thermo"})) == [thermo.id]
    assert _ids(client.get(url, {"device_name": "THERMO-0"})) == [thermo.id]
    assert _ids(client.get(url, {"user": "Custodian"})) == [thermo.id]
    assert _ids(client.get(url, {"user": "STOD"})) == [thermo.id]


def test_a_quoted_name_matches_exactly_that_name(auditor, client_for):
    exact = make_event(device_name="thermo-001")
    make_event(device_name="thermo-0010")
    make_event(device_name="Thermo-001")
    response = client_for(auditor).get(reverse("audit:events"), {"device_name": '"thermo-001"'})
    assert _ids(response) == [exact.id]


def test_several_actions_and_any_key_access(auditor, client_for):
    reveal = make_event(action=AuditAction.KEY_REVEAL)
    bundle = make_event(action=AuditAction.KEY_DOWNLOAD)
    cert = make_event(action=AuditAction.CERT_DOWNLOAD)
    client = client_for(auditor)
    url = reverse("audit:events")
    assert _ids(client.get(url, {"action": "key_access"})) == [bundle.id, reveal.id]
    assert _ids(client.get(url, {"action": ["key_reveal", "cert_download"]})) == [
        cert.id,
        reveal.id,
    ]
    html = client.get(url).content.decode()
    assert 'type="checkbox" name="action" value="key_access"' in html


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (
            date(2026, 3, 10),
            [
                ("2026-03-10", "2026-03-10"),
                ("2026-03-04", "2026-03-10"),
                ("2026-02-09", "2026-03-10"),
                ("2026-02-01", "2026-02-28"),
            ],
        ),
        (
            date(2026, 1, 1),
            [
                ("2026-01-01", "2026-01-01"),
                ("2025-12-26", "2026-01-01"),
                ("2025-12-03", "2026-01-01"),
                ("2025-12-01", "2025-12-31"),
            ],
        ),
    ],
)
def test_quick_ranges(today, expected):
    ranges = quick_ranges(today=today)
    assert [(r.date_from.isoformat(), r.date_to.isoformat()) for r in ranges] == expected


def test_quick_range_links_set_both_dates_and_keep_the_other_filters(auditor, client_for):
    make_event()
    html = client_for(auditor).get(reverse("audit:events"), {"user": "x"}).content.decode()
    today = timezone.localdate().isoformat()
    assert f"?user=x&amp;date_from={today}&amp;date_to={today}" in html


def test_refused_is_its_own_outcome_filter_and_badge(auditor, client_for):
    refused = make_event(outcome=AuditOutcome.REFUSED, detail="no valid reason given")
    make_event(outcome=AuditOutcome.DENIED)
    make_event(outcome=AuditOutcome.FAILED)
    response = client_for(auditor).get(reverse("audit:events"), {"outcome": "refused"})
    assert _ids(response) == [refused.id]
    html = response.content.decode()
    assert "audit-outcome-refused" in html
    assert "Refused (bad input)" in html


def test_times_are_shown_with_their_zone(auditor, client_for, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    event = make_event()
    local = timezone.localtime(event.created_at, timezone=timezone.get_fixed_timezone(480))
    html = client_for(auditor).get(reverse("audit:events")).content.decode()
    assert f"{local:%Y-%m-%d %H:%M:%S} CST (UTC+08:00)" in html
    assert "times in CST (UTC+08:00)" in html


def test_timestamp_text_in_utc_and_zones_without_an_abbreviation():
    moment = timezone.make_aware(datetime(2026, 11, 26, 6, 3, 7), timezone.get_fixed_timezone(0))
    with timezone.override("UTC"):
        assert local_time_text(moment) == "2026-11-26 06:03:07 UTC"
    with timezone.override("Asia/Kathmandu"):
        assert local_time_text(moment) == "2026-11-26 11:48:07 UTC+05:45"
    with timezone.override("Asia/Shanghai"):
        assert local_time_text(moment) == "2026-11-26 14:03:07 CST (UTC+08:00)"


def test_known_details_are_shown_translated_and_stored_in_english(auditor, client_for):
    stored = "key: the private key could not be decoded"
    event = make_event(outcome=AuditOutcome.FAILED, detail=stored)
    assert AuditEvent.objects.get(pk=event.pk).detail == stored  # the chain hashes English
    with translation.override("zh-hans"):
        assert detail_display(stored) == "key：无法解码私钥"
        assert detail_display("the private key could not be decoded") == "无法解码私钥"
        # Anything else (a file name, a count) is shown as it is.
        assert detail_display("ticket-7.zip") == "ticket-7.zip"
        assert detail_display("") == ""
    client = client_for(auditor)
    client.cookies["django_language"] = "zh-hans"
    html = client.get(reverse("audit:events")).content.decode()
    assert "key：无法解码私钥" in html


def test_verify_now_is_recorded_as_an_event(auditor, client_for):
    make_events(2)
    client_for(auditor).post(reverse("audit:verify"), headers={"user-agent": "pytest-verify"})
    verification_run()
    event = AuditEvent.objects.order_by("-id").first()
    run = ChainVerification.objects.get()
    assert (event.action, event.outcome, event.actor_username) == (
        AuditAction.CHAIN_VERIFY,
        AuditOutcome.SUCCESS,
        auditor.username,
    )
    assert run.head_hash in event.detail
    # Where the request came from, as when the run was made in the request.
    assert (event.ip_address, event.user_agent) == ("127.0.0.1", "pytest-verify")


def test_the_management_command_is_recorded_as_an_event():
    make_events(1)
    call_command("audit_verify")
    event = AuditEvent.objects.order_by("-id").first()
    assert event.action == AuditAction.CHAIN_VERIFY
    assert event.actor_username == ""
    assert "management command" in event.detail


def test_an_anchored_head_pasted_on_the_chain_page_is_checked(auditor, client_for):
    events = make_events(2)
    client = client_for(auditor)
    client.post(
        reverse("audit:verify"),
        {"expect_head": f"  {events[0].entry_hash.upper()} "},
        headers=HTMX_HEADERS,
    )
    found = verification_run()
    html = client.get(reverse("audit:verify-run", args=[found.pk])).content.decode()
    assert "Chain intact" in html
    assert "Found in the chain" in html
    assert ChainVerification.objects.get().expected_head == events[0].entry_hash

    client.post(reverse("audit:verify"), {"expect_head": "ab" * 32}, headers=HTMX_HEADERS)
    missing = verification_run()
    html = client.get(reverse("audit:verify-run", args=[missing.pk])).content.decode()
    assert "Chain broken" in html
    assert "Not in the chain" in html
    assert "anchor " + "ab" * 32 in AuditEvent.objects.order_by("-id").first().detail


def test_a_malformed_anchor_is_explained_in_place_and_nothing_is_run(auditor, client_for):
    response = client_for(auditor).post(
        reverse("audit:verify"), {"expect_head": "not-a-hash"}, headers=HTMX_HEADERS
    )
    assert response.status_code == 400
    assert "64 hexadecimal characters" in response.content.decode()
    assert not ChainVerification.objects.exists()
    assert not Job.objects.exists()


def test_filter_labels_carry_no_colon(auditor, client_for):
    html = client_for(auditor).get(reverse("audit:events")).content.decode()
    assert "DeviceName:</label>" not in html
    assert "DeviceName</label>" in html
