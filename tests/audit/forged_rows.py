"""Rows written the way someone with the database's credentials but no audit key would write
them: raw SQL, explicit ids, hashes computed without the key (tests only)."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from certadmin.audit.append_only import TABLE, triggers_lifted
from certadmin.audit.hash_chain import GENESIS_HASH, event_hash
from certadmin.audit.models import AuditEvent

CHECK = "audit_event_id_positive"
MALLORY_KEY = {"demo": b"not the audit key, whatever mallory guesses at"}


def forged_row(*, row_id: int | None = None, **changes) -> dict:
    """The columns of a key reveal by mallory, linked after the current head and sealed with a
    guessed key, as ``{column: value}`` (with ``id`` when ``row_id`` is given)."""
    head = AuditEvent.objects.order_by("-id").first()
    forged = AuditEvent(
        created_at=head.created_at,
        actor_username="mallory",
        action=head.action,
        outcome=head.outcome,
        product_key=head.product_key,
        device_name=head.device_name,
        reason="nothing to see here",
        prev_hash=head.entry_hash,
        key_id=head.key_id,
    )
    for name, value in changes.items():
        setattr(forged, name, value)
    forged.entry_hash = event_hash(forged, keys=MALLORY_KEY if forged.key_id else {})
    row = {field.column: getattr(forged, field.attname) for field in AuditEvent._meta.fields}
    if row_id is None:
        del row["id"]
    else:
        row["id"] = row_id
    return row


def row_insert(row: dict, *, table: str = TABLE) -> None:
    """``INSERT INTO table (columns) VALUES (...)`` as raw SQL, in a transaction of its own."""
    marks = ", ".join(["%s"] * len(row))
    sql = f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})"  # noqa: S608
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, list(row.values()))


@contextmanager
def id_check_lifted() -> Iterator[None]:
    """Without the append-only triggers and the CHECK constraint on ids (as an owner of the
    table could do), for one transaction. On PostgreSQL the constraint comes back NOT VALID,
    so that the rows written meanwhile stay: ``rows_below_one_removed`` validates it again."""
    with triggers_lifted(connection=connection), connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA ignore_check_constraints = ON")
            try:
                yield
            finally:
                cursor.execute("PRAGMA ignore_check_constraints = OFF")
        else:
            cursor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT {CHECK}")
            yield
            cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {CHECK} CHECK (id > 0) NOT VALID")


def rows_below_one_removed() -> None:
    """Remove the rows ``id_check_lifted`` let in (for tests whose rows are committed)."""
    with triggers_lifted(connection=connection), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id <= 0")  # noqa: S608
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {TABLE} VALIDATE CONSTRAINT {CHECK}")


def chain_downgraded(*, up_to_id: int | None = None) -> None:
    """Rewrite every row (up to ``up_to_id``) as an unkeyed one, relinked with plain SHA-256 from
    the genesis: what anyone can compute without the key."""
    previous = GENESIS_HASH
    rows = AuditEvent.objects.order_by("id")
    if up_to_id is not None:
        rows = rows.filter(id__lte=up_to_id)
    with triggers_lifted(connection=connection), connection.cursor() as cursor:
        for row in rows:
            row.key_id = ""
            row.prev_hash = previous
            row.entry_hash = previous = event_hash(row, keys={})
            cursor.execute(
                f"UPDATE {TABLE} SET key_id = '', prev_hash = %s, entry_hash = %s "  # noqa: S608
                "WHERE id = %s",
                [row.prev_hash, row.entry_hash, row.pk],
            )
