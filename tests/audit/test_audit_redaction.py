"""Redacting one text of one event: the chain covers a keyed digest of each
redactable text (hash version 4), so a superuser's redaction, itself an event, leaves the chain
verifying, while any other change (a text edited, a text blanked with no redaction event, any
other UPDATE) is refused by the database or found by the verifier. On SQLite and PostgreSQL."""

import io
import json
import zipfile

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from certadmin.audit import services
from certadmin.audit.hash_chain import canonical_event_bytes, field_digest, redaction_detail
from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome, ChainProblem
from certadmin.audit.services import (
    AuditRedactionDenied,
    AuditRedactionError,
    audit_field_redact,
)
from certadmin.audit.verification import chain_verify
from tests.support.audit_events import CONTEXT, export_unpacked, make_event, make_events, tamper
from tests.support.people import ROLE_PASSWORD

pytestmark = pytest.mark.django_db

REASON = "ticket OPS-1: rotate the gateway"
SECRET = "OPS-2: asked by Zhang Wei, +86 138 0000 0000"
WHY = "GDPR request 2026-114: the reason names a person"


def redact(actor, event, field="reason", reason=WHY) -> AuditEvent:
    return audit_field_redact(
        actor=actor, event_id=event.pk, field=field, reason=reason, context=CONTEXT
    )


