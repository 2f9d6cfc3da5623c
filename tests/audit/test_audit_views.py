"""Auditor pages: who may see them, filters, keyset pages, CSV export and chain verification."""

import hashlib
import hmac
import io
import json
import re
import zipfile
from datetime import datetime, timedelta

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from certadmin.audit import views as audit_views
from certadmin.audit.evidence_export import export_manifest_verify
from certadmin.audit.hash_chain import canonical_event_bytes
from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome, ChainVerification
from certadmin.audit.services import AuditWriteError
from certadmin.audit.views import PAGE_SIZE
from certadmin.jobs.models import Job, JobKind
from tests.audit.chain_runs import verification_run
from tests.support.audit_events import export_unpacked, make_event, make_events, tamper
from tests.support.pages import HTMX_HEADERS

pytestmark = pytest.mark.django_db

GET_URLS = [
    reverse("audit:events"),
    reverse("audit:export"),
    reverse("audit:device", args=["a1B2c3D4e5F", "sensor-01"]),
    reverse("audit:user", args=["someone"]),
    reverse("audit:chain"),
]


@pytest.mark.parametrize("url", [*GET_URLS, reverse("audit:verify")])
def test_anonymous_visitors_are_sent_to_the_login_page(client, url):
    response = client.get(url) if url != reverse("audit:verify") else client.post(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", ["viewer", "custodian"])
@pytest.mark.parametrize("url", GET_URLS)
def test_viewers_and_key_custodians_are_refused(request, client_for, role, url):
    response = client_for(request.getfixturevalue(role)).get(url)
    assert response.status_code == 403


@pytest.mark.parametrize("role", ["viewer", "custodian"])
def test_viewers_and_key_custodians_cannot_run_a_verification(request, client_for, role):
    response = client_for(request.getfixturevalue(role)).post(reverse("audit:verify"))
    assert response.status_code == 403
    assert not ChainVerification.objects.exists()


@pytest.mark.parametrize("role", ["auditor", "superuser"])
@pytest.mark.parametrize("url", GET_URLS)
def test_auditors_and_superusers_may_read(request, client_for, role, url):
    make_event()
    response = client_for(request.getfixturevalue(role)).get(url)
    assert response.status_code == 200


def test_verify_only_answers_post(auditor, client_for):
    assert client_for(auditor).get(reverse("audit:verify")).status_code == 405


@pytest.mark.parametrize("url", [u for u in GET_URLS if "export" not in u])
def test_pages_carry_no_inline_script_style_or_event_handlers(auditor, client_for, url):
    make_event(reason="<script>alert(1)</script>", detail='" onmouseover="x')
    html = client_for(auditor).get(url).content.decode()
    tags = re.findall(r"<[a-zA-Z][^>]*>", html)
    assert tags
    for tag in tags:
        assert not re.search(r"\s(style|on[a-z]+)\s*=", tag), tag
        assert not tag.startswith("<style")
        if tag.startswith("<script"):
            assert " src=" in tag, tag
    assert "<script>alert" not in html


# --- Events list, filters and pages ---------------------------------------------------------


def _ids(response) -> list[int]:
    return [event.id for event in response.context["events"]]


def test_events_are_listed_newest_first(auditor, client_for):
    events = make_events(3)
    response = client_for(auditor).get(reverse("audit:events"))
    assert _ids(response) == [e.id for e in reversed(events)]
    assert response.context["next_before_id"] is None
    assert b"Older events" not in response.content


def test_filters_narrow_the_list(auditor, custodian, client_for):
    mine = make_event(actor=custodian, device_name="pump-7")
    make_event(actor=auditor, device_name="pump-7")
    denied = make_event(actor=custodian, outcome=AuditOutcome.DENIED, product_key="zZ9yY8xX7wW")
    cert = make_event(actor=custodian, action=AuditAction.CERT_DOWNLOAD, device_name="pump-7")
    client = client_for(auditor)
    url = reverse("audit:events")

    assert _ids(client.get(url, {"user": custodian.username})) == [cert.id, denied.id, mine.id]
    assert _ids(client.get(url, {"product_key": "zZ9yY8xX7wW"})) == [denied.id]
    assert _ids(client.get(url, {"device_name": "pump-7", "user": custodian.username})) == [
        cert.id,
        mine.id,
    ]
    assert _ids(client.get(url, {"action": "cert_download"})) == [cert.id]
    assert _ids(client.get(url, {"outcome": "denied"})) == [denied.id]


def test_date_filters_are_inclusive_days_in_local_time(auditor, client_for):
    event = make_event()
    today = timezone.localdate(event.created_at)
    client = client_for(auditor)
    url = reverse("audit:events")
    day = today.isoformat()
    assert _ids(client.get(url, {"date_from": day, "date_to": day})) == [event.id]
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert _ids(client.get(url, {"date_from": tomorrow})) == []
    yesterday = (today - timedelta(days=1)).isoformat()
    assert _ids(client.get(url, {"date_to": yesterday})) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "yesterday"}, "date_from"),
        ({"action": "key_steal"}, "action"),
        ({"date_from": "2026-05-02", "date_to": "2026-05-01"}, "date_to"),
        ({"user": "u" * 153}, "user"),
    ],
)
def test_invalid_filters_are_explained_beside_the_field(auditor, client_for, params, field):
    make_event()
    response = client_for(auditor).get(reverse("audit:events"), params)
    assert response.status_code == 200
    form = response.context["form"]
    assert field in form.errors
    assert response.context["events"] == []
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html or 'class="errorlist' in html
    assert "Correct the filters above" in html


