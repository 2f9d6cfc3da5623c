"""Checking the audit chain: every row's keyed hash, every row's link to the one before it, and
the chain against every signed checkpoint kept outside the database."""

from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet

from certadmin.audit.chain import (
    CHAIN_FIELDS,
    GENESIS_HASH,
    AuditKeyUnknownError,
    ChainReport,
    TextRowHasher,
    created_at_text,
    row_hash,
)
from certadmin.audit.checkpoints import Checkpoint, checkpoint_signature_ok, checkpoints_read
from certadmin.audit.models import AuditEvent, ChainProblem
from certadmin.audit.selectors import utc_time_text

_PREV_HASH = CHAIN_FIELDS.index("prev_hash")
_KEY_ID = CHAIN_FIELDS.index("key_id")
_CREATED_AT = CHAIN_FIELDS.index("created_at")


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

    hash_of = TextRowHasher(keys)
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
            edited = hash_of(values) != entry_hash and _edited(row_id, keys)
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
            elif row_id in by_head and any(
                c.head_hash != entry_hash or c.row_count != checked for c in by_head.pop(row_id)
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


def _edited(row_id: int, keys: Mapping[str, bytes]) -> bool:
    """Whether a row whose hash did not match over the time as the database wrote it out really
    was edited: checked again over the time as Django reads it (so that a database printing a
    time otherwise than Python never makes an intact row look edited)."""
    values, entry_hash = _row_read(row_id)
    return row_hash(values, keys=keys) != entry_hash


def _row_read(row_id: int) -> tuple[tuple, str]:
    row = AuditEvent.objects.values_list(*CHAIN_FIELDS, "entry_hash").get(id=row_id)
    return row[:-1], row[-1]


def _chain_values() -> tuple[QuerySet, bool]:
    """Every row as ``id``, its ``CHAIN_FIELDS``, ``entry_hash``, by ascending id; and whether
    ``created_at`` comes as its text (else as a datetime, on a database that cannot)."""
    events = AuditEvent.objects.order_by("id")
    created_at = utc_time_text("created_at")
    if created_at is None:
        return events.values_list("id", *CHAIN_FIELDS, "entry_hash"), False
    fields = [created_at if name == "created_at" else name for name in CHAIN_FIELDS]
    return events.values_list("id", *fields, "entry_hash"), True


def _rows_in_chain_order(*, batch_size: int) -> Iterator[tuple[int, tuple, str]]:
    """``(id, values in CHAIN_FIELDS order with created_at as its text, entry_hash)`` by
    ascending id, in keyset batches."""
    last_id = 0
    rows, as_text = _chain_values()
    while batch := list(rows.filter(id__gt=last_id)[:batch_size]):
        if as_text:
            for row in batch:
                yield row[0], row[1:-1], row[-1]
        else:
            for row in batch:
                values = list(row[1:-1])
                values[_CREATED_AT] = created_at_text(values[_CREATED_AT])
                yield row[0], tuple(values), row[-1]
        last_id = batch[-1][0]
