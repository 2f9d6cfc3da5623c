"""Signed checkpoints of the audit chain, kept outside the database.

A checkpoint says "on <time>, row <head_id> was the head, its hash was <head_hash>, and the
chain held <row_count> rows", signed with HMAC-SHA-256 under an audit key (its kid is in the
file). ``manage.py audit_checkpoint`` writes one file per checkpoint into the directory the
operator configures (``CERTADMIN_AUDIT_CHECKPOINT_DIR``), atomically and never over an existing
file; ``audit_verify`` checks the chain against every one. Someone who can write to the database
but not to that directory, and does not hold the key, can then neither remove the newest rows
nor rewrite the chain up to a checkpoint without ``audit_verify`` saying so.
"""

import hashlib
import hmac
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

VERSION = 1
PATTERN = "checkpoint-*.json"
_DOMAIN = b"certadmin audit checkpoint v1\n"  # a checkpoint signature is never a row hash


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
        return _DOMAIN + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def checkpoint_sign(
    *, head_id: int, head_hash: str, row_count: int, created_at: datetime, key_id: str, key: bytes
) -> Checkpoint:
    """A checkpoint of the given head, signed with ``key`` (whose id is ``key_id``)."""
    unsigned = Checkpoint(
        head_id=head_id,
        head_hash=head_hash,
        row_count=row_count,
        created_at=created_at.isoformat(timespec="seconds"),
        key_id=key_id,
    )
    signature = hmac.new(key, unsigned.signed_bytes(), hashlib.sha256).hexdigest()
    return Checkpoint(**{**asdict(unsigned), "signature": signature})


def checkpoint_signature_ok(checkpoint: Checkpoint, *, keys: Mapping[str, bytes]) -> bool:
    """True when the signature verifies under the configured key the checkpoint names."""
    key = keys.get(checkpoint.key_id)
    if key is None:
        return False
    expected = hmac.new(key, checkpoint.signed_bytes(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, checkpoint.signature)


def checkpoint_write(*, checkpoint: Checkpoint, directory: Path) -> Path:
    """Write ``checkpoint`` as a new file in ``directory``: complete or absent, never replacing.

    The bytes go to a temporary file that is flushed to disk, then hard-linked under the final
    name (which fails if that name exists) and the temporary name removed.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = checkpoint.created_at.replace(":", "").replace("-", "").replace("+", "p")
    final = directory / f"checkpoint-{stamp}-{checkpoint.head_id}.json"
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
                and checkpoint.version == VERSION
            ):
                raise TypeError
        except (OSError, ValueError, TypeError):
            malformed.append(path.name)
            continue
        checkpoints.append(checkpoint)
    return checkpoints, malformed