def test_a_malformed_page_marker_is_reported_not_a_crash(auditor, client_for):
    response = client_for(auditor).get(reverse("audit:events"), {"before": "abc"})
    assert response.status_code == 200
    assert "before" in response.context["form"].errors


def test_keyset_pages_cover_every_event_once(auditor, client_for, django_assert_max_num_queries):
    total = PAGE_SIZE * 2 + 7
    events = make_events(total, device_name="pager-01")
    make_event(device_name="other-01")
    client = client_for(auditor)
    url = reverse("audit:events")
    seen: list[int] = []
    params = {"device_name": "pager-01"}
    pages = 0
    while True:
        response = client.get(url, params)
        page = _ids(response)
        assert len(page) <= PAGE_SIZE
        seen += page
        pages += 1
        next_before = response.context["next_before_id"]
        if next_before is None:
            break
        assert f"before={next_before}" in response.content.decode()
        assert "device_name=pager-01" in response.content.decode()
        params = {**params, "before": next_before}
    assert pages == 3
    assert seen == sorted((e.id for e in events), reverse=True)


def test_pages_use_no_offset_and_no_count(auditor, client_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_events(PAGE_SIZE + 1)
    client = client_for(auditor)
    client.get(reverse("audit:events"))  # warm the session and permission caches
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("audit:events"), {"before": 10**9})
    audit_sql = [q["sql"].upper() for q in queries if "AUDIT_AUDITEVENT" in q["sql"].upper()]
    assert audit_sql
    assert not any("OFFSET" in sql or "COUNT(" in sql for sql in audit_sql)


def test_htmx_requests_get_the_results_partial(auditor, client_for):
    make_event()
    response = client_for(auditor).get(reverse("audit:events"), headers=HTMX_HEADERS)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="audit-results"' in html
    assert "HX-Request" in response["Vary"]
    full = client_for(auditor).get(reverse("audit:events"))
    assert "<html" in full.content.decode()
    assert "HX-Request" in full["Vary"]


# --- Export: a ZIP of events.csv and a signed manifest.json ----------------------------------


def _export(response) -> tuple[list[dict], dict]:
    assert isinstance(response, StreamingHttpResponse)
    return export_unpacked(b"".join(response.streaming_content))


def _csv(response) -> list[dict]:
    return _export(response)[0]


