import json
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import RequestFactory

from certadmin.audit.hash_chain import (
    CHAIN_FIELDS,
    GENESIS_HASH,
    canonical_event_bytes,
    event_hash,
)
from certadmin.audit.models import REDACTABLE_FIELDS, AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.services import (
    AuditWriteError,
    RequestContext,
    audit_record,
    request_context,
)
from tests.support.audit_events import make_event

pytestmark = pytest.mark.django_db


def test_first_event_links_to_the_genesis_hash():
    event = make_event()
    assert event.prev_hash == GENESIS_HASH
    assert event.entry_hash == event_hash(event)
    assert len(event.entry_hash) == 64


def test_each_event_links_to_the_one_before():
    first, second, third = make_event(), make_event(), make_event()
    assert second.prev_hash == first.entry_hash
    assert third.prev_hash == second.entry_hash
    assert first.id < second.id < third.id
    assert first.created_at <= second.created_at <= third.created_at


def test_the_hash_survives_a_reload_from_the_database():
    event = make_event(
        context=RequestContext(ip_address="::FFFF:192.0.2.1", user_agent="ua ✓"),
        reason="理由: 更换证书",
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.ip_address == "::ffff:192.0.2.1"
    assert event_hash(stored) == stored.entry_hash == event.entry_hash


def test_canonical_form_is_sorted_compact_json_with_utc_microseconds():
    event = make_event(reason="r", detail="naïve")
    data = canonical_event_bytes(event)
    decoded = json.loads(data)
    # A keyed row that concerns no account: hash version 4, the digests of the texts instead of
    # the texts themselves.
    assert list(decoded) == sorted(set(CHAIN_FIELDS) - {"account", "reason", "cert_sn"})
    assert b", " not in data
    assert b'"detail":"na\xc3\xafve"' in data  # UTF-8, not \\u escapes
    stamp = datetime.fromisoformat(decoded["created_at"])
    assert stamp.utcoffset().total_seconds() == 0
    assert decoded["created_at"].endswith("+00:00")
    assert len(decoded["created_at"].split(".")[1]) == len("123456+00:00")
    assert "id" not in decoded
    assert "entry_hash" not in decoded


def test_a_row_naming_an_account_hashes_it_and_blanking_it_breaks_the_hash():
    event = make_event(account="staging")
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.account == "staging"
    assert json.loads(canonical_event_bytes(stored))["account"] == "staging"  # version 3
    assert event_hash(stored) == stored.entry_hash
    stored.account = ""
    assert event_hash(stored) != stored.entry_hash


# The redactable texts are covered through their digests (tests/audit/test_audit_redaction.py).
@pytest.mark.parametrize(
    "field", [f for f in CHAIN_FIELDS if f not in ("created_at", *REDACTABLE_FIELDS)]
)
def test_every_field_is_covered_by_the_hash(field):
    event = make_event()
    original = event.entry_hash
    if field == "actor_id":
        event.actor_id = 999
    elif field == "ip_address":
        event.ip_address = "198.51.100.7"
    elif field == "key_id":
        event.key_id = ""  # the same bytes claimed as an unkeyed row
    else:
        setattr(event, field, getattr(event, field) + "x")
    assert event_hash(event) != original


def test_the_time_is_covered_by_the_hash():
    event = make_event()
    event.created_at = event.created_at.replace(
        microsecond=(event.created_at.microsecond + 1) % 10**6
    )
    assert event_hash(event) != event.entry_hash


def test_a_signed_in_actor_is_recorded_by_id_and_name(custodian):
    event = make_event(actor=custodian)
    assert event.actor_id == custodian.pk
    assert event.actor_username == custodian.username


def test_an_anonymous_actor_is_recorded_as_nobody():
    from django.contrib.auth.models import AnonymousUser

    event = make_event(actor=AnonymousUser(), outcome=AuditOutcome.DENIED)
    assert event.actor_id is None
    assert event.actor_username == ""


def test_request_context_takes_the_remote_address_and_truncates_the_user_agent():
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.5", HTTP_USER_AGENT="A" * 2000)
    context = request_context(request)
    assert context == RequestContext(ip_address="203.0.113.5", user_agent="A" * 512)


def test_request_context_without_a_usable_address_records_none():
    request = RequestFactory().get("/", REMOTE_ADDR="not-an-address")
    assert request_context(request).ip_address is None


def test_overlong_text_and_nul_characters_are_made_storable():
    event = make_event(detail="d" * 1000, platform_code="\x00bad", reason="r" * 5000)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert len(stored.detail) == 255
    assert stored.platform_code == "\ufffdbad"
    assert len(stored.reason) == 5000
    assert event_hash(stored) == stored.entry_hash


def test_unknown_action_is_refused_before_writing():
    with pytest.raises(ValueError, match="key_steal"):
        audit_record(
            action="key_steal",
            outcome=AuditOutcome.SUCCESS,
            actor=None,
            context=RequestContext(ip_address=None, user_agent=""),
        )
    assert not AuditEvent.objects.exists()


def test_recording_inside_a_callers_transaction_is_refused():
    # The record must be committed on its own, before the key leaves the server.
    with transaction.atomic(), pytest.raises(AuditWriteError):
        make_event()
    assert not AuditEvent.objects.exists()


def test_a_database_that_refuses_the_insert_makes_recording_fail_closed(caplog):
    secret_reason = "reason that must not be logged"
    if connection.vendor == "postgresql":
        statements = [
            "CREATE FUNCTION audit_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk full'; END; $$",
            "CREATE TRIGGER audit_test_no_insert BEFORE INSERT ON audit_auditevent "
            "FOR EACH ROW EXECUTE FUNCTION audit_test_refuse()",
        ]
    else:
        statements = [
            "CREATE TRIGGER audit_test_no_insert BEFORE INSERT ON audit_auditevent "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        ]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    # (The test's transaction rolls back the refusing trigger afterwards.)
    with pytest.raises(AuditWriteError) as refused:
        make_event(reason=secret_reason)
    assert secret_reason not in str(refused.value)
    assert secret_reason not in caplog.text
    assert "could not be written" in caplog.text


def test_a_fork_is_refused_by_the_database():
    first = make_event()
    make_event()
    fork = AuditEvent(
        created_at=datetime.now(UTC),
        action=AuditAction.KEY_REVEAL,
        outcome=AuditOutcome.SUCCESS,
        prev_hash=first.entry_hash,
    )
    fork.entry_hash = event_hash(fork)
    with pytest.raises(IntegrityError), transaction.atomic():
        fork.save(force_insert=True)


def test_a_clock_stepped_back_never_stamps_a_time_before_the_heads(monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from certadmin.audit.verification import chain_verify

    first = make_event()
    earlier = first.created_at - timedelta(minutes=5)
    monkeypatch.setattr(timezone, "now", lambda: earlier)
    second = make_event()
    assert second.created_at == first.created_at
    monkeypatch.undo()
    third = make_event()
    assert third.created_at > first.created_at
    assert chain_verify().ok
