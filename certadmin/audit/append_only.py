"""Database triggers that make the audit tables append-only below the ORM.

The ORM already refuses to change or remove audit events and verification runs; these triggers
make the database refuse too, so a raw ``UPDATE`` or ``DELETE`` (or, on PostgreSQL, ``TRUNCATE``)
fails as well. Both tables are covered: the trail itself and the history of its verification
(a failed run must not be turned into a passed one, nor removed).

SQLite's ``INSERT OR REPLACE`` / ``REPLACE INTO`` resolves a uniqueness conflict by deleting the
old row without firing DELETE triggers, so an INSERT trigger refuses any row that would conflict
with a stored one (same id or, for events, same hash or predecessor). On PostgreSQL ``INSERT ...
ON CONFLICT DO UPDATE`` fires the UPDATE trigger and is refused by it.

Ids are the database's own: positive (a CHECK constraint on each table, see ``models``) and
increasing, so the verifier, which walks the chain by id, sees every row the dashboard shows, and
a forged row cannot be slipped in before or between stored ones. An INSERT that names an id is
refused (a huge one would also end every later append: SQLite cannot count past it, and
PostgreSQL's sequence would hand out ids below it). SQLite shows a BEFORE INSERT trigger the id
-1 when it is about to assign one, so the explicit -1 is left to the CHECK constraint and to an
AFTER INSERT trigger, which sees the id really stored. PostgreSQL evaluates the id's default
before its BEFORE INSERT trigger: the id must be the value this session just drew from the
table's own sequence, and (for events, whose appends are serialized) above every stored id.

One UPDATE of an event is let through, in one narrow form: redacting one text of
``REDACTABLE_FIELDS`` of a hash version 4 row (one with that text's digest), that is, setting the
text from non-empty to '' and its ``<field>_redacted_by`` from NULL to the id of a later,
successful FIELD_REDACT event whose detail names that field of that row, every other column
unchanged. Anyone who can write to the database can do that too: the verifier then accepts the
blanked text only if the redaction event is a keyed row of the chain (see ``chain``).

Installed by migrations ``0003_append_only_triggers``, ``0005_append_only_everywhere`` and
reinstalled by every later migration that may rebuild a table (SQLite drops a rebuilt table's
triggers). A role that owns the tables can still drop or disable them: that is why the chain is
keyed and checkpointed outside the database (see ``chain`` and ``checkpoints``).
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from certadmin.audit.hash_chain import REDACTION_DETAIL
from certadmin.audit.models import REDACTABLE_FIELDS, AuditAction, AuditOutcome

TABLE = "audit_auditevent"
VERIFICATION_TABLE = "audit_chainverification"
REFUSAL = "audit events are append-only"
ID_REFUSAL = f"{REFUSAL}: an id is assigned by the database, above every stored id"

# Each protected table and its unique columns besides the id: what REPLACE would resolve by
# deleting a stored row. (An INSERT that names an id is refused anyway; and an id still to be
# assigned is -1 to a BEFORE trigger, which must not match a row that got in with id -1, or
# every later append would fail.)
PROTECTED = {
    TABLE: ("prev_hash", "entry_hash"),
    VERIFICATION_TABLE: (),
}
# The tables whose ids must be above every stored one on PostgreSQL as well: the events, whose
# appends are serialized (an advisory lock taken before the id is drawn). Verification runs are
# not, so there a run that drew its id first may commit second: its id need only be its own.
INCREASING = (TABLE,)

# In a SQLite BEFORE INSERT trigger, NEW.id is -1 when the database is about to assign it.
_SQLITE_AUTO_ID = -1
_SQLITE_TRIGGERS = ("no_update", "no_delete", "no_replace", "no_named_id", "no_id_below")


def _redaction_columns(field: str) -> tuple[str, str, str]:
    return field, f"{field}_digest", f"{field}_redacted_by"


def _redaction_named(field: str, row: str) -> str:
    """SQL: the detail of the redaction event of ``field`` of the row whose id is ``row``."""
    prefix = REDACTION_DETAIL.removesuffix("{event_id}").format(field=field)
    return f"'{prefix}' || {row}"


def _sqlite_redaction_allowed(table: str, columns: list[str]) -> str:
    """SQL, in a SQLite UPDATE trigger: the update is one text's redaction (see above)."""
    ways = []
    for field in REDACTABLE_FIELDS:
        text, digest, redacted_by = _redaction_columns(field)
        # Table and column names are this module's and the model's constants, never input.
        redaction = (
            f"SELECT 1 FROM {table} WHERE id = NEW.{redacted_by} "  # noqa: S608
            f"AND action = '{AuditAction.FIELD_REDACT.value}' "
            f"AND outcome = '{AuditOutcome.SUCCESS.value}' "
            f"AND detail = {_redaction_named(field, 'OLD.id')}"
        )
        unchanged = " AND ".join(
            f"NEW.{column} IS OLD.{column}"
            for column in columns
            if column not in (text, redacted_by)
        )
        ways.append(
            f"(OLD.{text} <> '' AND NEW.{text} = '' AND OLD.{digest} <> '' "
            f"AND OLD.{redacted_by} IS NULL AND typeof(NEW.{redacted_by}) = 'integer' "
            f"AND NEW.{redacted_by} > OLD.id AND EXISTS ({redaction}) AND {unchanged})"
        )
    return " OR ".join(ways)