def test_export_streams_every_field_of_the_filtered_events_newest_first(auditor, client_for):
    events = make_events(3, device_name="export-01")
    make_event(device_name="other-01")
    response = client_for(auditor).get(reverse("audit:export"), {"device_name": "export-01"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert re.fullmatch(
        r'attachment; filename="audit-events-\d{8}T\d{6}[+-]\d{4}\.zip"',
        response["Content-Disposition"],
    )
    assert "no-store" in response["Cache-Control"]
    rows = _csv(response)
    assert [int(r["id"]) for r in rows] == [e.id for e in reversed(events)]  # as the page shows
    first = rows[-1]
    assert first["entry_hash"] == events[0].entry_hash
    assert first["prev_hash"] == events[0].prev_hash
    assert first["key_fingerprint"] == events[0].key_fingerprint
    assert first["reason"] == events[0].reason
    assert first["ip_address"] == "192.0.2.10"
    assert set(first) >= {"created_at", "actor_username", "action", "outcome", "user_agent"}


def test_export_times_carry_the_offset_of_the_time_zone_the_pages_show(
    auditor, client_for, settings
):
    settings.TIME_ZONE = "Asia/Shanghai"
    event = make_event()
    [row] = _csv(client_for(auditor).get(reverse("audit:export"), {"action": "key_reveal"}))
    assert row["created_at"].endswith("+08:00")
    assert datetime.fromisoformat(row["created_at"]) == event.created_at


def test_export_manifest_states_filters_exporter_count_and_head_and_verifies(
    auditor, custodian, client_for
):
    make_event(actor=custodian, device_name="thermo-001")
    head = make_event(actor=custodian, device_name="thermo-002")
    make_event(actor=auditor, device_name="thermo-003")
    client = client_for(auditor)
    response = client.get(
        reverse("audit:export"),
        {"user": "CUSTOD", "action": "key_access", "date_from": "2000-01-01"},
    )
    content = b"".join(response.streaming_content)
    rows, manifest = export_unpacked(content)
    assert [r["device_name"] for r in rows] == ["thermo-002", "thermo-001"]
    assert manifest["rows"] == 2
    assert manifest["exported_by"] == auditor.username
    assert manifest["filters"]["user"] == "CUSTOD"
    assert manifest["filters"]["actions"] == ["key_download", "key_reveal"]
    assert manifest["filters"]["date_from"] == "2000-01-01"
    # The head at the time of export: the newest row, written before the export's own event.
    newest = AuditEvent.objects.order_by("-id")
    export_event = newest[0]
    assert manifest["chain_head"] == {"id": newest[1].id, "hash": newest[1].entry_hash}
    assert newest[1].id > head.id
    assert manifest["export_event_id"] == export_event.id
    assert (export_event.action, export_event.actor_username) == ("trail_export", auditor.username)
    assert newest[1].entry_hash in export_event.detail
    assert export_manifest_verify(content) == (True, "")


def test_an_export_whose_csv_or_manifest_was_changed_does_not_verify(auditor, client_for):
    make_events(2)
    content = b"".join(client_for(auditor).get(reverse("audit:export")).streaming_content)
    _, manifest = export_unpacked(content)

    def repacked(events_csv: bytes, manifest: dict) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("events.csv", events_csv)
            archive.writestr("manifest.json", json.dumps(manifest))
        return buffer.getvalue()

    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        events_csv = archive.read("events.csv")
    assert export_manifest_verify(repacked(events_csv, manifest))[0]
    assert not export_manifest_verify(repacked(events_csv.replace(b"OPS-1", b"OPS-2"), manifest))[0]
    assert not export_manifest_verify(repacked(events_csv, {**manifest, "rows": 1}))[0]


def test_an_export_is_not_made_when_it_cannot_be_recorded(auditor, client_for, monkeypatch):
    def refuse(**kwargs):
        raise AuditWriteError("the audit record could not be written")

    monkeypatch.setattr(audit_views, "trail_export_record", refuse)
    response = client_for(auditor).get(reverse("audit:export"))
    assert response.status_code == 503
    assert "Content-Disposition" not in response


@pytest.mark.parametrize("payload", ['=HYPERLINK("http://x")', "+1", "-1+2", "@SUM(A1)", "\tx"])
def test_export_neutralises_spreadsheet_formulas(auditor, client_for, payload):
    make_event(reason=payload, detail="plain")
    rows = _csv(client_for(auditor).get(reverse("audit:export")))
    assert rows[0]["reason"] == "'" + payload
    assert rows[0]["detail"] == "plain"


def test_export_with_invalid_filters_is_refused(auditor, client_for):
    response = client_for(auditor).get(reverse("audit:export"), {"date_to": "not a date"})
    assert response.status_code == 400
    assert "date_to" in response.context["form"].errors


# --- Device and user pages --------------------------------------------------------------------


def test_device_page_shows_who_has_seen_the_key(auditor, custodian, viewer, client_for):
    seen = make_event(actor=custodian, device_name="gate-01")
    make_event(actor=viewer, device_name="gate-01", outcome=AuditOutcome.DENIED)
    make_event(actor=viewer, device_name="gate-01", action=AuditAction.CERT_DOWNLOAD)
    make_event(actor=viewer, device_name="gate-02")
    response = client_for(auditor).get(reverse("audit:device", args=["a1B2c3D4e5F", "gate-01"]))
    assert [e.id for e in response.context["reveals"]] == [seen.id]
    assert len(response.context["events"]) == 3
    assert "Who has seen this key" in response.content.decode()


def test_device_page_restored_from_history_still_shows_who_has_seen_the_key(
    auditor, custodian, client_for
):
    # htmx restoring the page after Back asks for the whole page: its reveals too.
    seen = make_event(actor=custodian, device_name="gate-01")
    response = client_for(auditor).get(
        reverse("audit:device", args=["a1B2c3D4e5F", "gate-01"]),
        headers={"hx-request": "true", "hx-history-restore-request": "true"},
    )
    assert [e.id for e in response.context["reveals"]] == [seen.id]
    assert "Who has seen this key" in response.content.decode()


def test_user_page_lists_only_that_users_events(auditor, custodian, viewer, client_for):
    mine = make_events(2, actor=custodian)
    make_event(actor=viewer)
    response = client_for(auditor).get(reverse("audit:user", args=[custodian.username]))
    assert _ids(response) == [e.id for e in reversed(mine)]


# --- Chain page -----------------------------------------------------------------------------


def test_chain_page_before_any_verification(auditor, client_for):
    response = client_for(auditor).get(reverse("audit:chain"))
    assert "has not been verified yet" in response.content.decode()
    assert 'action="/audit/chain/verify/"' in response.content.decode()


def test_chain_page_names_the_keyed_hmac_the_rows_carry(auditor, client_for, settings):
    [event] = make_events(1)
    # What the page says is what the rows hold: an HMAC-SHA-256 under the row's audit key.
    data = canonical_event_bytes(event)
    key = settings.AUDIT_KEYS[event.key_id]
    assert event.entry_hash == hmac.digest(key, data, "sha256").hex()
    assert event.entry_hash != hashlib.sha256(data).hexdigest()

    text = " ".join(client_for(auditor).get(reverse("audit:chain")).content.decode().split())

    assert "The chain is keyed: every event carries an HMAC-SHA-256" in text
    assert "under an audit key that the database does not hold" in text
    assert "SHA-256 hash of its content" not in text


def test_verify_now_queues_a_job_and_its_page_shows_the_result(auditor, client_for):
    events = make_events(2)
    client = client_for(auditor)
    response = client.post(reverse("audit:verify"))
    job = Job.objects.get(kind=JobKind.CHAIN_VERIFY)
    assert response.status_code == 302
    assert response["Location"] == reverse("audit:verify-run", args=[job.pk])
    assert not ChainVerification.objects.exists()  # nothing verified in the request
    waiting = client.get(response["Location"]).content.decode()
    assert "Reload to see the latest progress" in waiting
    assert "Chain intact" not in waiting

    job = verification_run()
    run = ChainVerification.objects.get()
    assert job.verification == run
    assert run.ok
    assert run.run_by == auditor.username
    assert run.head_hash == events[-1].entry_hash
    html = client.get(response["Location"]).content.decode()
    assert "Chain intact" in html
    assert events[-1].entry_hash in html
    assert "hx-trigger" not in html
    assert "2 of 2 rows checked" in html


def test_verify_now_over_htmx_redirects_and_the_partial_shows_a_broken_chain(auditor, client_for):
    events = make_events(2)
    tamper("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [events[0].id])
    client = client_for(auditor)
    response = client.post(reverse("audit:verify"), headers=HTMX_HEADERS)
    job = Job.objects.get(kind=JobKind.CHAIN_VERIFY)
    url = reverse("audit:verify-run", args=[job.pk])
    assert response["HX-Redirect"] == url
    polling = client.get(url, headers=HTMX_HEADERS).content.decode()
    assert "<html" not in polling
    assert 'hx-trigger="every' in polling
    verification_run()
    html = client.get(url, headers=HTMX_HEADERS).content.decode()
    assert "<html" not in html
    assert 'id="chain-run"' in html
    assert "hx-trigger" not in html
    assert "Chain broken" in html
    assert f"Row {events[0].id} was edited" in html