def raw(sql: str, params=()) -> None:
    """Raw SQL with the append-only triggers in place."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def stored(event: AuditEvent) -> AuditEvent:
    return AuditEvent.objects.get(pk=event.pk)


# --- Hash version 4 -------------------------------------------------------------------------------


def test_a_new_row_is_sealed_over_keyed_digests_of_its_texts_not_the_texts():
    event = make_event(reason="更换设备证书 OPS-7", cert_sn="4711")
    key = django_settings.AUDIT_KEYS[event.key_id]
    assert event.reason_digest == field_digest(name="reason", text=event.reason, key=key)
    assert event.cert_sn_digest == field_digest(name="cert_sn", text="4711", key=key)
    # Per field: the same text under another field's name has another digest.
    assert field_digest(name="cert_sn", text="x", key=key) != field_digest(
        name="reason", text="x", key=key
    )
    members = json.loads(canonical_event_bytes(event))
    assert members["reason_digest"] == event.reason_digest
    assert "reason" not in members
    assert "cert_sn" not in members
    assert chain_verify().ok


def test_an_edited_text_of_a_new_row_is_found_although_its_hash_does_not_cover_the_text():
    events = make_events(3)
    tamper("UPDATE audit_auditevent SET cert_sn = '999' WHERE id = %s", [events[1].pk])
    report = chain_verify()
    assert (report.problem, report.first_broken_id) == (ChainProblem.EDITED, events[1].pk)


def test_a_blanked_digest_brings_the_text_back_into_the_hash_and_breaks_it():
    events = make_events(2)
    tamper("UPDATE audit_auditevent SET reason_digest = '' WHERE id = %s", [events[0].pk])
    report = chain_verify()
    assert (report.problem, report.first_broken_id) == (ChainProblem.EDITED, events[0].pk)


# --- Redaction ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["reason", "cert_sn"])
def test_a_superuser_redacts_one_text_and_the_chain_still_verifies(superuser, field):
    target, _later = make_events(2)
    redaction = redact(superuser, target, field=field)
    row = stored(target)
    assert getattr(row, field) == ""
    assert getattr(row, f"{field}_redacted_by") == redaction.pk
    # Only that text: everything else as written.
    other = "cert_sn" if field == "reason" else "reason"
    assert getattr(row, other) == getattr(target, other)
    assert row.entry_hash == target.entry_hash
    assert (redaction.action, redaction.outcome) == (
        AuditAction.FIELD_REDACT,
        AuditOutcome.SUCCESS,
    )
    assert redaction.actor_username == superuser.username
    assert redaction.reason == WHY
    assert redaction.detail == redaction_detail(event_id=target.pk, field=field)
    assert (redaction.product_key, redaction.device_name) == (
        target.product_key,
        target.device_name,
    )
    report = chain_verify()
    assert report.ok, report.message
    assert report.checked == 3
    call_command("audit_verify", workers=1)


def test_a_non_superuser_cannot_redact_and_the_attempt_is_recorded(auditor):
    target = make_event()
    with pytest.raises(AuditRedactionDenied):
        redact(auditor, target)
    assert stored(target).reason == REASON
    attempt = AuditEvent.objects.get(action=AuditAction.FIELD_REDACT)
    assert attempt.outcome == AuditOutcome.DENIED
    assert attempt.actor_username == auditor.username
    assert chain_verify().ok


@pytest.mark.parametrize(
    ("reason", "message"),
    [("", "Give a reason in words"), ("xxxxx\x07", "control characters")],
)
def test_a_redaction_without_a_valid_reason_is_refused(superuser, reason, message):
    target = make_event()
    with pytest.raises(AuditRedactionError, match=message):
        redact(superuser, target, reason=reason)
    assert stored(target).reason == REASON
    assert AuditEvent.objects.count() == 1


def test_a_text_is_redacted_once_and_an_empty_one_not_at_all(superuser):
    target = make_event(cert_sn="")
    first = redact(superuser, target)
    with pytest.raises(AuditRedactionError, match=f"already redacted \\(by event #{first.pk}\\)"):
        redact(superuser, target)
    with pytest.raises(AuditRedactionError, match="empty: there is nothing to redact"):
        redact(superuser, target, field="cert_sn")
    with pytest.raises(AuditRedactionError, match="Only the reason or the CertSN"):
        redact(superuser, target, field="detail")
    assert chain_verify().ok


def test_a_row_older_than_version_4_cannot_be_redacted(superuser, monkeypatch):
    monkeypatch.setattr(services, "REDACTABLE_FIELDS", ())  # writes a version 3 row
    old = make_event()
    monkeypatch.undo()
    assert old.reason_digest == ""
    assert json.loads(canonical_event_bytes(old))["reason"] == REASON
    with pytest.raises(AuditRedactionError, match="blanking it would break the chain"):
        redact(superuser, old)
    # Nor through the database: its hash covers the text itself.
    make_event()
    with pytest.raises(DatabaseError, match="append-only"):
        _redaction_update(old, "reason", AuditEvent.objects.order_by("-id").first().pk)
    assert chain_verify().ok


# --- What the database refuses, and what the verifier finds ---------------------------------------


def _redaction_update(event: AuditEvent, field: str, redaction_id: int, extra: str = "") -> None:
    raw(
        f"UPDATE audit_auditevent SET {field} = '', {field}_redacted_by = %s{extra} "  # noqa: S608
        "WHERE id = %s",
        [redaction_id, event.pk],
    )


@pytest.fixture
def redacted(superuser):
    """Two events; the first one's reason (``SECRET``) redacted by a third."""
    target, other = make_event(reason=SECRET), make_event()
    return target, other, redact(superuser, target)


@pytest.mark.parametrize(
    "change",
    [
        "SET reason = 'rewritten'",
        "SET reason = ''",  # blanked without a mark
        "SET detail = 'x'",
        "SET reason_digest = ''",
        "SET reason_redacted_by = 1",  # a mark on a text that is still there
    ],
)
def test_the_database_still_refuses_every_other_update(redacted, change):
    _target, other, _redaction = redacted
    with pytest.raises(DatabaseError, match="append-only"):
        raw(f"UPDATE audit_auditevent {change} WHERE id = %s", [other.pk])
    assert stored(other).reason == REASON


