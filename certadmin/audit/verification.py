"""Checking the audit chain: every row's keyed hash, every row's link to the one before it, and
the chain against every signed checkpoint kept outside the database: each checkpoint file must
be validly signed and match the chain, each checkpoint the trail records must still be there,
and no row may wait longer than the configured maximum age for a checkpoint."""

import functools
import itertools
import multiprocessing
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db import connection, connections
from django.db.models import Max, Min, QuerySet
from django.utils import timezone

from certadmin.audit.checkpoints import (
    Checkpoint,
    checkpoint_event_parse,
    checkpoint_signature_ok,
    checkpoints_read,
)
from certadmin.audit.hash_chain import (
    CHAIN_FIELDS,
    GENESIS_HASH,
    WALK_FIELDS,
    AuditKeyUnknownError,
    ChainReport,
    RedactableTextCheck,
    TextRowHasher,
    created_at_text,
    redaction_target,
    row_hash,
)
from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome, ChainProblem
from certadmin.audit.selectors import utc_time_text

_PREV_HASH = CHAIN_FIELDS.index("prev_hash")
_KEY_ID = CHAIN_FIELDS.index("key_id")
_CREATED_AT = CHAIN_FIELDS.index("created_at")

# Below this many rows, starting processes for a parallel walk costs more than it saves.
PARALLEL_MIN_ROWS = 100_000
# What `manage.py audit_verify` uses: a process per core, at most four (the database needs
# its share of the cores too).
DEFAULT_WORKERS = min(os.cpu_count() or 1, 4)


