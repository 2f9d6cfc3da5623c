"""Checking the audit chain: every row's keyed hash, every row's link to the one before it, and
the chain against every signed checkpoint kept outside the database."""

from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path

from django.conf import settings

from certadmin.audit.chain import (
    CHAIN_FIELDS,
    GENESIS_HASH,
    AuditKeyUnknownError,
    ChainReport,
    row_hash,
)
from certadmin.audit.checkpoints import Checkpoint, checkpoint_signature_ok, checkpoints_read
from certadmin.audit.models import AuditEvent, ChainProblem

_PREV_HASH = CHAIN_FIELDS.index("prev_hash")
_KEY_ID = CHAIN_FIELDS.index("key_id")


def chain_verify(
    *,
    batch_size: int = 10_000,
    expect_head: str = "",
    checkpoint_dir: Path | str | None = None,
    keys: Mapping[str, bytes] | None = None,
) -> ChainReport:
    """Walk the whole chain in id order, in keyset batches of plain tuples (constant memory).

    Stops at the first broken row. Every row must carry a valid hash under the key it names
    (unkeyed legacy rows only before the first keyed one). Every checkpoint in
    ``checkpoint_dir`` (default: the ``AUDIT_CHECKPOINT_DIR`` setting) must be validly signed and
    match the chain: its head row present with its hash, and that many rows up to it. With
    ``expect_head`` (a head hash kept elsewhere earlier), the chain must still contain that row.
    """
    keys = settings.AUDIT_KEYS if keys is None else keys
    if checkpoint_dir is None:
        checkpoint_dir = settings.AUDIT_CHECKPOINT_DIR
    checkpoints, malformed = (
        checkpoints_read(directory=Path(checkpoint_dir)) if checkpoint_dir else ([], [])
    )
    if malformed or not all(checkpoint_signature_ok(c, keys=keys) for c in checkpoints):
        return ChainReport(
            ok=False,
            checked=0,
            head_id=None,
            head_hash="",
            expected_head=expect_head,
            problem=ChainProblem.CHECKPOINT_INVALID,
            checkpoints=len(checkpoints) + len(malformed),
        )
    by_head: dict[int, list[Checkpoint]] = defaultdict(list)
    for checkpoint in checkpoints:
        by_head[checkpoint.head_id].append(checkpoint)

    checked = 0
    previous_id: int | None = None
    previous_hash = GENESIS_HASH
    keyed_seen = False
    anchor_seen = not expect_head
    problem, first_broken_id = "", None
    for row_id, values, entry_hash in _rows_in_chain_order(batch_size=batch_size):
        checked += 1
        key_id = values[_KEY_ID]
        try:
            edited = row_hash(values, keys=keys) != entry_hash
        except AuditKeyUnknownError:
            problem = ChainProblem.KEY_UNKNOWN
        else:
            if keyed_seen and not key_id:
                problem = ChainProblem.UNKEYED
            elif edited:
                problem = ChainProblem.EDITED
            elif values[_PREV_HASH] != previous_hash:
                problem = (
                    ChainProblem.FIRST_UNLINKED if previous_id is None else ChainProblem.UNLINKED
                )
            elif any(
                c.head_hash != entry_hash or c.row_count != checked for c in by_head.pop(row_id, ())
            ):
                problem = ChainProblem.CHECKPOINT_MISMATCH
        if problem:
            first_broken_id = row_id
            break
        keyed_seen = keyed_seen or bool(key_id)
        anchor_seen = anchor_seen or entry_hash == expect_head
        previous_id, previous_hash = row_id, entry_hash
    if not problem and by_head:
        # A checkpointed row the walk never reached: the rows from there on were removed.
        problem, first_broken_id = ChainProblem.CHECKPOINT_MISSING_ROW, min(by_head)
    if not problem and not anchor_seen:
        problem = ChainProblem.ANCHOR_MISSING
    return ChainReport(
        ok=not problem,
        checked=checked,
        head_id=previous_id,
        head_hash=previous_hash if previous_id is not None else "",
        expected_head=expect_head,
        problem=problem,
        first_broken_id=first_broken_id,
        # The row before the broken one; a missing anchor names no row.
        previous_id=previous_id if first_broken_id is not None else None,
        checkpoints=len(checkpoints),
    )


def _rows_in_chain_order(*, batch_size: int) -> Iterator[tuple[int, tuple, str]]:
    """``(id, values in CHAIN_FIELDS order, entry_hash)`` by ascending id, in keyset batches."""
    last_id = 0
    rows = AuditEvent.objects.order_by("id").values_list("id", *CHAIN_FIELDS, "entry_hash")
    while batch := list(rows.filter(id__gt=last_id)[:batch_size]):
        for row in batch:
            yield row[0], row[1:-1], row[-1]
        last_id = batch[-1][0]
