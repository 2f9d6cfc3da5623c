"""A checkpoint that should be there and is not fails verification: every
checkpoint is recorded in the keyed chain, so a deleted file is found; and no row may wait longer
than CERTADMIN_AUDIT_CHECKPOINT_MAX_AGE for a checkpoint."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from certadmin.audit.checkpoints import (
    LEGACY_VERSION,
    Checkpoint,
    checkpoint_event_parse,
    checkpoint_sign,
    checkpoint_write,
    checkpoints_read,
)
from certadmin.audit.management.commands import audit_verify
from certadmin.audit.models import AuditAction, AuditEvent, ChainProblem, ChainVerification
from certadmin.audit.verification import chain_verify
from tests.audit.chain_runs import verification_run
from tests.support.audit_events import make_event, make_events
from tests.support.pages import HTMX_HEADERS

pytestmark = pytest.mark.django_db

ABSENT = "records a signed checkpoint that is not in the checkpoint directory"
OVERDUE = "is older than the longest time allowed without a checkpoint"


def _events_ago(monkeypatch, count: int, *, hours: float) -> list[AuditEvent]:
    moment = timezone.now() - timedelta(hours=hours)
    monkeypatch.setattr(timezone, "now", lambda: moment)
    events = make_events(count)
    monkeypatch.undo()
    return events


def test_each_checkpoint_is_recorded_in_the_trail(checkpoint_dir):
    events = make_events(2)
    call_command("audit_checkpoint")
    (checkpoint,), _ = checkpoints_read(directory=checkpoint_dir)
    record = AuditEvent.objects.get(action=AuditAction.CHAIN_CHECKPOINT)
    assert record.id > events[-1].id
    assert record.actor_username == ""
    recorded = checkpoint_event_parse(record.detail)
    assert recorded.name == next(checkpoint_dir.glob("checkpoint-*.json")).name
    assert (recorded.head_id, recorded.head_hash, recorded.row_count) == (
        checkpoint.head_id,
        checkpoint.head_hash,
        2,
    )
    assert chain_verify().ok


def test_a_deleted_checkpoint_fails_verify_with_a_non_zero_exit(
    checkpoint_dir, capsys, monkeypatch
):
    make_events(2)
    call_command("audit_checkpoint")
    make_events(1)
    call_command("audit_checkpoint")
    first, second = sorted(checkpoint_dir.glob("checkpoint-*.json"))
    # The newest checkpoint alone would pass: only its record in the trail tells.
    second.unlink()
    record = AuditEvent.objects.filter(action=AuditAction.CHAIN_CHECKPOINT).order_by("id").last()
    report = chain_verify()
    assert report.problem == ChainProblem.CHECKPOINT_ABSENT
    assert report.first_broken_id == record.id
    assert report.previous_id is None
    assert f"Row {record.id} {ABSENT}" in report.message
    capsys.readouterr()
    # As manage.py runs it, but keeping the test's connection (and its transaction) open.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    with pytest.raises(SystemExit) as exited:
        audit_verify.Command().run_from_argv(["manage.py", "audit_verify"])
    assert exited.value.code == 1
    out, err = capsys.readouterr()
    assert f"missing checkpoint: {second}" in out
    assert "audit chain BROKEN" in err
    assert ChainVerification.objects.latest("id").problem == ChainProblem.CHECKPOINT_ABSENT
    # Nor does the checkpoint command sign over it.
    with pytest.raises(CommandError, match="no checkpoint written"):
        call_command("audit_checkpoint")
    assert sorted(checkpoint_dir.glob("checkpoint-*.json")) == [first]


def test_a_checkpoint_replaced_by_one_of_another_head_is_missing(checkpoint_dir, settings):
    events = make_events(2)
    call_command("audit_checkpoint")
    (path,) = checkpoint_dir.glob("checkpoint-*.json")
    path.unlink()
    # A validly signed checkpoint of an earlier head does not stand for the recorded one.
    earlier = checkpoint_sign(
        head_id=events[0].id,
        head_hash=events[0].entry_hash,
        row_count=1,
        created_at=timezone.now(),
        key=settings.AUDIT_SIGNING_KEY,
    )
    checkpoint_write(checkpoint=earlier, directory=checkpoint_dir)
    assert chain_verify().problem == ChainProblem.CHECKPOINT_ABSENT


def test_verify_now_says_a_checkpoint_is_missing(checkpoint_dir, auditor, client_for):
    make_events(2)
    call_command("audit_checkpoint")
    next(checkpoint_dir.glob("checkpoint-*.json")).unlink()
    client = client_for(auditor)
    client.post(reverse("audit:verify"))
    job = verification_run()
    run_page = reverse("audit:verify-run", args=[job.pk])
    page = client.get(run_page).content.decode()
    assert "Chain broken" in page
    assert ABSENT in page
    partial = client.get(run_page, headers=HTMX_HEADERS).content.decode()
    assert ABSENT in partial
    # The chain page's history says so too.
    assert ABSENT in client.get(reverse("audit:chain")).content.decode()


def test_a_trail_with_no_checkpoint_for_too_long_fails(monkeypatch, checkpoint_dir):
    old = _events_ago(monkeypatch, 2, hours=27)
    make_events(1)
    report = chain_verify()
    assert report.problem == ChainProblem.CHECKPOINT_OVERDUE
    assert report.first_broken_id == old[0].id
    assert report.head_id is not None  # the rows themselves verified
    with pytest.raises(CommandError, match=OVERDUE):
        call_command("audit_verify")


def test_rows_after_the_newest_checkpoint_may_not_wait_too_long(monkeypatch, settings):
    _events_ago(monkeypatch, 2, hours=50)
    settings.AUDIT_CHECKPOINT_MAX_AGE = timedelta(hours=100)
    call_command("audit_checkpoint")  # covers the old rows
    settings.AUDIT_CHECKPOINT_MAX_AGE = timedelta(hours=26)
    assert chain_verify().ok  # the checkpoint's own record is fresh
    late = make_events(1)
    assert chain_verify().ok
    settings.AUDIT_CHECKPOINT_MAX_AGE = timedelta(seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: late[0].created_at + timedelta(seconds=2))
    report = chain_verify()
    assert report.problem == ChainProblem.CHECKPOINT_OVERDUE
    # The oldest row no checkpoint covers: the checkpoint's own record, written after its head.
    record = AuditEvent.objects.get(action=AuditAction.CHAIN_CHECKPOINT)
    assert report.first_broken_id == record.id


def test_the_checkpoint_command_mends_an_overdue_trail_but_reports_it(monkeypatch, checkpoint_dir):
    _events_ago(monkeypatch, 2, hours=30)
    with pytest.raises(
        CommandError, match=f"checkpoint written: .*but it was overdue: .*{OVERDUE}"
    ):
        call_command("audit_checkpoint")
    assert len(list(checkpoint_dir.glob("checkpoint-*.json"))) == 1
    # The finding stays in the append-only history; the trail passes from now on.
    kept = ChainVerification.objects.get()
    assert (kept.ok, kept.problem) == (False, ChainProblem.CHECKPOINT_OVERDUE)
    assert chain_verify().ok


def test_an_hmac_checkpoint_covers_no_row(monkeypatch, checkpoint_dir, settings, capsys):
    events = _events_ago(monkeypatch, 2, hours=30)
    legacy = Checkpoint(
        head_id=events[-1].id,
        head_hash=events[-1].entry_hash,
        row_count=2,
        created_at=events[-1].created_at.isoformat(timespec="seconds"),
        key_id=settings.AUDIT_KEY_ID,
        version=LEGACY_VERSION,
    )
    signature = hmac.new(
        settings.AUDIT_KEYS[settings.AUDIT_KEY_ID], legacy.signed_bytes(), hashlib.sha256
    ).hexdigest()
    checkpoint_write(
        checkpoint=Checkpoint(**{**legacy.__dict__, "signature": signature}),
        directory=checkpoint_dir,
    )
    report = chain_verify()
    assert report.checkpoints == 1  # read and matched with the chain...
    assert report.problem == ChainProblem.CHECKPOINT_OVERDUE  # ...but it proves nothing
    with pytest.raises(CommandError):
        call_command("audit_verify")
    assert "1 of them are version 1 checkpoints" in capsys.readouterr().out
    # A version 1 checkpoint that contradicts the chain still fails it.
    path = next(checkpoint_dir.glob("checkpoint-*.json"))
    fields = json.loads(path.read_text())
    path.write_text(json.dumps({**fields, "row_count": 3}))
    assert chain_verify().problem == ChainProblem.CHECKPOINT_INVALID


def test_a_zero_maximum_age_turns_the_overdue_rule_off(monkeypatch, settings):
    _events_ago(monkeypatch, 2, hours=1000)
    settings.AUDIT_CHECKPOINT_MAX_AGE = timedelta(0)
    assert chain_verify().ok


def test_without_a_checkpoint_directory_nothing_is_required(
    monkeypatch, checkpoint_dir, settings, capsys
):
    _events_ago(monkeypatch, 2, hours=30)
    with pytest.raises(CommandError, match="overdue"):
        call_command("audit_checkpoint")
    next(checkpoint_dir.glob("checkpoint-*.json")).unlink()
    make_event()
    assert chain_verify().problem == ChainProblem.CHECKPOINT_ABSENT
    settings.AUDIT_CHECKPOINT_DIR = ""
    # Neither the recorded checkpoint nor the old rows matter without a directory (as before).
    assert chain_verify().ok
    call_command("audit_verify")
    out = capsys.readouterr().out
    assert "audit chain OK" in out
    assert "No signed checkpoint found" in out
