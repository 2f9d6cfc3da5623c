"""Signed checkpoints of the audit chain, kept outside the database.

A checkpoint says "on <time>, row <head_id> was the head, its hash was <head_hash>, and the
chain held <row_count> rows", signed with the audit signing key (Ed25519, see
``certadmin.audit.signing``; its kid is in the file). ``manage.py audit_checkpoint`` writes one
file per checkpoint into the directory the operator configures
(``CERTADMIN_AUDIT_CHECKPOINT_DIR``), atomically and never over an existing file, and records it
in the trail as an event; ``audit_verify`` checks the chain against every one with the public
keys only. Someone who can write to the database but not to that directory, and does not hold
the signing key, can then neither remove the newest rows nor rewrite the chain up to a
checkpoint without ``audit_verify`` saying so; and since holding the chain's HMAC keys does not
let anyone sign, neither can a verifier.

Version 1 checkpoints were HMAC'd with a chain key, which every verifier holds: they are still
read and checked (a mismatch still fails), but they prove nothing against a key holder, so they
never count as the checkpoint that covers a row or stands for a recorded one.
"""

import hashlib
import hmac
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from certadmin.audit.signing import SigningKey, signature_make, signature_ok

VERSION = 2
LEGACY_VERSION = 1  # HMAC-SHA-256 under a chain key
PATTERN = "checkpoint-*.json"
# A checkpoint signature is never a row hash, nor a signature of the other version.
_DOMAINS = {
    LEGACY_VERSION: b"certadmin audit checkpoint v1\n",
    VERSION: b"certadmin audit checkpoint v2\n",
}
# The detail of the event that records a checkpoint in the trail (English, like every detail).
_EVENT_DETAIL = re.compile(
    r"checkpoint (?P<name>\S+); head (?P<head_id>\d+) hash (?P<head_hash>[0-9a-f]{64}); "
    r"rows (?P<row_count>\d+)"
)


class CheckpointError(Exception):
    """A checkpoint cannot be written (no directory configured, or the file exists)."""


@dataclass(frozen=True)
class Checkpoint:
    """One signed statement about the chain head. ``signature`` covers every other field."""

    head_id: int
    head_hash: str
    row_count: int
    created_at: str
    key_id: str
    signature: str = ""
    version: int = VERSION

    def signed_bytes(self) -> bytes:
        fields = asdict(self)
        del fields["signature"]
        return (
            _DOMAINS[self.version]
            + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
        )

    @property
    def legacy(self) -> bool:
        """An HMAC'd version 1 checkpoint: anyone holding the chain key could have written it."""
        return self.version == LEGACY_VERSION


def checkpoint_sign(
    *, head_id: int, head_hash: str, row_count: int, created_at: datetime, key: SigningKey
) -> Checkpoint:
    """A checkpoint of the given head, signed with the audit signing key."""
    unsigned = Checkpoint(
        head_id=head_id,
        head_hash=head_hash,
        row_count=row_count,
        created_at=created_at.isoformat(timespec="seconds"),
        key_id=key.key_id,
    )
    signature = signature_make(unsigned.signed_bytes(), key=key)
    return Checkpoint(**{**asdict(unsigned), "signature": signature})


def checkpoint_signature_ok(
    checkpoint: Checkpoint,
    *,
    public_keys: Mapping[str, Ed25519PublicKey],
    keys: Mapping[str, bytes],
) -> bool:
    """True when the signature verifies under the key the checkpoint names: a version 2
    checkpoint's Ed25519 signature under a trusted public key, a version 1 checkpoint's HMAC
    under a configured chain key (``keys``)."""
    if not checkpoint.legacy:
        return signature_ok(
            checkpoint.signed_bytes(),
            signature=checkpoint.signature,
            key_id=checkpoint.key_id,
            public_keys=public_keys,
        )
    key = keys.get(checkpoint.key_id)
    if key is None:
        return False
    expected = hmac.new(key, checkpoint.signed_bytes(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, checkpoint.signature)


def checkpoint_file_name(checkpoint: Checkpoint) -> str:
    """The name ``checkpoint_write`` gives the checkpoint's file."""
    stamp = checkpoint.created_at.replace(":", "").replace("-", "").replace("+", "p")
    return f"checkpoint-{stamp}-{checkpoint.head_id}.json"


@dataclass(frozen=True)
class RecordedCheckpoint:
    """What the trail's event says about a checkpoint written to the directory."""

    name: str
    head_id: int
    head_hash: str
    row_count: int


def checkpoint_event_detail(checkpoint: Checkpoint) -> str:
    """The detail of the event that records ``checkpoint`` in the trail."""
    return (
        f"checkpoint {checkpoint_file_name(checkpoint)}; head {checkpoint.head_id} "
        f"hash {checkpoint.head_hash}; rows {checkpoint.row_count}"
    )


def checkpoint_event_parse(detail: str) -> RecordedCheckpoint | None:
    """The checkpoint an event's detail records, or None when it is not such a detail."""
    match = _EVENT_DETAIL.fullmatch(detail)
    if match is None:
        return None
    return RecordedCheckpoint(
        name=match["name"],
        head_id=int(match["head_id"]),
        head_hash=match["head_hash"],
        row_count=int(match["row_count"]),
    )


def checkpoint_write(*, checkpoint: Checkpoint, directory: Path) -> Path:
    """Write ``checkpoint`` as a new file in ``directory``: complete or absent, never replacing.

    The bytes go to a temporary file that is flushed to disk, then hard-linked under the final
    name (which fails if that name exists) and the temporary name removed.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    final = directory / checkpoint_file_name(checkpoint)
    data = json.dumps(asdict(checkpoint), sort_keys=True, indent=1).encode() + b"\n"
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".checkpoint-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, final)
        except FileExistsError:
            raise CheckpointError(f"{final.name} exists; checkpoints are never replaced") from None
    finally:
        os.unlink(temporary)
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)
    return final


def checkpoints_read(*, directory: Path) -> tuple[list[Checkpoint], list[str]]:
    """Every checkpoint file in ``directory``: the well-formed ones, and the names of the rest.

    Signatures are not checked here (see ``checkpoint_signature_ok``). A missing directory holds
    no checkpoints.
    """
    checkpoints, malformed = [], []
    if not directory.is_dir():
        return checkpoints, malformed
    for path in sorted(directory.glob(PATTERN)):
        try:
            fields = json.loads(path.read_bytes())
            checkpoint = Checkpoint(**fields)
            if not (
                type(checkpoint.head_id) is int
                and type(checkpoint.row_count) is int
                and isinstance(checkpoint.head_hash, str)
                and isinstance(checkpoint.signature, str)
                and isinstance(checkpoint.key_id, str)
                and checkpoint.version in _DOMAINS
                and type(checkpoint.version) is int
            ):
                raise TypeError
        except (OSError, ValueError, TypeError):
            malformed.append(path.name)
            continue
        checkpoints.append(checkpoint)
    return checkpoints, malformed