def _sqlite_install(table: str, unique: tuple[str, ...]) -> list[str]:
    refuse = f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
    refuse_id = f"BEGIN SELECT RAISE(ABORT, '{ID_REFUSAL}'); END"
    # Table and column names are this module's constants, never input.
    above = f"SELECT 1 FROM {table} WHERE id > NEW.id"  # noqa: S608
    replace = []
    if unique:
        conflict = " OR ".join(f"{column} = NEW.{column}" for column in unique)
        stored = f"SELECT 1 FROM {table} WHERE {conflict}"  # noqa: S608
        replace.append(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
            f"WHEN EXISTS ({stored}) {refuse}"
        )
    # Dropped first: a migration reinstalling them replaces an older definition.
    return [
        *_sqlite_remove(table),
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} {refuse}",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} {refuse}",
        *replace,
        # An INSERT that names an id (any but -1, which looks like "to be assigned").
        f"CREATE TRIGGER {table}_no_named_id BEFORE INSERT ON {table} "
        f"WHEN NEW.id <> {_SQLITE_AUTO_ID} {refuse_id}",
        # The id as stored: -1 given explicitly (also refused by the CHECK constraint), or one
        # below a stored id.
        f"CREATE TRIGGER {table}_no_id_below AFTER INSERT ON {table} "
        f"WHEN NEW.id <= 0 OR EXISTS ({above}) {refuse_id}",
    ]


def _sqlite_remove(table: str) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {table}_{name}" for name in _SQLITE_TRIGGERS]


_POSTGRESQL_FUNCTION = f"""
    CREATE OR REPLACE FUNCTION audit_auditevent_refuse() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{REFUSAL} (% on % refused)', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$
    """

# The id's default (nextval of the table's sequence) is evaluated before BEFORE triggers, so a
# row whose id is not this session's last value of that sequence named its id itself. With the
# argument 'increasing', the id must also be above every stored id.
_POSTGRESQL_ID_FUNCTION = f"""
    CREATE OR REPLACE FUNCTION audit_id_refuse() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        drawn bigint;
        below boolean := false;
    BEGIN
        BEGIN
            drawn := currval(pg_get_serial_sequence(
                quote_ident(TG_TABLE_SCHEMA) || '.' || quote_ident(TG_TABLE_NAME), 'id'));
        EXCEPTION WHEN object_not_in_prerequisite_state THEN
            drawn := NULL;  -- this session never drew an id from the sequence
        END;
        IF TG_ARGV[0] = 'increasing' THEN
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I WHERE id >= $1)',
                           TG_TABLE_SCHEMA, TG_TABLE_NAME)
                INTO below USING NEW.id;
        END IF;
        IF NEW.id IS NULL OR NEW.id <= 0 OR NEW.id IS DISTINCT FROM drawn OR below THEN
            RAISE EXCEPTION '{ID_REFUSAL} (id % on % refused)', NEW.id, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END;
    $$
    """  # noqa: S608 (table names come from the trigger, quoted by format's %I)


