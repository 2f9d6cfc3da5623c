"""Exports and checkpoints signed with Ed25519: a verifier holds only
public keys, so nothing it holds can forge them; an export archive is refused unless it is
exactly what certadmin writes."""

import base64
import hashlib
import hmac
import io
import json
import os
import secrets
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.urls import reverse

from certadmin.audit.checkpoints import Checkpoint, checkpoint_sign, checkpoint_write
from certadmin.audit.evidence_export import (
    LEGACY_EXPORT_FORMAT,
    SIGNATURE_FIELD,
    export_manifest_verify,
    manifest_signed_bytes,
)
from certadmin.audit.models import ChainProblem
from certadmin.audit.signing import (
    audit_public_keys_parse,
    audit_signing_key_parse,
    public_key_bytes,
    signature_make,
)
from certadmin.audit.verification import chain_verify
from tests.support.audit_events import make_event, make_events
from tests.support.production import serving_started

ROOT = Path(__file__).resolve().parents[2]
PRIVATE_HEX = "44" * 32
OTHER_PRIVATE_HEX = "55" * 32


@pytest.fixture
def signing_key(settings):
    """A signing key of the test's own, its public half the only trusted one."""
    key = audit_signing_key_parse("t1:" + PRIVATE_HEX)
    settings.AUDIT_SIGNING_KEY = key
    settings.AUDIT_PUBLIC_KEYS = audit_public_keys_parse("", signing_key=key)
    return key


@pytest.fixture
def public_keys_only(settings, signing_key):
    """What a verifier holds: the public key, no private key and no audit chain key."""
    public = base64.b64encode(public_key_bytes(signing_key.public_key)).decode()
    settings.AUDIT_SIGNING_KEY = None
    settings.AUDIT_KEYS = {}
    settings.AUDIT_PUBLIC_KEYS = audit_public_keys_parse(f"t1:{public}")


