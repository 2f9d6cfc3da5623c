"""Database triggers that make the audit table append-only below the ORM.

The ORM already refuses to change or remove audit events; these triggers make the database
refuse too, so a raw ``UPDATE`` or ``DELETE`` (or, on PostgreSQL, ``TRUNCATE``) fails as well.
They are installed by migration ``0003_append_only_triggers``.

A role that owns the table can still drop or disable them: that is why the chain is also hashed
and its head anchored elsewhere.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "audit_auditevent"
REFUSAL = "audit events are append-only"

_SQLITE_INSTALL = [
    f"CREATE TRIGGER IF NOT EXISTS audit_auditevent_no_update BEFORE UPDATE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_auditevent_no_delete BEFORE DELETE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
]
_SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS audit_auditevent_no_update",
    "DROP TRIGGER IF EXISTS audit_auditevent_no_delete",
]

_POSTGRESQL_INSTALL = [
    f"""
    CREATE OR REPLACE FUNCTION audit_auditevent_refuse() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{REFUSAL} (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$
    """,
    f"DROP TRIGGER IF EXISTS audit_auditevent_no_update_delete ON {TABLE}",
    f"CREATE TRIGGER audit_auditevent_no_update_delete BEFORE UPDATE OR DELETE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION audit_auditevent_refuse()",
    f"DROP TRIGGER IF EXISTS audit_auditevent_no_truncate ON {TABLE}",
    f"CREATE TRIGGER audit_auditevent_no_truncate BEFORE TRUNCATE ON {TABLE} "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_auditevent_refuse()",
]
_POSTGRESQL_REMOVE = [
    f"DROP TRIGGER IF EXISTS audit_auditevent_no_update_delete ON {TABLE}",
    f"DROP TRIGGER IF EXISTS audit_auditevent_no_truncate ON {TABLE}",
    "DROP FUNCTION IF EXISTS audit_auditevent_refuse()",
]


def _run(connection: BaseDatabaseWrapper, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def triggers_install(*, connection: BaseDatabaseWrapper) -> None:
    """Create the refusing triggers (SQLite and PostgreSQL; other databases get none)."""
    if connection.vendor == "sqlite":
        _run(connection, _SQLITE_INSTALL)
    elif connection.vendor == "postgresql":
        _run(connection, _POSTGRESQL_INSTALL)


def triggers_remove(*, connection: BaseDatabaseWrapper) -> None:
    """Drop the refusing triggers (the reverse of ``triggers_install``)."""
    if connection.vendor == "sqlite":
        _run(connection, _SQLITE_REMOVE)
    elif connection.vendor == "postgresql":
        _run(connection, _POSTGRESQL_REMOVE)


@contextmanager
def triggers_lifted(*, connection: BaseDatabaseWrapper) -> Iterator[None]:
    """Inside one transaction, let the table be changed, then restore the triggers.

    For erasing a whole database (``flush``, used between tests) and for tests that tamper with
    rows to prove the verifier notices. If anything fails the transaction rolls back and the
    triggers were never gone for anyone else.
    """
    with transaction.atomic(using=connection.alias):
        if connection.vendor == "postgresql":
            _run(connection, [f"ALTER TABLE {TABLE} DISABLE TRIGGER USER"])
            yield
            _run(connection, [f"ALTER TABLE {TABLE} ENABLE TRIGGER USER"])
        else:
            triggers_remove(connection=connection)
            yield
            triggers_install(connection=connection)
