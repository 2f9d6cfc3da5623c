"""Checking the audit chain: every row's hash, and every row's link to the one before it."""

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
    last_id = 0
    while True:
        batch = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not batch:
            break
        for event in batch:
            checked += 1
            problem = ""
            if event_hash(event) != event.entry_hash:
                problem = ChainProblem.EDITED
            elif event.prev_hash != previous_hash:
                problem = (
                    ChainProblem.FIRST_UNLINKED if previous_id is None else ChainProblem.UNLINKED
                )
            if problem:
                return ChainReport(
                    ok=False,
                    checked=checked,
                    head_id=previous_id,
                    head_hash=previous_hash if previous_id is not None else "",
                    expected_head=expect_head,
                    problem=problem,
                    first_broken_id=event.id,
                    previous_id=previous_id,
                )
            anchor_seen = anchor_seen or event.entry_hash == expect_head
            previous_id, previous_hash = event.id, event.entry_hash
        last_id = batch[-1].id
    head_hash = previous_hash if previous_id is not None else ""
    if not anchor_seen:
        return ChainReport(
            ok=False,
            checked=checked,
            head_id=previous_id,
            head_hash=head_hash,
            expected_head=expect_head,
            problem=ChainProblem.ANCHOR_MISSING,
        )
    return ChainReport(
        ok=True,
        checked=checked,
        head_id=previous_id,
        head_hash=head_hash,
        expected_head=expect_head,
    )
