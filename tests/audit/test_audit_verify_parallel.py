"""The parallel walk (``audit_verify`` on a big trail) reports exactly what the sequential walk
reports: the same first broken row and problem, the same head, count and checkpoints.

Transactional: the walk's processes read the trail over connections of their own."""

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection

from certadmin.audit import verification
from certadmin.audit.hash_chain import event_hash
from certadmin.audit.models import AuditEvent, ChainProblem
from certadmin.audit.verification import _Walk, _WalkState, chain_verify
from tests.audit.forged_rows import (
    chain_downgraded,
    forged_row,
    id_check_lifted,
    row_insert,
    rows_below_one_removed,
)
from tests.support.audit_events import make_events, tamper

walk_in_parallel = verification._walk_in_parallel

# Only the audit app's tables are written here, so only they are emptied after each test (the
# whole database's flush and the permissions rebuilt after it took longer than most tests).
pytestmark = pytest.mark.django_db(transaction=True, available_apps=["certadmin.audit"])


@pytest.fixture(autouse=True)
def _shared_database():
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("an in-memory SQLite database is not shared with other processes")


def both_walks(**options):
    """The sequential report and the report of three processes, which must be equal."""
    sequential = chain_verify(**options)
    parallel = chain_verify(workers=3, parallel_min_rows=0, **options)
    assert parallel == sequential
    return sequential


def test_the_walk_really_is_split_between_processes():
    events = make_events(12)
    state = _WalkState(anchor_seen=True)
    walk = _Walk(keys=django_settings.AUDIT_KEYS, expect_head="", by_head={})
    checked_up_to = walk_in_parallel(walk, state, workers=3, min_rows=0, batch_size=5)
    assert checked_up_to == events[-1].id
    assert (state.checked, state.previous_id, state.problem) == (12, events[-1].id, "")


def test_a_small_trail_is_walked_in_this_process():
    make_events(3)
    state = _WalkState()
    walk = _Walk(keys=django_settings.AUDIT_KEYS, expect_head="", by_head={})
    assert walk_in_parallel(walk, state, workers=2, min_rows=100, batch_size=5) is None
    assert state.checked == 0


def test_an_intact_trail():
    events = make_events(12)
    report = both_walks(batch_size=5)
    assert report.ok
    assert (report.checked, report.head_id) == (12, events[-1].id)


@pytest.mark.parametrize("index", [0, 3, 4, 6, 11])
def test_an_edited_row_in_any_segment(index):
    events = make_events(12)
    tamper("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [events[index].id])
    report = both_walks()
    assert report.problem == ChainProblem.EDITED
    assert report.first_broken_id == events[index].id
    assert report.checked == index + 1


def test_of_two_edited_rows_the_first_is_reported():
    events = make_events(12)
    for index in (9, 5):
        tamper("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [events[index].id])
    assert both_walks().first_broken_id == events[5].id


@pytest.mark.parametrize("index", [0, 4, 5, 11])
def test_a_deleted_row_at_or_near_a_segment_boundary(index):
    events = make_events(12)
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[index].id])
    report = both_walks()
    if index == 11:
        assert report.ok
        assert report.head_id == events[10].id
    else:
        assert report.problem in (ChainProblem.UNLINKED, ChainProblem.FIRST_UNLINKED)
        assert report.first_broken_id == events[index + 1].id


def test_a_row_sealed_with_a_dropped_key(settings):
    make_events(6)
    settings.AUDIT_KEYS = {**settings.AUDIT_KEYS, "k2": b"k" * 32}
    settings.AUDIT_KEY_ID = "k2"
    later = make_events(6)
    report = both_walks(keys={"demo": settings.AUDIT_KEYS["demo"]})
    assert report.problem == ChainProblem.KEY_UNKNOWN
    assert report.first_broken_id == later[0].id


def test_unkeyed_rows_after_keyed_ones_in_a_later_segment(settings):
    make_events(6)
    settings.AUDIT_KEY_ID = ""
    unkeyed = make_events(6)
    report = both_walks()
    assert report.problem == ChainProblem.UNKEYED
    assert report.first_broken_id == unkeyed[0].id


