"""The verifier notices every kind of tampering, and the command reports it."""

import pytest
from django.core.management import CommandError, call_command

from certadmin.audit.hash_chain import event_hash
from certadmin.audit.models import AuditEvent, ChainProblem, ChainVerification
from certadmin.audit.verification import chain_verify
from tests.support.audit_events import make_event, make_events, tamper

pytestmark = pytest.mark.django_db


def test_an_empty_trail_verifies():
    report = chain_verify()
    assert report.ok
    assert report.checked == 0
    assert report.head_id is None
    assert report.head_hash == ""


def test_a_clean_chain_verifies_and_names_its_head():
    events = make_events(5)
    report = chain_verify(batch_size=2)
    assert report.ok
    assert report.checked == 5
    assert report.head_id == events[-1].id
    assert report.head_hash == events[-1].entry_hash
    assert report.message == ""


def test_an_edited_row_is_found():
    events = make_events(4)
    tamper(
        "UPDATE audit_auditevent SET reason = %s WHERE id = %s", ["nothing to see", events[2].id]
    )
    report = chain_verify()
    assert not report.ok
    assert report.problem == ChainProblem.EDITED
    assert report.first_broken_id == events[2].id
    assert report.head_id == events[1].id
    assert f"Row {events[2].id} was edited" in report.message


def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link():
    events = make_events(4)
    forged = AuditEvent.objects.get(pk=events[1].id)
    forged.detail = "nothing to see"
    tamper(
        "UPDATE audit_auditevent SET detail = %s, entry_hash = %s WHERE id = %s",
        [forged.detail, event_hash(forged), forged.id],
    )
    report = chain_verify()
    assert report.problem == ChainProblem.UNLINKED
    assert report.first_broken_id == events[2].id
    assert report.previous_id == events[1].id


def test_a_deleted_row_is_found():
    events = make_events(5)
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[2].id])
    report = chain_verify()
    assert not report.ok
    assert report.problem == ChainProblem.UNLINKED
    assert report.first_broken_id == events[3].id
    assert report.previous_id == events[1].id
    assert "deleted, inserted or reordered" in report.message


def test_deleting_the_first_rows_is_found():
    events = make_events(3)
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[0].id])
    report = chain_verify()
    assert report.problem == ChainProblem.FIRST_UNLINKED
    assert report.first_broken_id == events[1].id


def test_swapping_two_rows_is_found():
    events = make_events(4)
    a, b = events[1].id, events[2].id
    # Renumbering swaps every column of the two rows at once (through a parking id, because
    # the hashes are unique; above the others, because ids are positive).
    parking = events[-1].id + 1000
    tamper("UPDATE audit_auditevent SET id = %s WHERE id = %s", [parking, a])
    tamper("UPDATE audit_auditevent SET id = %s WHERE id = %s", [a, b])
    tamper("UPDATE audit_auditevent SET id = %s WHERE id = %s", [b, parking])
    assert AuditEvent.objects.get(pk=a).entry_hash == events[2].entry_hash
    report = chain_verify()
    assert not report.ok
    assert report.problem == ChainProblem.UNLINKED
    assert report.first_broken_id == a


def test_a_row_inserted_without_the_service_is_found():
    events = make_events(3)
    intruder = AuditEvent(
        created_at=events[-1].created_at,
        actor_username="mallory",
        action=events[-1].action,
        outcome=events[-1].outcome,
        prev_hash="f" * 64,
        key_id=events[-1].key_id,
    )
    intruder.entry_hash = event_hash(intruder)  # sealed with the key, but not linked
    intruder.save(force_insert=True)
    make_event()  # later honest appends follow the intruder
    report = chain_verify()
    assert report.problem == ChainProblem.UNLINKED
    assert report.first_broken_id == intruder.id
    assert report.previous_id == events[-1].id


def test_a_break_across_a_batch_boundary_is_found():
    events = make_events(6)
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[2].id])
    report = chain_verify(batch_size=2)
    assert report.first_broken_id == events[3].id
    assert report.checked == 3


def test_truncation_is_only_found_against_an_anchor():
    events = make_events(4)
    anchor = events[-1].entry_hash
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[-1].id])
    assert chain_verify().ok  # a shorter chain is still a valid chain
    report = chain_verify(expect_head=anchor)
    assert not report.ok
    assert report.problem == ChainProblem.ANCHOR_MISSING


def test_an_anchor_followed_by_newer_rows_still_verifies():
    events = make_events(3)
    make_events(2)
    assert chain_verify(expect_head=events[-1].entry_hash).ok


# --- manage.py audit_verify ------------------------------------------------------------------


def test_the_command_prints_the_head_hash_and_records_the_run(capsys):
    events = make_events(3)
    call_command("audit_verify")
    out = capsys.readouterr().out
    assert "rows checked: 3" in out
    assert f"head hash: {events[-1].entry_hash}" in out
    assert "Anchor this value elsewhere" in out
    assert "audit chain OK" in out
    run = ChainVerification.objects.get()
    assert run.ok
    assert run.run_by == ""
    assert run.head_hash == events[-1].entry_hash
    assert run.checked == 3


def test_the_command_fails_on_a_broken_chain_and_records_it():
    events = make_events(3)
    tamper("UPDATE audit_auditevent SET detail = 'x' WHERE id = %s", [events[0].id])
    with pytest.raises(CommandError, match=f"Row {events[0].id} was edited"):
        call_command("audit_verify")
    run = ChainVerification.objects.get()
    assert not run.ok
    assert run.problem == ChainProblem.EDITED
    assert run.first_broken_id == events[0].id


def test_the_command_fails_when_the_expected_head_is_gone():
    events = make_events(3)
    anchor = events[-1].entry_hash
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[-1].id])
    with pytest.raises(CommandError, match="anchored head hash is not in the chain"):
        call_command("audit_verify", expect_head=anchor)
    assert ChainVerification.objects.get().expected_head == anchor


def test_the_command_accepts_a_present_expected_head(capsys):
    events = make_events(2)
    call_command("audit_verify", expect_head=events[0].entry_hash.upper())
    assert "expected head: present in the chain" in capsys.readouterr().out


def test_the_command_refuses_a_malformed_expected_head():
    with pytest.raises(CommandError, match="64-character"):
        call_command("audit_verify", expect_head="nothex")
