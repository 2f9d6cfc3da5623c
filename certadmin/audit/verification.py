"""Checking the audit chain: every row's hash, and every row's link to the one before it."""

from collections.abc import Iterator

from certadmin.audit.chain import GENESIS_HASH, ChainReport, event_hash
from certadmin.audit.models import AuditEvent, ChainProblem


def chain_verify(*, batch_size: int = 2000, expect_head: str = "") -> ChainReport:
    """Walk the whole chain in id order, in keyset batches (constant memory).

    Stops at the first broken row. With ``expect_head`` (a head hash kept elsewhere earlier), the
    chain must still contain that row: rows removed from the end leave a valid but shorter chain
    that only such an anchor can reveal.
    """
    checked = 0
    previous_id: int | None = None
    previous_hash = GENESIS_HASH
    anchor_seen = not expect_head
    problem, first_broken_id = "", None
    for event in _events_in_chain_order(batch_size=batch_size):
        checked += 1
        if event_hash(event) != event.entry_hash:
            problem = ChainProblem.EDITED
        elif event.prev_hash != previous_hash:
            problem = ChainProblem.FIRST_UNLINKED if previous_id is None else ChainProblem.UNLINKED
        if problem:
            first_broken_id = event.id
            break
        anchor_seen = anchor_seen or event.entry_hash == expect_head
        previous_id, previous_hash = event.id, event.entry_hash
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
    )


def _events_in_chain_order(*, batch_size: int) -> Iterator[AuditEvent]:
    """Every event by ascending id, fetched in keyset batches."""
    last_id = 0
    while batch := list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:batch_size]):
        yield from batch
        last_id = batch[-1].id