def _export(client_for, auditor) -> bytes:
    make_events(3)
    response = client_for(auditor).get(reverse("audit:export"))
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def _members(archive: bytes) -> tuple[bytes, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as unpacked:
        return unpacked.read("events.csv"), unpacked.read("manifest.json")


def _zip(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def _signed(manifest: dict, key) -> bytes:
    manifest = {k: v for k, v in manifest.items() if k != SIGNATURE_FIELD}
    manifest[SIGNATURE_FIELD] = signature_make(manifest_signed_bytes(manifest), key=key)
    return json.dumps(manifest).encode()


# --- the key pair from the environment --------------------------------------------------------


def test_keys_parse_from_hex_or_base64_and_errors_name_no_key_material():
    key = audit_signing_key_parse("s1:" + PRIVATE_HEX)
    raw = base64.b64encode(bytes.fromhex(PRIVATE_HEX)).decode()
    assert public_key_bytes(audit_signing_key_parse(f"s1:{raw}").public_key) == public_key_bytes(
        key.public_key
    )
    public = base64.urlsafe_b64encode(public_key_bytes(key.public_key)).decode().rstrip("=")
    other = audit_signing_key_parse("s0:" + OTHER_PRIVATE_HEX)
    trusted = audit_public_keys_parse(
        f"s0:{public_key_bytes(other.public_key).hex()}", signing_key=key
    )
    assert set(trusted) == {"s0", "s1"}  # the signing key's public half without listing it
    assert audit_public_keys_parse(f"s1:{public}", signing_key=key).keys() == {"s1"}
    assert audit_signing_key_parse("  ") is None
    for bad, reason in [
        ("s1:" + "44" * 31, "exactly 32 bytes"),
        ("s1", "kid:key"),
        ("bad kid:" + PRIVATE_HEX, "kid:key"),
        ("s1:%%%" + PRIVATE_HEX, "exactly 32 bytes"),
    ]:
        with pytest.raises(ValueError, match=reason) as refused:
            audit_signing_key_parse(bad)
        assert "4444" not in str(refused.value)
    with pytest.raises(ValueError, match="'s1' is not the public half of the signing key"):
        audit_public_keys_parse(f"s1:{public_key_bytes(other.public_key).hex()}", signing_key=key)
    with pytest.raises(ValueError, match="'s0' is given twice"):
        audit_public_keys_parse(f"s0:{public},s0:{public}")


def test_keygen_prints_a_pair_that_configures_signing_and_verifying(capsys):
    call_command("audit_signing_keygen", "--key-id", "sign-2027")
    out, err = capsys.readouterr()
    signing_line, public_line = out.splitlines()
    assert signing_line.startswith("CERTADMIN_AUDIT_SIGNING_KEY=sign-2027:")
    assert public_line.startswith("CERTADMIN_AUDIT_PUBLIC_KEYS=sign-2027:")
    key = audit_signing_key_parse(signing_line.partition("=")[2])
    listed = audit_public_keys_parse(public_line.partition("=")[2], signing_key=key)
    assert public_key_bytes(listed["sign-2027"]) == public_key_bytes(key.public_key)
    assert "keep it secret" in err
    with pytest.raises(CommandError, match="--key-id"):
        call_command("audit_signing_keygen", "--key-id", "no spaces")


def _serving_check(**env: str) -> subprocess.CompletedProcess:
    return serving_started(**{"CERTADMIN_AUDIT_KEYS": "k1:" + secrets.token_hex(32), **env})


@pytest.mark.slow
def test_production_refuses_to_serve_without_a_signing_key_or_with_the_demo_one():
    missing = _serving_check()
    assert missing.returncode != 0
    assert "CERTADMIN_AUDIT_SIGNING_KEY must be set" in missing.stderr
    demo_private = django_settings.DEV_AUDIT_SIGNING_KEY.partition(":")[2]
    demo = _serving_check(CERTADMIN_AUDIT_SIGNING_KEY=f"renamed:{demo_private}")
    assert "CERTADMIN_AUDIT_SIGNING_KEY must be set (not the demo key)" in demo.stderr
    assert demo_private not in demo.stderr
    malformed = _serving_check(CERTADMIN_AUDIT_SIGNING_KEY="s1:abcd")
    assert "CERTADMIN_AUDIT_SIGNING_KEY: audit signing key 's1' must be" in malformed.stderr
    good = _serving_check(CERTADMIN_AUDIT_SIGNING_KEY="s1:" + PRIVATE_HEX)
    assert good.returncode == 0, good.stderr


# --- exports ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_export_verifies_with_only_the_public_key(
    client_for, auditor, signing_key, settings, tmp_path, capsys
):
    archive = _export(client_for, auditor)
    _, manifest = _members(archive)
    assert json.loads(manifest)["format"] == "certadmin-audit-export/2"
    assert json.loads(manifest)["key_id"] == "t1"
    path = tmp_path / "export.zip"
    path.write_bytes(archive)
    public = base64.b64encode(public_key_bytes(signing_key.public_key)).decode()
    settings.AUDIT_SIGNING_KEY, settings.AUDIT_KEYS = None, {}
    settings.AUDIT_PUBLIC_KEYS = audit_public_keys_parse(f"t1:{public}")
    call_command("audit_export_verify", str(path))
    assert "export verified" in capsys.readouterr().out
    settings.AUDIT_PUBLIC_KEYS = {}
    with pytest.raises(CommandError, match="key 't1', which is not among the trusted public"):
        call_command("audit_export_verify", str(path))


@pytest.mark.django_db
def test_the_command_line_verifier_needs_nothing_but_the_public_keys(
    client_for, auditor, signing_key, tmp_path
):
    path = tmp_path / "export.zip"
    path.write_bytes(_export(client_for, auditor))
    public = base64.b64encode(public_key_bytes(signing_key.public_key)).decode()
    (tmp_path / "var").mkdir()
    environment = {
        "PATH": os.environ.get("PATH", ""),
        # Production settings (so no demo key of any kind), with no audit chain key, no signing
        # key: only the public key.
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIverifierOnly",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "unused",
        "CERTADMIN_AUDIT_PUBLIC_KEYS": f"t1:{public}",
        "CERTADMIN_VAR_DIR": str(tmp_path / "var"),
    }

    def verify(archive: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "audit_export_verify", str(archive)],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )

    passed = verify(path)
    assert passed.returncode == 0, passed.stderr
    assert "export verified" in passed.stdout
    events_csv, manifest = _members(path.read_bytes())
    tampered = tmp_path / "tampered.zip"
    tampered.write_bytes(
        _zip(("events.csv", events_csv.replace(b"OPS-1", b"OPS-2")), ("manifest.json", manifest))
    )
    refused = verify(tampered)
    assert refused.returncode == 1
    assert "events.csv does not match the SHA-256 in the manifest" in refused.stderr