def chain_verify(
    *,
    batch_size: int = 10_000,
    expect_head: str = "",
    checkpoint_dir: Path | str | None = None,
    keys: Mapping[str, bytes] | None = None,
    public_keys: Mapping[str, Ed25519PublicKey] | None = None,
    checkpoint_max_age: timedelta | None = None,
    workers: int = 1,
    parallel_min_rows: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ChainReport:
    """Walk the whole chain in id order, in keyset batches of plain tuples (constant memory).

    Every row, whatever its id: the dashboard shows every row, and a row with an id below 1
    (which the database never assigns) is itself a broken row. Stops at the first broken row.
    Every row must carry a valid hash under the key it names; unkeyed legacy rows only up to
    the ``AUDIT_UNKEYED_UP_TO`` setting and before the first keyed row, and a trail with rows
    must have a keyed one (else the whole chain was rewritten without the key). Every
    checkpoint in
    ``checkpoint_dir`` (default: the ``AUDIT_CHECKPOINT_DIR`` setting) must be validly signed
    (under ``public_keys``, default the ``AUDIT_PUBLIC_KEYS`` setting) and match the chain: its
    head row present with its hash, and that many rows up to it. With a checkpoint directory,
    every checkpoint the trail records must be in it, and no row may be older than
    ``checkpoint_max_age`` (default the ``AUDIT_CHECKPOINT_MAX_AGE`` setting; zero: no limit)
    without a checkpoint at or after it. With ``expect_head`` (a head hash kept elsewhere
    earlier), the chain must still contain that row.
    ``progress`` is called with the number of rows checked so far after each batch of the
    sequential walk (and once after a parallel walk); an exception it raises ends the walk.
    """
    keys = settings.AUDIT_KEYS if keys is None else keys
    public_keys = settings.AUDIT_PUBLIC_KEYS if public_keys is None else public_keys
    if checkpoint_dir is None:
        checkpoint_dir = settings.AUDIT_CHECKPOINT_DIR
    if checkpoint_max_age is None:
        checkpoint_max_age = settings.AUDIT_CHECKPOINT_MAX_AGE
    checkpoints, malformed = (
        checkpoints_read(directory=Path(checkpoint_dir)) if checkpoint_dir else ([], [])
    )
    if malformed or not all(
        checkpoint_signature_ok(c, public_keys=public_keys, keys=keys) for c in checkpoints
    ):
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

    state = _WalkState(anchor_seen=not expect_head)
    walk = _Walk(
        keys=keys,
        expect_head=expect_head,
        by_head=by_head,
        unkeyed_up_to=settings.AUDIT_UNKEYED_UP_TO,
    )
    after_id = None
    if workers > 1:
        after_id = _walk_in_parallel(
            walk,
            state,
            workers=workers,
            min_rows=PARALLEL_MIN_ROWS if parallel_min_rows is None else parallel_min_rows,
            batch_size=batch_size,
        )
    if not state.problem:
        # Sequentially from there: every row when not in parallel, else the rows appended
        # since the parallel walk took its bounds.
        rows = _rows_in_chain_order(batch_size=batch_size, after_id=after_id)
        if progress is not None:
            progress(state.checked)
            rows = _rows_reported(rows, state=state, every=batch_size, progress=progress)
        walk.run(state, rows)
    problem, first_broken_id = state.problem, state.first_broken_id
    if not problem and by_head:
        # A checkpointed row the walk never reached: the rows from there on were removed.
        problem, first_broken_id = ChainProblem.CHECKPOINT_MISSING_ROW, min(by_head)
    if not problem and state.checked and not state.keyed_seen:
        # Legacy rows only: the keyed rows after them were removed, or every row was rewritten
        # as a legacy one (below the boundary, each still verifies on its own).
        problem = ChainProblem.NO_KEYED_ROW
    if not problem and checkpoint_dir:
        problem, first_broken_id = _checkpoints_kept(
            checkpoints, head_id=state.previous_id, max_age=checkpoint_max_age, now=timezone.now()
        )
    if not problem and not state.anchor_seen:
        problem = ChainProblem.ANCHOR_MISSING
    previous_id = state.previous_id
    return ChainReport(
        ok=not problem,
        checked=state.checked,
        head_id=previous_id,
        head_hash=state.previous_hash if previous_id is not None else "",
        expected_head=expect_head,
        problem=problem,
        first_broken_id=first_broken_id,
        # The row before the broken one; a missing anchor or checkpoint names no such row.
        previous_id=previous_id
        if first_broken_id is not None and problem in _ROW_PROBLEMS
        else None,
        checkpoints=len(checkpoints),
    )


def _rows_reported(
    rows: Iterable[tuple[int, tuple, str]],
    *,
    state: "_WalkState",
    every: int,
    progress: Callable[[int], None],
) -> Iterator[tuple[int, tuple, str]]:
    """``rows``, calling ``progress(state.checked)`` once the walk has checked each ``every``
    of them (asked for the next row, it has checked the one before)."""
    for count, row in enumerate(rows, 1):
        yield row
        if count % every == 0:
            progress(state.checked)


# The problems found at a row by walking up to it: the report names the row before it too.
_ROW_PROBLEMS = frozenset(ChainProblem) - {
    ChainProblem.CHECKPOINT_ABSENT,
    ChainProblem.CHECKPOINT_OVERDUE,
}


def _checkpoints_kept(
    checkpoints: list[Checkpoint], *, head_id: int | None, max_age: timedelta, now: datetime
) -> tuple[str, int | None]:
    """A checkpoint that should be in the directory and is not, once the walk has verified
    every row up to ``head_id`` (so the rows read here are the chain's own): the problem and
    the row it concerns, or ``("", None)``.

    Every checkpoint event in the trail (``audit_checkpoint`` appends one after writing each
    file) must have its version 2 checkpoint among ``checkpoints``; and the oldest row after the
    newest version 2 checkpoint's head (every row, with none) must be younger than ``max_age``.
    Version 1 (HMAC) checkpoints count for neither: a chain key holder could have made them.
    """
    if head_id is None:
        return "", None
    signed = {(c.head_id, c.head_hash) for c in checkpoints if not c.legacy}
    recorded = (
        AuditEvent.objects.filter(action=AuditAction.CHAIN_CHECKPOINT, id__lte=head_id)
        .order_by("id")
        .values_list("id", "detail")
    )
    for event_id, detail in recorded.iterator():
        checkpoint = checkpoint_event_parse(detail)
        if checkpoint is None or (checkpoint.head_id, checkpoint.head_hash) not in signed:
            return ChainProblem.CHECKPOINT_ABSENT, event_id
    if max_age:
        uncovered = AuditEvent.objects.filter(id__lte=head_id)
        newest = max((head for head, _ in signed), default=None)
        if newest is not None:
            uncovered = uncovered.filter(id__gt=newest)
        oldest = uncovered.order_by("id").values_list("id", "created_at").first()
        if oldest is not None and oldest[1] < now - max_age:
            return ChainProblem.CHECKPOINT_OVERDUE, oldest[0]
    return "", None


@dataclass
class _WalkState:
    """Where a walk in chain order stands: the last row that verified and what came before."""

    checked: int = 0
    previous_id: int | None = None
    previous_hash: str = GENESIS_HASH
    keyed_seen: bool = False
    anchor_seen: bool = False
    problem: str = ""
    first_broken_id: int | None = None


@dataclass
class _Walk:
    """The checks of one row against the rows before it, in chain order."""

    keys: Mapping[str, bytes]
    expect_head: str
    by_head: dict[int, list[Checkpoint]]
    # The last id of the legacy unkeyed rows (None: there are none).
    unkeyed_up_to: int | None = None

    def run(self, state: _WalkState, rows: Iterable[tuple[int, tuple, str]]) -> None:
        """Check ``rows`` (in id order, the first following ``state``'s last row), advancing
        ``state``; stop at the first broken row, recorded in ``state``."""
        hash_of = TextRowHasher(self.keys)
        texts_problem = RedactableTextCheck(self.keys, recorded=_redaction_recorded)
        for row_id, values, entry_hash in rows:
            state.checked += 1
            key_id = values[_KEY_ID]
            problem = ""
            try:
                edited = hash_of(values) != entry_hash and _edited(row_id, self.keys)
            except AuditKeyUnknownError:
                problem = ChainProblem.KEY_UNKNOWN
            else:
                if state.keyed_seen and not key_id:
                    problem = ChainProblem.UNKEYED
                elif not key_id and not _legacy(row_id, self.unkeyed_up_to):
                    problem = ChainProblem.UNKEYED_NOT_LEGACY
                elif edited:
                    problem = ChainProblem.EDITED
                elif texts := texts_problem(row_id, values):
                    problem = texts
                elif values[_PREV_HASH] != state.previous_hash:
                    problem = (
                        ChainProblem.FIRST_UNLINKED
                        if state.previous_id is None
                        else ChainProblem.UNLINKED
                    )
                elif row_id in self.by_head and any(
                    c.head_hash != entry_hash or c.row_count != state.checked
                    for c in self.by_head.pop(row_id)
                ):
                    problem = ChainProblem.CHECKPOINT_MISMATCH
            if row_id <= 0:
                # Whatever else is wrong with it: the database never numbers a row so.
                problem = ChainProblem.ID_NOT_POSITIVE
            if problem:
                state.problem, state.first_broken_id = problem, row_id
                return
            state.keyed_seen = state.keyed_seen or bool(key_id)
            state.anchor_seen = state.anchor_seen or entry_hash == self.expect_head
            state.previous_id, state.previous_hash = row_id, entry_hash


# --- The parallel walk ---------------------------------------------------------------------------
# Each row's hash covers its own stored prev_hash, so every row can be checked on its own and
# every link by comparing neighbours: the id range is cut into segments, each checked by a
# process of its own, and the segments are joined in order. A segment that is not plainly
# intact given the rows before it (a bad hash, a broken link inside it or at its start, an
# unkeyed row after a keyed one or beyond the legacy rows, an id below 1, a checkpoint that
# does not match) is walked again sequentially from the state before it, so the report is
# exactly the sequential walk's.


@dataclass
class _Segment:
    """What a process found in the rows ``after_id < id <= up_to_id``, knowing nothing of the
    rows before them."""

    after_id: int
    up_to_id: int
    count: int = 0
    # Every hash right, every link inside right, every id above 0, unkeyed rows only legacy
    # ones and none after a keyed one.
    intact: bool = True
    first_prev_hash: str = ""
    last_id: int | None = None
    last_hash: str = ""
    has_keyed: bool = False
    has_unkeyed: bool = False
    anchor_seen: bool = False
    # Checkpointed rows in the segment: id -> (entry_hash, rows up to it within the segment).
    heads: dict[int, tuple[str, int]] = field(default_factory=dict)


def _segment_check(
    segment: _Segment,
    *,
    keys: Mapping[str, bytes],
    expect_head: str,
    head_ids: frozenset[int],
    unkeyed_up_to: int | None,
) -> _Segment:
    hash_of = TextRowHasher(keys)
    texts_problem = RedactableTextCheck(keys, recorded=_redaction_recorded)
    keyed_seen = False
    previous_hash = None
    rows = _rows_in_chain_order(
        batch_size=10_000, after_id=segment.after_id, up_to_id=segment.up_to_id
    )
    for row_id, values, entry_hash in rows:
        segment.count += 1
        key_id = values[_KEY_ID]
        if previous_hash is None:
            segment.first_prev_hash = values[_PREV_HASH]
        elif values[_PREV_HASH] != previous_hash:
            segment.intact = False
        if key_id:
            keyed_seen = segment.has_keyed = True
        else:
            segment.has_unkeyed = True
            segment.intact = segment.intact and not keyed_seen and _legacy(row_id, unkeyed_up_to)
        segment.intact = segment.intact and row_id > 0
        try:
            segment.intact = (
                segment.intact
                and hash_of(values) == entry_hash
                and not texts_problem(row_id, values)
            )
        except AuditKeyUnknownError:
            segment.intact = False
        if not segment.intact:
            break
        segment.anchor_seen = segment.anchor_seen or entry_hash == expect_head
        if row_id in head_ids:
            segment.heads[row_id] = (entry_hash, segment.count)
        previous_hash = segment.last_hash = entry_hash
        segment.last_id = row_id
    connection.close()
    return segment


def _walk_in_parallel(
    walk: _Walk, state: _WalkState, *, workers: int, min_rows: int, batch_size: int
) -> int | None:
    """Check the chain up to its current last id in ``workers`` processes, advancing ``state``
    as the sequential walk would (stopping at the same first broken row); the id up to which
    it checked (None: nothing, the trail is too small or the database is in memory)."""
    bounds = AuditEvent.objects.aggregate(low=Min("id"), high=Max("id"))
    low, high = bounds["low"], bounds["high"]
    in_memory = connection.vendor == "sqlite" and connection.is_in_memory_db()
    if low is None or high - low + 1 < max(min_rows, workers) or in_memory:
        return None
    step = (high - low + 1) // workers
    cuts = [low - 1 + step * n for n in range(workers)] + [high]
    segments = [_Segment(after_id=a, up_to_id=b) for a, b in itertools.pairwise(cuts)]
    check = functools.partial(
        _segment_check,
        keys=walk.keys,
        expect_head=walk.expect_head,
        head_ids=frozenset(walk.by_head),
        unkeyed_up_to=walk.unkeyed_up_to,
    )
    # The processes are forked: each opens its own connection (none may be shared).
    connections.close_all()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        checked = list(pool.map(check, segments))
    for segment in checked:
        if not segment.count:
            continue
        if _segment_follows(segment, state, walk.by_head):
            state.checked += segment.count
            state.keyed_seen = state.keyed_seen or segment.has_keyed
            state.anchor_seen = state.anchor_seen or segment.anchor_seen
            state.previous_id, state.previous_hash = segment.last_id, segment.last_hash
            for head_id in segment.heads:
                walk.by_head.pop(head_id, None)
            continue
        rows = _rows_in_chain_order(
            batch_size=batch_size, after_id=segment.after_id, up_to_id=segment.up_to_id
        )
        walk.run(state, rows)
        if state.problem:
            break
    return high


def _segment_follows(
    segment: _Segment, state: _WalkState, by_head: Mapping[int, list[Checkpoint]]
) -> bool:
    """Whether ``segment`` is intact as the continuation of the rows ``state`` has checked."""
    return (
        segment.intact
        and segment.first_prev_hash == state.previous_hash
        and not (state.keyed_seen and segment.has_unkeyed)
        and all(
            c.head_hash == head_hash and c.row_count == state.checked + count
            for head_id, (head_hash, count) in segment.heads.items()
            for c in by_head.get(head_id, ())
        )
    )


def _legacy(row_id: int, unkeyed_up_to: int | None) -> bool:
    """Whether an unkeyed row with this id is one of the legacy rows the configuration allows."""
    return unkeyed_up_to is not None and row_id <= unkeyed_up_to


def _edited(row_id: int, keys: Mapping[str, bytes]) -> bool:
    """Whether a row whose hash did not match over the time as the database wrote it out really
    was edited: checked again over the time as Django reads it (so that a database printing a
    time otherwise than Python never makes an intact row look edited)."""
    values, entry_hash = _row_read(row_id)
    return row_hash(values, keys=keys) != entry_hash


def _redaction_recorded(row_id: int, field: str, redaction_id: int) -> bool:
    """Whether event ``redaction_id`` is a later, keyed, successful redaction of ``field`` of
    row ``row_id``. Its own hash is checked when the walk reaches it (it comes later), so a
    forged one breaks the walk there. Redactions are rare: one query each."""
    if redaction_id <= row_id:
        return False
    found = (
        AuditEvent.objects.filter(id=redaction_id)
        .values_list("action", "outcome", "key_id", "detail")
        .first()
    )
    return (
        found is not None
        and found[0] == AuditAction.FIELD_REDACT
        and found[1] == AuditOutcome.SUCCESS
        and bool(found[2])
        and redaction_target(found[3]) == (row_id, field)
    )


def _row_read(row_id: int) -> tuple[tuple, str]:
    row = AuditEvent.objects.values_list(*CHAIN_FIELDS, "entry_hash").get(id=row_id)
    return row[:-1], row[-1]


def _chain_values() -> tuple[QuerySet, bool]:
    """Every row as ``id``, its ``WALK_FIELDS``, ``entry_hash``, by ascending id; and whether
    ``created_at`` comes as its text (else as a datetime, on a database that cannot)."""
    events = AuditEvent.objects.order_by("id")
    created_at = utc_time_text("created_at")
    if created_at is None:
        return events.values_list("id", *WALK_FIELDS, "entry_hash"), False
    fields = [created_at if name == "created_at" else name for name in WALK_FIELDS]
    return events.values_list("id", *fields, "entry_hash"), True


def _rows_in_chain_order(
    *, batch_size: int, after_id: int | None = None, up_to_id: int | None = None
) -> Iterator[tuple[int, tuple, str]]:
    """``(id, values in WALK_FIELDS order with created_at as its text, entry_hash)`` by
    ascending id, in keyset batches, for the ids after ``after_id`` (default: every id, those
    below 1 included) up to ``up_to_id``."""
    last_id = after_id
    rows, as_text = _chain_values()
    if up_to_id is not None:
        rows = rows.filter(id__lte=up_to_id)
    while batch := list((rows if last_id is None else rows.filter(id__gt=last_id))[:batch_size]):
        if as_text:
            for row in batch:
                yield row[0], row[1:-1], row[-1]
        else:
            for row in batch:
                values = list(row[1:-1])
                values[_CREATED_AT] = created_at_text(values[_CREATED_AT])
                yield row[0], tuple(values), row[-1]
        last_id = batch[-1][0]