def test_the_database_refuses_a_redaction_that_its_event_does_not_name(redacted):
    target, other, redaction = redacted
    # The redaction event names the first event's reason, not the second's, nor its CertSN.
    with pytest.raises(DatabaseError, match="append-only"):
        _redaction_update(other, "reason", redaction.pk)
    with pytest.raises(DatabaseError, match="append-only"):
        _redaction_update(target, "cert_sn", redaction.pk)
    # An event that is no redaction, or an earlier one.
    with pytest.raises(DatabaseError, match="append-only"):
        _redaction_update(other, "reason", target.pk)
    # The redaction with another column changed alongside.
    other_redaction = redact_event_naming(other)
    with pytest.raises(DatabaseError, match="append-only"):
        _redaction_update(other, "reason", other_redaction, extra=", detail = 'x'")
    with pytest.raises(DatabaseError, match="append-only"):
        _redaction_update(other, "reason", other_redaction, extra=", cert_sn = ''")
    # A redacted text cannot come back, nor its mark move.
    with pytest.raises(DatabaseError, match="append-only"):
        raw("UPDATE audit_auditevent SET reason = 'back' WHERE id = %s", [target.pk])
    with pytest.raises(DatabaseError, match="append-only"):
        raw(
            "UPDATE audit_auditevent SET reason_redacted_by = %s WHERE id = %s",
            [other_redaction, target.pk],
        )
    assert stored(other).reason == REASON


def redact_event_naming(event: AuditEvent) -> int:
    """A successful redaction event naming ``event``'s reason, appended without blanking it."""
    return services.audit_record(
        action=AuditAction.FIELD_REDACT,
        outcome=AuditOutcome.SUCCESS,
        actor=None,
        context=CONTEXT,
        detail=redaction_detail(event_id=event.pk, field="reason"),
    ).pk


def test_blanking_a_text_without_a_redaction_event_fails_verification(redacted):
    _target, other, _redaction = redacted
    # The database writer (here with the triggers out of the way) empties a reason.
    tamper("UPDATE audit_auditevent SET reason = '' WHERE id = %s", [other.pk])
    report = chain_verify()
    assert (report.problem, report.first_broken_id) == (
        ChainProblem.REDACTION_UNRECORDED,
        other.pk,
    )
    assert "no redaction event in the chain accounts for" in report.message
    with pytest.raises(CommandError, match="no redaction event"):
        call_command("audit_verify", workers=1)


@pytest.mark.parametrize(
    "tampering",
    [
        # Marked as redacted by a real redaction, of another event.
        "UPDATE audit_auditevent SET reason = '', reason_redacted_by = {redaction} "
        "WHERE id = {other}",
        # Marked redacted, the text still there.
        "UPDATE audit_auditevent SET reason_redacted_by = {redaction} WHERE id = {other}",
        # The redacted row's mark moved to an event that is no redaction.
        "UPDATE audit_auditevent SET reason_redacted_by = {other} WHERE id = {target}",
    ],
)
def test_a_redaction_mark_that_its_event_does_not_account_for_fails_verification(
    redacted, tampering
):
    target, other, redaction = redacted
    tamper(tampering.format(redaction=redaction.pk, other=other.pk, target=target.pk))
    report = chain_verify()
    assert report.problem == ChainProblem.REDACTION_UNRECORDED
    assert report.first_broken_id in (target.pk, other.pk)


def test_a_redaction_event_forged_without_the_key_fails_verification(redacted):
    _target, other, _redaction = redacted
    forged = redact_event_naming(other)
    # Re-sealed with a guess at the key: the database lets the blanking through, the
    # verifier finds the forged event.
    tamper(
        "UPDATE audit_auditevent SET entry_hash = %s WHERE id = %s",
        ["f" * 64, forged],
    )
    _redaction_update(other, "reason", forged)
    report = chain_verify()
    assert (report.problem, report.first_broken_id) == (ChainProblem.EDITED, forged)


# --- Where the redaction shows --------------------------------------------------------------------


def test_the_export_marks_the_redacted_text(redacted, auditor, client_for):
    target, other, redaction = redacted
    content = client_for(auditor).get(reverse("audit:export")).getvalue()
    rows, _manifest = export_unpacked(content)
    by_id = {int(row["id"]): row for row in rows}
    assert by_id[target.pk]["reason"] == f"[redacted by event #{redaction.pk}]"
    assert by_id[target.pk]["reason_redacted_by"] == str(redaction.pk)
    assert by_id[other.pk]["reason"] == REASON
    assert by_id[other.pk]["reason_redacted_by"] == ""
    assert by_id[redaction.pk]["reason"] == WHY
    # A digest stays in its own column, never in place of the text.
    assert by_id[target.pk]["reason_digest"] == target.reason_digest
    assert target.reason_digest not in by_id[target.pk]["reason"]
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert SECRET not in archive.read("events.csv").decode()