@pytest.mark.django_db
def test_a_manifest_forged_with_the_audit_chain_key_is_refused(
    client_for, auditor, signing_key, settings
):
    events_csv, manifest_bytes = _members(_export(client_for, auditor))
    manifest = json.loads(manifest_bytes)
    chain_key = settings.AUDIT_KEYS[settings.AUDIT_KEY_ID]
    # The new format with an HMAC under the chain key where the signature goes.
    fields = {k: v for k, v in manifest.items() if k != SIGNATURE_FIELD}
    hmac_forged = {
        **fields,
        SIGNATURE_FIELD: hmac.new(chain_key, manifest_signed_bytes(fields), "sha256").hexdigest(),
    }
    assert export_manifest_verify(
        _zip(("events.csv", events_csv), ("manifest.json", json.dumps(hmac_forged).encode()))
    ) == (False, "the manifest's signature does not verify")
    # The old format, HMAC'd exactly as certadmin used to (anyone who can verify can make it).
    legacy = {
        **{k: v for k, v in fields.items() if k != "key_id"},
        "format": LEGACY_EXPORT_FORMAT,
        "key_id": settings.AUDIT_KEY_ID,
    }
    signed = (
        b"certadmin audit export v1\n"
        + json.dumps(legacy, sort_keys=True, separators=(",", ":")).encode()
    )
    legacy["hmac_sha256"] = hmac.new(chain_key, signed, hashlib.sha256).hexdigest()
    ok, why = export_manifest_verify(
        _zip(("events.csv", events_csv), ("manifest.json", json.dumps(legacy).encode()))
    )
    assert not ok
    assert why == (
        "the manifest is in format certadmin-audit-export/1, HMAC'd with an audit chain key "
        "that every verifier holds: it proves nothing, so it is not verified"
    )
    # Another Ed25519 key under the trusted kid.
    other = audit_signing_key_parse("t1:" + OTHER_PRIVATE_HEX)
    assert export_manifest_verify(
        _zip(("events.csv", events_csv), ("manifest.json", _signed(manifest, other)))
    ) == (False, "the manifest's signature does not verify")


@pytest.mark.django_db
def test_a_tampered_csv_or_a_wrong_row_count_is_refused(client_for, auditor, signing_key):
    events_csv, manifest_bytes = _members(_export(client_for, auditor))
    manifest = json.loads(manifest_bytes)
    assert export_manifest_verify(
        _zip(("events.csv", events_csv), ("manifest.json", manifest_bytes))
    ) == (True, "")
    assert export_manifest_verify(
        _zip(("events.csv", events_csv + b"9,forged\r\n"), ("manifest.json", manifest_bytes))
    ) == (False, "events.csv does not match the SHA-256 in the manifest")
    # Only the signing key could state a wrong count; the verifier still counts.
    miscounted = _signed({**manifest, "rows": manifest["rows"] + 1}, signing_key)
    assert export_manifest_verify(
        _zip(("events.csv", events_csv), ("manifest.json", miscounted))
    ) == (
        False,
        f"events.csv holds {manifest['rows']} rows but the manifest states {manifest['rows'] + 1}",
    )


def _repeated_key(manifest_bytes: bytes, where: str) -> bytes:
    """The manifest's text with one key given twice: first a forged value, then the genuine
    one (which a plain JSON reader keeps)."""
    text = manifest_bytes.decode()
    if where == "top":
        return text.replace("{", '{"rows": 999, ', 1).encode()
    marker = '"events_csv": {'
    assert marker in text
    return text.replace(marker, marker + f'"sha256": "{"0" * 64}", ', 1).encode()


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile writes them, and says so
@pytest.mark.parametrize(
    ("variant", "reason"),
    [
        ("duplicate_events", "the archive holds events.csv 2 times"),
        ("duplicate_manifest", "the archive holds manifest.json 2 times"),
        (
            "extra_member",
            'the archive holds other members than events.csv and manifest.json: "notes.txt"',
        ),
        (
            "directory_member",
            'the archive holds other members than events.csv and manifest.json: "evidence/"',
        ),
        ("missing_events", "the archive holds no events.csv"),
        ("prefixed", "the archive has data before its first member"),
        ("repeated_key", 'manifest.json names the key "rows" more than once'),
        ("repeated_nested_key", 'manifest.json names the key "sha256" more than once'),
        ("not_an_object", "manifest.json is not a JSON object"),
        ("utf16_manifest", "manifest.json is not UTF-8 JSON"),
        ("not_a_zip", "not a ZIP archive"),
    ],
)
def test_an_ambiguous_archive_is_refused(client_for, auditor, signing_key, variant, reason):
    genuine = _export(client_for, auditor)
    events_csv, manifest = _members(genuine)
    forged_csv = events_csv.replace(b"OPS-1", b"OPS-2")
    archive = {
        "duplicate_events": lambda: _zip(
            ("events.csv", forged_csv), ("events.csv", events_csv), ("manifest.json", manifest)
        ),
        "duplicate_manifest": lambda: _zip(
            ("events.csv", events_csv), ("manifest.json", b"{}"), ("manifest.json", manifest)
        ),
        "extra_member": lambda: _zip(
            ("events.csv", events_csv), ("manifest.json", manifest), ("notes.txt", b"x")
        ),
        "directory_member": lambda: _zip(
            ("evidence/", b""), ("events.csv", events_csv), ("manifest.json", manifest)
        ),
        "missing_events": lambda: _zip(("manifest.json", manifest)),
        "prefixed": lambda: _zip(("events.csv", forged_csv)) + genuine,
        "repeated_key": lambda: _zip(
            ("events.csv", events_csv), ("manifest.json", _repeated_key(manifest, "top"))
        ),
        "repeated_nested_key": lambda: _zip(
            ("events.csv", events_csv), ("manifest.json", _repeated_key(manifest, "nested"))
        ),
        "not_an_object": lambda: _zip(("events.csv", events_csv), ("manifest.json", b"[1]")),
        "utf16_manifest": lambda: _zip(
            ("events.csv", events_csv), ("manifest.json", manifest.decode().encode("utf-16"))
        ),
        "not_a_zip": lambda: b"events.csv,manifest.json",
    }[variant]()
    assert export_manifest_verify(archive) == (False, reason)