def _postgresql_guard_function() -> str:
    """The events' UPDATE/DELETE trigger function: refuses all but one text's redaction (see
    above). The row is compared as JSON, so a column added later is covered too; before the
    redaction columns exist, every UPDATE is refused."""
    fields = ", ".join(f"'{field}'" for field in REDACTABLE_FIELDS)
    named = _redaction_named("' || field || '", "OLD.id")
    # Names and values are this module's and the model's constants, never input.
    return f"""
    CREATE OR REPLACE FUNCTION audit_auditevent_guard() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        old_row jsonb;
        new_row jsonb;
        field text;
        redacted_by text;
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            old_row := to_jsonb(OLD);
            new_row := to_jsonb(NEW);
            FOREACH field IN ARRAY ARRAY[{fields}] LOOP
                redacted_by := field || '_redacted_by';
                IF old_row - field - redacted_by = new_row - field - redacted_by
                    AND old_row ->> field <> '' AND new_row ->> field = ''
                    AND old_row ->> (field || '_digest') <> ''
                    AND old_row -> redacted_by = 'null'::jsonb
                    AND jsonb_typeof(new_row -> redacted_by) = 'number'
                    AND (new_row ->> redacted_by)::bigint > OLD.id
                    AND EXISTS (
                        SELECT 1 FROM {TABLE}
                        WHERE id = (new_row ->> redacted_by)::bigint
                            AND action = '{AuditAction.FIELD_REDACT.value}'
                            AND outcome = '{AuditOutcome.SUCCESS.value}'
                            AND detail = {named}
                    )
                THEN
                    RETURN NEW;
                END IF;
            END LOOP;
        END IF;
        RAISE EXCEPTION '{REFUSAL} (% on % refused)', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$
    """  # noqa: S608


def _postgresql_install(table: str) -> list[str]:
    # The first table's trigger names predate the second table: kept so 0003 reverses cleanly.
    order = "increasing" if table in INCREASING else "assigned"
    # The events' UPDATE may be a redaction (the guard); nothing else may change.
    function = "audit_auditevent_guard" if table == TABLE else "audit_auditevent_refuse"
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}",
        f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}()",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_auditevent_refuse()",
        f"DROP TRIGGER IF EXISTS {table}_no_named_id ON {table}",
        f"CREATE TRIGGER {table}_no_named_id BEFORE INSERT ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION audit_id_refuse('{order}')",
    ]


def _postgresql_remove(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        f"DROP TRIGGER IF EXISTS {table}_no_named_id ON {table}",
    ]


def _sqlite_update_guard(connection: BaseDatabaseWrapper) -> list[str]:
    """The events' UPDATE trigger, made again over the table's columns as they are now (a
    column added later must be covered): it refuses all but one text's redaction, or every
    UPDATE before the redaction columns exist."""
    with connection.cursor() as cursor:
        columns = [c.name for c in connection.introspection.get_table_description(cursor, TABLE)]
    needed = {column for field in REDACTABLE_FIELDS for column in _redaction_columns(field)}
    when = (
        f"WHEN NOT ({_sqlite_redaction_allowed(TABLE, columns)}) " if needed <= set(columns) else ""
    )
    return [
        f"DROP TRIGGER IF EXISTS {TABLE}_no_update",
        f"CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE} "
        f"{when}BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
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
        if TABLE in tables:
            _run(connection, _sqlite_update_guard(connection))
    elif connection.vendor == "postgresql":
        _run(
            connection,
            [_POSTGRESQL_FUNCTION, _POSTGRESQL_ID_FUNCTION, _postgresql_guard_function()],
        )
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
        _run(
            connection,
            [
                "DROP FUNCTION IF EXISTS audit_auditevent_refuse()",
                "DROP FUNCTION IF EXISTS audit_id_refuse()",
                "DROP FUNCTION IF EXISTS audit_auditevent_guard()",
            ],
        )


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
