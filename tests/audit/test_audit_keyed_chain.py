"""The keyed chain and its signed checkpoints."""

import hashlib
import hmac
import json
import subprocess
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from certadmin.audit.checkpoints import (
    CheckpointError,
    checkpoint_sign,
    checkpoint_write,
    checkpoints_read,
)
from certadmin.audit.hash_chain import canonical_event_bytes, event_hash, field_digest
from certadmin.audit.hmac_keys import audit_keys_parse
from certadmin.audit.models import AuditEvent, ChainProblem, ChainVerification
from certadmin.audit.verification import chain_verify
from tests.support.audit_events import make_event, make_events, tamper
from tests.support.production import serving_started

ROOT = Path(__file__).resolve().parents[2]
KEY_1 = "a1d01301301b504551a01fa51ef8543b98eacba4fbe19ca6e3f271979c2ba70b"
KEY_2 = "5aa2e42915b29403eea35068391fc85dd96cf3e3e959f431cb6ff7a8be59cee8"


def _use_keys(settings, active: str, **hex_keys: str) -> None:
    settings.AUDIT_KEYS = {kid: bytes.fromhex(value) for kid, value in hex_keys.items()}
    settings.AUDIT_KEY_ID = active


def _forge_after_head(**changes) -> AuditEvent:
    """A row linked to the head and hashed as ``changes`` say, inserted without the service."""
    head = AuditEvent.objects.order_by("-id").first()
    forged = AuditEvent(
        created_at=head.created_at,
        actor_username="mallory",
        action=head.action,
        outcome=head.outcome,
        prev_hash=head.entry_hash,
    )
    keys = changes.pop("keys", None)
    for name, value in changes.items():
        setattr(forged, name, value)
    forged.entry_hash = event_hash(forged, keys=keys)
    forged.save(force_insert=True)
    return forged


# --- the keyed hash --------------------------------------------------------------------------


@pytest.mark.django_db
def test_new_rows_are_sealed_with_the_active_key(settings):
    _use_keys(settings, "k1", k1=KEY_1)
    event = make_event()
    assert event.key_id == "k1"
    expected = hmac.new(bytes.fromhex(KEY_1), canonical_event_bytes(event), hashlib.sha256)
    assert event.entry_hash == expected.hexdigest()
    assert chain_verify().ok


@pytest.mark.django_db
def test_legacy_unkeyed_rows_still_verify_before_keyed_ones(settings):
    settings.AUDIT_KEY_ID = ""  # what rows written before the chain was keyed look like
    legacy = make_events(2)
    assert legacy[0].key_id == ""
    assert legacy[0].entry_hash == hashlib.sha256(canonical_event_bytes(legacy[0])).hexdigest()
    settings.AUDIT_UNKEYED_UP_TO = legacy[-1].id
    settings.AUDIT_KEY_ID = "demo"
    make_events(2)
    report = chain_verify()
    assert report.ok
    assert report.checked == 4


@pytest.mark.django_db
def test_a_forged_unkeyed_row_after_keyed_rows_is_found():
    make_events(2)
    forged = _forge_after_head(key_id="")  # a valid plain SHA-256, linked to the head
    report = chain_verify()
    assert report.problem == ChainProblem.UNKEYED
    assert report.first_broken_id == forged.id


@pytest.mark.django_db
def test_a_row_forged_without_the_key_is_found():
    make_events(2)
    wrong = {"demo": b"an attacker's guess at the key, 32+ bytes long"}
    forged = _forge_after_head(key_id="demo", keys=wrong)
    report = chain_verify()
    assert report.problem == ChainProblem.EDITED
    assert report.first_broken_id == forged.id