@pytest.mark.django_db
def test_an_export_is_not_made_without_a_signing_key(client_for, auditor, settings):
    make_event()
    settings.AUDIT_SIGNING_KEY = None
    response = client_for(auditor).get(reverse("audit:export"))
    assert response.status_code == 503
    assert b"no audit signing key is configured" in response.content
    assert not response.has_header("Content-Disposition")


# --- checkpoints ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_checkpoint_verifies_with_only_the_public_key(signing_key, checkpoint_dir, settings):
    make_events(2)
    call_command("audit_checkpoint")
    public = base64.b64encode(public_key_bytes(signing_key.public_key)).decode()
    settings.AUDIT_SIGNING_KEY = None
    settings.AUDIT_PUBLIC_KEYS = audit_public_keys_parse(f"t1:{public}")
    report = chain_verify()  # the rows still need the chain key, the checkpoint does not
    assert report.ok
    assert report.checkpoints == 1
    settings.AUDIT_PUBLIC_KEYS = {}
    assert chain_verify().problem == ChainProblem.CHECKPOINT_INVALID


@pytest.mark.django_db
def test_a_checkpoint_forged_with_the_audit_chain_key_is_refused(
    signing_key, checkpoint_dir, settings
):
    events = make_events(2)
    chain_key = settings.AUDIT_KEYS[settings.AUDIT_KEY_ID]
    unsigned = Checkpoint(
        head_id=events[-1].id,
        head_hash=events[-1].entry_hash,
        row_count=2,
        created_at="2026-12-05T00:00:00+00:00",
        key_id="t1",
    )
    forged = Checkpoint(
        **{
            **unsigned.__dict__,
            "signature": hmac.new(chain_key, unsigned.signed_bytes(), "sha256").hexdigest(),
        }
    )
    checkpoint_write(checkpoint=forged, directory=checkpoint_dir)
    report = chain_verify()
    assert report.problem == ChainProblem.CHECKPOINT_INVALID
    assert "was not written by certadmin" in report.message


@pytest.mark.django_db
def test_the_checkpoint_command_needs_the_signing_key(checkpoint_dir, settings):
    make_events(1)
    settings.AUDIT_SIGNING_KEY = None
    with pytest.raises(CommandError, match="Set CERTADMIN_AUDIT_SIGNING_KEY"):
        call_command("audit_checkpoint")
    assert not checkpoint_dir.exists()


@pytest.mark.django_db
def test_a_checkpoint_signature_covers_every_field(signing_key, checkpoint_dir):
    events = make_events(1)
    checkpoint = checkpoint_sign(
        head_id=events[0].id,
        head_hash=events[0].entry_hash,
        row_count=1,
        created_at=events[0].created_at,
        key=signing_key,
    )
    path = checkpoint_write(checkpoint=checkpoint, directory=checkpoint_dir)
    assert chain_verify().ok
    fields = json.loads(path.read_text())
    path.write_text(json.dumps({**fields, "created_at": "2030-01-01T00:00:00+00:00"}))
    assert chain_verify().problem == ChainProblem.CHECKPOINT_INVALID