@pytest.mark.parametrize("present", [True, False])
def test_the_expected_head(present):
    events = make_events(12)
    report = both_walks(expect_head=events[7].entry_hash if present else "ab" * 32)
    assert report.ok is present


def test_checkpoints_are_matched_with_the_rows_before_each_segment(checkpoint_dir):
    events = make_events(8)
    call_command("audit_checkpoint")
    events += make_events(4)
    report = both_walks()
    assert report.ok
    assert report.checkpoints == 1
    # An insider with the key rewrites a row in the first segment and re-seals the rows after
    # it, up to the checkpointed row: only the checkpoint can tell.
    previous = events[1].entry_hash
    for event in events[2:]:
        row = AuditEvent.objects.get(pk=event.pk)
        row.prev_hash = previous
        row.detail = "nothing to see" if event is events[2] else row.detail
        row.entry_hash = previous = event_hash(row)
        tamper(
            "UPDATE audit_auditevent SET detail = %s, prev_hash = %s, entry_hash = %s "
            "WHERE id = %s",
            [row.detail, row.prev_hash, row.entry_hash, row.pk],
        )
    report = both_walks()
    assert report.problem == ChainProblem.CHECKPOINT_MISMATCH
    assert report.first_broken_id == events[7].id


def test_the_command_checks_a_big_trail_in_processes_and_refuses_zero_workers(capsys, monkeypatch):
    events = make_events(6)
    monkeypatch.setattr(verification, "PARALLEL_MIN_ROWS", 0)
    split = []
    monkeypatch.setattr(
        verification,
        "_walk_in_parallel",
        lambda *args, **kwargs: split.append(kwargs) or walk_in_parallel(*args, **kwargs),
    )
    call_command("audit_verify", "--workers", "2")
    assert [(s["workers"], s["min_rows"]) for s in split] == [(2, 0)]
    out = capsys.readouterr().out
    assert "rows checked: 6" in out
    assert f"head hash: {events[-1].entry_hash}" in out
    with pytest.raises(CommandError, match="--workers"):
        call_command("audit_verify", "--workers", "0")


# --- ids below 1 and unkeyed rows ---------------------------------


@pytest.mark.parametrize("row_id", [-7, 0])
def test_a_row_with_an_id_below_1(row_id):
    events = make_events(12)
    with id_check_lifted():
        row_insert(forged_row(row_id=row_id, prev_hash="e" * 64))
    try:
        report = both_walks()
        assert (report.problem, report.first_broken_id) == (ChainProblem.ID_NOT_POSITIVE, row_id)
        # Walked first: the rows after it are not reached.
        assert report.checked == 1
        assert not AuditEvent.objects.filter(id__gt=events[-1].id).exists()
    finally:
        rows_below_one_removed()


def test_a_whole_chain_downgraded_to_unkeyed_rows():
    events = make_events(12)
    chain_downgraded()
    report = both_walks()
    assert (report.problem, report.first_broken_id) == (
        ChainProblem.UNKEYED_NOT_LEGACY,
        events[0].id,
    )


@pytest.mark.parametrize("legacy_rows", [3, 4, 5, 9])
def test_legacy_rows_up_to_the_boundary_in_any_segment(settings, legacy_rows):
    settings.AUDIT_KEY_ID = ""
    legacy = make_events(legacy_rows)
    settings.AUDIT_KEY_ID = "demo"
    make_events(12 - legacy_rows)
    settings.AUDIT_UNKEYED_UP_TO = legacy[-1].id
    assert both_walks().ok
    settings.AUDIT_UNKEYED_UP_TO = legacy[-2].id
    report = both_walks()
    assert (report.problem, report.first_broken_id) == (
        ChainProblem.UNKEYED_NOT_LEGACY,
        legacy[-1].id,
    )
    assert report.checked == legacy_rows


def test_only_legacy_rows(settings):
    settings.AUDIT_KEY_ID = ""
    legacy = make_events(12)
    settings.AUDIT_UNKEYED_UP_TO = legacy[-1].id
    report = both_walks()
    assert (report.problem, report.checked, report.head_id) == (
        ChainProblem.NO_KEYED_ROW,
        12,
        legacy[-1].id,
    )