@pytest.mark.django_db
def test_rotation_keeps_old_rows_verifying_with_their_key(settings):
    _use_keys(settings, "k1", k1=KEY_1)
    old = make_events(2)
    _use_keys(settings, "k2", k1=KEY_1, k2=KEY_2)
    new = make_events(2)
    assert [e.key_id for e in old + new] == ["k1", "k1", "k2", "k2"]
    assert chain_verify().ok
    _use_keys(settings, "k2", k2=KEY_2)  # the old key was dropped too early
    report = chain_verify()
    assert report.problem == ChainProblem.KEY_UNKNOWN
    assert report.first_broken_id == old[0].id


@pytest.mark.django_db
def test_the_key_reaches_no_row_of_the_database(settings):
    _use_keys(settings, "k1", k1=KEY_1)
    make_events(2)
    call_command("audit_verify")
    secret = bytes.fromhex(KEY_1)
    forms = {KEY_1, secret.decode("latin-1")}
    for model in (AuditEvent, ChainVerification):
        for row in model.objects.values_list():
            assert not any(form in str(value) for value in row for form in forms)


# --- keys from the environment ---------------------------------------------------------------


def test_keys_parse_hex_and_base64_and_refuse_weak_or_malformed_ones():
    b64 = "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXowMTIzNDU2Nzg5"  # 36 bytes
    keys = audit_keys_parse(f"a:{KEY_1}, b.2:{b64}, c:{b64.rstrip('=').replace('+', '-')}")
    assert keys["a"] == bytes.fromhex(KEY_1)
    assert keys["b.2"] == keys["c"] == b"abcdefghijklmnopqrstuvwxyz0123456789"
    for bad in ("a:" + "11" * 16, "a", "bad kid:" + KEY_1, f"a:{KEY_1},a:{KEY_2}", "a:%%%"):
        with pytest.raises(ValueError, match="audit key") as refused:
            audit_keys_parse(bad)
        assert KEY_1 not in str(refused.value)


def _settings_in_production(**env: str) -> subprocess.CompletedProcess:
    return serving_started(**env)


@pytest.mark.slow
def test_production_refuses_to_start_without_an_audit_key():
    missing = _settings_in_production()
    assert missing.returncode != 0
    assert "CERTADMIN_AUDIT_KEYS must be set" in missing.stderr
    demo = _settings_in_production(CERTADMIN_AUDIT_KEYS="demo:" + KEY_1)
    assert "CERTADMIN_AUDIT_KEYS must be set" in demo.stderr
    unnamed = _settings_in_production(CERTADMIN_AUDIT_KEYS=f"k1:{KEY_1},k2:{KEY_2}")
    assert "CERTADMIN_AUDIT_KEY_ID must name" in unnamed.stderr
    weak = _settings_in_production(CERTADMIN_AUDIT_KEYS="k1:abcd")
    assert "CERTADMIN_AUDIT_KEYS" in weak.stderr
    assert "abcd" not in weak.stderr
    good = _settings_in_production(
        CERTADMIN_AUDIT_KEYS=f"k1:{KEY_1},k2:{KEY_2}",
        CERTADMIN_AUDIT_KEY_ID="k2",
        CERTADMIN_AUDIT_SIGNING_KEY="s1:" + "33" * 32,
    )
    assert good.returncode == 0, good.stderr


# --- signed checkpoints ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_checkpoint_command_writes_a_signed_file_that_verify_checks(checkpoint_dir, capsys):
    events = make_events(3)
    call_command("audit_checkpoint")
    (checkpoint,), malformed = checkpoints_read(directory=checkpoint_dir)
    assert malformed == []
    assert (checkpoint.head_id, checkpoint.head_hash, checkpoint.row_count) == (
        events[-1].id,
        events[-1].entry_hash,
        3,
    )
    assert checkpoint.key_id == django_settings.AUDIT_SIGNING_KEY.key_id
    assert checkpoint.version == 2
    assert [p.name for p in checkpoint_dir.iterdir() if not p.name.startswith("checkpoint-")] == []
    make_events(2)  # later rows are fine
    call_command("audit_verify")
    assert "checkpoints checked: 1" in capsys.readouterr().out
    assert ChainVerification.objects.get().checkpoints == 1


