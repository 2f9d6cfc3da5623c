"""Database triggers that make the audit tables append-only below the ORM.

The ORM already refuses to change or remove audit events and verification runs; these triggers
make the database refuse too, so a raw ``UPDATE`` or ``DELETE`` (or, on PostgreSQL, ``TRUNCATE``)
fails as well. Both tables are covered: the trail itself and the history of its verification
(a failed run must not be turned into a passed one, nor removed).

SQLite's ``INSERT OR REPLACE`` / ``REPLACE INTO`` resolves a uniqueness conflict by deleting the
old row without firing DELETE triggers, so an INSERT trigger refuses any row that would conflict
with a stored one (same id or, for events, same hash or predecessor) and any explicit id that is
not above the current maximum. On PostgreSQL ``INSERT ... ON CONFLICT DO UPDATE`` fires the
UPDATE trigger and is refused by it.

Installed by migrations ``0003_append_only_triggers`` and ``0005_append_only_everywhere``. A role
that owns the tables can still drop or disable them: that is why the chain is keyed and
checkpointed outside the database (see ``chain`` and ``checkpoints``).
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "audit_auditevent"
VERIFICATION_TABLE = "audit_chainverification"
REFUSAL = "audit events are append-only"

# Each protected table and its columns that are unique (what REPLACE would resolve by deleting).
PROTECTED = {
    TABLE: ("id", "prev_hash", "entry_hash"),
    VERIFICATION_TABLE: ("id",),
}

# In a SQLite BEFORE INSERT trigger, NEW.id is -1 when the database is about to assign it.
_SQLITE_AUTO_ID = -1


def _sqlite_install(table: str, unique: tuple[str, ...]) -> list[str]:
    conflict = " OR ".join(f"{column} = NEW.{column}" for column in unique)
    refuse = f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
    # Table and column names are this module's constants, never input.
    stored = f"SELECT 1 FROM {table} WHERE {conflict}"  # noqa: S608
    head = f"SELECT coalesce(max(id), 0) FROM {table}"  # noqa: S608
    replace_guard = (
        f"WHEN EXISTS ({stored}) OR (NEW.id <> {_SQLITE_AUTO_ID} AND NEW.id <= ({head}))"
    )
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_replace BEFORE INSERT ON {table} "
        f"{replace_guard} {refuse}",
    ]


def _sqlite_remove(table: str) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {table}_no_{what}" for what in ("update", "delete", "replace")]


_POSTGRESQL_FUNCTION = f"""
    CREATE OR REPLACE FUNCTION audit_auditevent_refuse() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{REFUSAL} (% on % refused)', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$
    """


def _postgresql_install(table: str) -> list[str]:
    # The first table's trigger names predate the second table: kept so 0003 reverses cleanly.
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}",
        f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION audit_auditevent_refuse()",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_auditevent_refuse()",
    ]


def _postgresql_remove(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
    ]


def _run(connection: BaseDatabaseWrapper, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _present(connection: BaseDatabaseWrapper) -> list[str]:
    """The protected tables that exist (an early migration state may lack the second one)."""
    existing = set(connection.introspection.table_names())
    return [table for table in PROTECTED if table in existing]


def triggers_install(*, connection: BaseDatabaseWrapper) -> None:
    """Create the refusing triggers (SQLite and PostgreSQL; other databases get none).

    Idempotent: running it again leaves one set of triggers.
    """
    tables = _present(connection)
    if connection.vendor == "sqlite":
        for table in tables:
            _run(connection, _sqlite_install(table, PROTECTED[table]))
    elif connection.vendor == "postgresql":
        _run(connection, [_POSTGRESQL_FUNCTION])
        for table in tables:
            _run(connection, _postgresql_install(table))


def triggers_remove(*, connection: BaseDatabaseWrapper) -> None:
    """Drop the refusing triggers (the reverse of ``triggers_install``)."""
    tables = _present(connection)
    if connection.vendor == "sqlite":
        for table in tables:
            _run(connection, _sqlite_remove(table))
    elif connection.vendor == "postgresql":
        for table in tables:
            _run(connection, _postgresql_remove(table))
        _run(connection, ["DROP FUNCTION IF EXISTS audit_auditevent_refuse()"])


@contextmanager
def triggers_lifted(*, connection: BaseDatabaseWrapper) -> Iterator[None]:
    """Inside one transaction, let the tables be changed, then restore the triggers.

    For erasing a whole database (``flush``, used between tests) and for tests that tamper with
    rows to prove the verifier notices. If anything fails the transaction rolls back and the
    triggers were never gone for anyone else.
    """
    with transaction.atomic(using=connection.alias):
        if connection.vendor == "postgresql":
            tables = _present(connection)
            _run(connection, [f"ALTER TABLE {table} DISABLE TRIGGER USER" for table in tables])
            yield
            _run(connection, [f"ALTER TABLE {table} ENABLE TRIGGER USER" for table in tables])
        else:
            triggers_remove(connection=connection)
            yield
            triggers_install(connection=connection)