def test_the_auditor_pages_show_the_text_as_redacted(redacted, auditor, client_for):
    target, other, redaction = redacted
    client = client_for(auditor)
    for url in (
        reverse("audit:events"),
        reverse("audit:device", args=[target.product_key, target.device_name]),
    ):
        body = client.get(url).content.decode()
        assert f"Redacted (event #{redaction.pk})" in body
        assert target.reason_digest not in body
        assert SECRET not in body
        assert REASON in body  # the other event's
        # Only a superuser gets the links to redact.
        assert reverse("audit:redact", args=[other.pk]) not in body


def test_a_superuser_redacts_through_the_page(superuser, client_for):
    target = make_event()
    client = client_for(superuser)
    page = client.get(reverse("audit:events")).content.decode()
    url = reverse("audit:redact", args=[target.pk])
    assert f'href="{url}"' in page
    form = client.get(url)
    assert form.status_code == 200
    assert 'name="field"' in form.content.decode()
    # Without the password (not entered lately): asked for, nothing redacted.
    asked = client.post(url, {"field": "reason", "reason": WHY})
    assert asked.status_code == 400
    assert "Enter your password" in asked.content.decode()
    assert stored(target).reason == REASON
    done = client.post(url, {"field": "reason", "reason": WHY, "password": ROLE_PASSWORD})
    assert done.status_code == 302
    assert stored(target).reason == ""
    assert "Redacted (event #" in client.get(done["Location"]).content.decode()
    assert chain_verify().ok


def test_the_redaction_page_is_refused_to_others_and_their_attempt_recorded(auditor, client_for):
    target = make_event()
    client = client_for(auditor)
    url = reverse("audit:redact", args=[target.pk])
    assert client.get(url).status_code == 403
    answer = client.post(url, {"field": "reason", "reason": WHY, "password": ROLE_PASSWORD})
    assert answer.status_code == 403
    assert stored(target).reason == REASON
    denied = AuditEvent.objects.get(action=AuditAction.FIELD_REDACT)
    assert (denied.outcome, denied.actor_username) == (AuditOutcome.DENIED, auditor.username)


def test_the_command_redacts_as_a_named_superuser(superuser, auditor):
    target = make_event()
    with pytest.raises(CommandError, match="Only a superuser"):
        call_command("audit_redact", target.pk, "reason", by=auditor.username, reason=WHY)
    with pytest.raises(CommandError, match="no user"):
        call_command("audit_redact", target.pk, "reason", by="nobody", reason=WHY)
    call_command("audit_redact", target.pk, "reason", by=superuser.username, reason=WHY)
    assert stored(target).reason == ""
    assert chain_verify().ok


# --- The parallel walk ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("unrecorded", [False, True])
def test_the_parallel_walk_reports_as_the_sequential_one_on_a_redacted_trail(make_user, unrecorded):
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("an in-memory SQLite database is not shared with other processes")
    superuser = make_user("superuser")
    events = make_events(12)
    redact(superuser, events[2])
    redact(superuser, events[7], field="cert_sn")
    if unrecorded:
        tamper("UPDATE audit_auditevent SET reason = '' WHERE id = %s", [events[9].pk])
    sequential = chain_verify(batch_size=5)
    parallel = chain_verify(batch_size=5, workers=3, parallel_min_rows=0)
    assert parallel == sequential
    assert sequential.ok is not unrecorded
    if unrecorded:
        assert sequential.first_broken_id == events[9].pk


def test_the_redaction_page_asks_anyone_else_to_log_in_or_refuses_them(viewer, client, client_for):
    target = make_event()
    url = reverse("audit:redact", args=[target.pk])
    assert client.get(url)["Location"].startswith(reverse("login"))
    assert client_for(viewer).post(url, {"field": "reason", "reason": WHY}).status_code == 403
    assert stored(target).reason == REASON