@pytest.mark.django_db
def test_removing_the_newest_rows_is_caught_by_a_checkpoint():
    events = make_events(4)
    call_command("audit_checkpoint")
    tamper("DELETE FROM audit_auditevent WHERE id >= %s", [events[2].id])
    assert chain_verify(checkpoint_dir="").ok  # without the checkpoint, a shorter valid chain
    report = chain_verify()
    assert report.problem == ChainProblem.CHECKPOINT_MISSING_ROW
    assert report.first_broken_id == events[-1].id
    with pytest.raises(CommandError, match="head of a signed checkpoint, is no longer"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_a_chain_rewritten_with_the_key_differs_from_its_checkpoint():
    events = make_events(3)
    call_command("audit_checkpoint")
    # An insider with the key rewrites row 2 and re-seals every row after it (the checkpoint's
    # own event included).
    previous = events[0].entry_hash
    for row in AuditEvent.objects.filter(id__gt=events[0].id).order_by("id"):
        row.prev_hash = previous
        row.reason = "nothing to see" if row.pk == events[1].pk else row.reason
        row.reason_digest = field_digest(
            name="reason", text=row.reason, key=django_settings.AUDIT_KEYS[row.key_id]
        )
        row.entry_hash = event_hash(row)
        tamper(
            "UPDATE audit_auditevent SET reason = %s, reason_digest = %s, prev_hash = %s, "
            "entry_hash = %s WHERE id = %s",
            [row.reason, row.reason_digest, row.prev_hash, row.entry_hash, row.pk],
        )
        previous = row.entry_hash
    assert chain_verify(checkpoint_dir="").ok
    report = chain_verify()
    assert report.problem == ChainProblem.CHECKPOINT_MISMATCH
    assert report.first_broken_id == events[-1].id


@pytest.mark.django_db
@pytest.mark.parametrize("edit", ["head_hash", "row_count", "signature", "garbage", "unknown_kid"])
def test_a_forged_or_malformed_checkpoint_is_caught(checkpoint_dir, edit):
    make_events(2)
    call_command("audit_checkpoint")
    (path,) = checkpoint_dir.glob("checkpoint-*.json")
    fields = json.loads(path.read_text())
    if edit == "head_hash":
        fields["head_hash"] = "0" * 64
    elif edit == "row_count":
        fields["row_count"] += 1
    elif edit == "signature":
        fields["signature"] = "f" * 64
    elif edit == "unknown_kid":
        fields["key_id"] = "elsewhere"
    path.write_text("{not json" if edit == "garbage" else json.dumps(fields))
    report = chain_verify()
    assert report.problem == ChainProblem.CHECKPOINT_INVALID
    assert "was not written by certadmin" in report.message


@pytest.mark.django_db
def test_a_checkpoint_is_never_overwritten(checkpoint_dir):
    events = make_events(1)
    checkpoint = checkpoint_sign(
        head_id=events[0].id,
        head_hash=events[0].entry_hash,
        row_count=1,
        created_at=events[0].created_at,
        key=django_settings.AUDIT_SIGNING_KEY,
    )
    path = checkpoint_write(checkpoint=checkpoint, directory=checkpoint_dir)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="never replaced"):
        checkpoint_write(checkpoint=checkpoint, directory=checkpoint_dir)
    assert path.read_bytes() == before
    assert [p.name for p in checkpoint_dir.iterdir()] == [path.name]


@pytest.mark.django_db
def test_the_checkpoint_command_refuses_to_sign_a_broken_chain(checkpoint_dir):
    events = make_events(2)
    tamper("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [events[0].id])
    with pytest.raises(CommandError, match="no checkpoint written"):
        call_command("audit_checkpoint")
    assert not checkpoint_dir.exists() or not list(checkpoint_dir.iterdir())


@pytest.mark.django_db
def test_verify_warns_when_no_checkpoint_anchors_the_chain(capsys):
    make_events(1)
    call_command("audit_verify")
    assert "No signed checkpoint found" in capsys.readouterr().out
