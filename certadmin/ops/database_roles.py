"""Two PostgreSQL roles: the tables' owner runs migrations, the serving role runs the dashboard
and the task workers and may only read and append to the audit trail.

A role that owns a table can disable its triggers, drop or rename it whatever its grants say, so
the append-only triggers (``certadmin.audit.append_only``) only bind a role that owns nothing.
``serving_role_grant`` gives the serving role exactly what certadmin needs (run by the owner
after every ``migrate``: ``manage.py db_grant_serving_role``); ``serving_role_findings`` is
what the deploy check (``certadmin.ops.checks``) asks the database about the role it connects as.

Which tables are the trail is decided by naming, not by a list: every table of the ``audit``
app in Django's app registry, and every table named with that app's prefix (a table made by raw
SQL in an audit migration). A table the audit app adds later is covered without a change here.
"""

from dataclasses import dataclass, field

from django.apps import apps
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.recorder import MigrationRecorder
from psycopg import sql

from certadmin.audit.models import REDACTABLE_FIELDS, AuditEvent

AUDIT_APP = "audit"
# On the trail: read it and append to it, nothing else (no UPDATE, DELETE, TRUNCATE,
# REFERENCES, TRIGGER, MAINTAIN: REVOKE ALL first takes whatever was granted before).
AUDIT_PRIVILEGES = "SELECT, INSERT"
AUDIT_NAMES_TABLE = "audit_auditname"
AUDIT_NAMES_PRIVILEGES = "SELECT, INSERT, UPDATE"
# Everywhere else (sessions, jobs, inventory, the task queue, a cache table): ordinary writes.
APP_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
# The one change the trail allows (``audit_field_redact``): blanking a redactable text and
# marking it redacted, a column-level grant; the triggers refuse every other form of it.
REDACTION_COLUMNS = tuple(
    column for name in REDACTABLE_FIELDS for column in (name, f"{name}_redacted_by")
)
# Which migrations ran is the owner's business; serving may read it.
MIGRATIONS_PRIVILEGES = "SELECT"
SEQUENCE_PRIVILEGES = "USAGE, SELECT"
# What a serving role must not hold on a trail table (beyond SELECT and INSERT): each lets it
# change or remove rows (the triggers refuse, but a TRIGGER privilege adds triggers of its own).
AUDIT_EXCESS_PRIVILEGES = ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER")

_SCHEMA_TABLES = """
    SELECT c.relname, pg_get_userbyid(c.relowner)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
    ORDER BY c.relname
"""


class ServingRoleRefused(ValueError):
    """The role cannot be a serving role as it stands (the message says why and what to do)."""


@dataclass(frozen=True)
class ServingGrant:
    """What ``serving_role_grant`` granted, by table."""

    role: str
    schema: str
    audit_tables: list[str]
    app_tables: list[str]


@dataclass(frozen=True)
class ServingRoleFindings:
    """What the connected role can do to the trail that a serving role must not."""

    role: str
    superuser: bool
    # audit table -> the role that owns it, for each one the connected role owns or can act as.
    owned: dict[str, str] = field(default_factory=dict)
    # audit table -> privileges of AUDIT_EXCESS_PRIVILEGES that the connected role holds there.
    excess: dict[str, list[str]] = field(default_factory=dict)


def audit_table_names() -> set[str]:
    """The audit app's tables known to Django (models, many-to-many tables included)."""
    config = apps.get_app_config(AUDIT_APP)
    return {
        model._meta.db_table
        for model in config.get_models(include_auto_created=True)
        if not model._meta.proxy
    }


def table_is_audit(name: str) -> bool:
    """Whether ``name`` is a table of the audit trail: the app's by the registry or by prefix."""
    return name in audit_table_names() or name.startswith(f"{AUDIT_APP}_")


def _identifier(name: str) -> str:
    return sql.Identifier(name).as_string()


def _schema_tables(cursor) -> list[tuple[str, str]]:
    cursor.execute(_SCHEMA_TABLES)
    return list(cursor.fetchall())


def serving_role_grant(*, connection: BaseDatabaseWrapper, role: str) -> ServingGrant:
    """Give ``role`` exactly the rights serving needs on the current schema's tables, in one
    transaction (the running dashboard never sees a moment without them).

    Run as the tables' owner (or a superuser). Idempotent: every table's rights for ``role`` are
    revoked and granted again, so rights granted by hand before are taken away. Also sets the
    running role's default privileges in the schema, so a table a later migration creates
    already allows SELECT and INSERT (no more than the trail's) until this runs again.
    Raises ``ServingRoleRefused`` for a role that does not exist, is a superuser, is the
    connected role, or owns (or can act as the owner of) a table here.
    """
    if connection.vendor != "postgresql":
        raise ServingRoleRefused("database roles need PostgreSQL (this database has no roles)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, current_schema()")
        current, schema = cursor.fetchone()
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
        found = cursor.fetchone()
        if found is None:
            raise ServingRoleRefused(f"there is no database role {role!r}: create it first")
        if found[0]:
            raise ServingRoleRefused(
                f"the database role {role!r} is a superuser: no grant binds it"
            )
        if role == current:
            raise ServingRoleRefused(
                f"{role!r} is the role this connection logs in as: connect as the tables' "
                "owner (CERTADMIN_MIGRATE_DATABASE_URL) and name the serving role"
            )
        tables = _schema_tables(cursor)
        owners = sorted({owner for _, owner in tables})
        cursor.execute(
            "SELECT o FROM unnest(%s::text[]) AS o WHERE pg_has_role(%s, o, 'MEMBER')",
            [owners, role],
        )
        acts_as = [row[0] for row in cursor.fetchall()]
        if acts_as:
            owned = [name for name, owner in tables if owner in acts_as]
            raise ServingRoleRefused(
                f"the database role {role!r} owns or can act as the owner of "
                f"{len(owned)} table(s) here ({', '.join(owned[:5])}"
                f"{', …' if len(owned) > 5 else ''}): make another role their owner "
                f"(ALTER TABLE … OWNER TO, or REASSIGN OWNED BY) and serve as {role!r}"
            )
    grantee, in_schema = _identifier(role), _identifier(schema)
    audit, app = [], []
    statements = [
        f"GRANT USAGE ON SCHEMA {in_schema} TO {grantee}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {in_schema} FROM {grantee}",
        f"GRANT {SEQUENCE_PRIVILEGES} ON ALL SEQUENCES IN SCHEMA {in_schema} TO {grantee}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {in_schema} "
        f"GRANT {AUDIT_PRIVILEGES} ON TABLES TO {grantee}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {in_schema} "
        f"GRANT {SEQUENCE_PRIVILEGES} ON SEQUENCES TO {grantee}",
    ]
    for name, _ in tables:
        if name == AUDIT_NAMES_TABLE:
            # The trail's name lookup (audit_record counts each DeviceName and username there):
            # rows are added and counted up, never deleted, so no search can be made to miss an
            # event.
            privileges = AUDIT_NAMES_PRIVILEGES
            audit.append(name)
        elif table_is_audit(name):
            privileges = AUDIT_PRIVILEGES
            audit.append(name)
        elif name == MigrationRecorder.Migration._meta.db_table:
            privileges = MIGRATIONS_PRIVILEGES
        else:
            privileges = APP_PRIVILEGES
            app.append(name)
        table = f"{in_schema}.{_identifier(name)}"
        statements += [
            f"REVOKE ALL ON TABLE {table} FROM {grantee}",
            f"GRANT {privileges} ON TABLE {table} TO {grantee}",
        ]
        if name == AuditEvent._meta.db_table:
            columns = ", ".join(map(_identifier, REDACTION_COLUMNS))
            statements.append(f"GRANT UPDATE ({columns}) ON TABLE {table} TO {grantee}")
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    return ServingGrant(role=role, schema=schema, audit_tables=audit, app_tables=app)


def serving_role_findings(*, connection: BaseDatabaseWrapper) -> ServingRoleFindings:
    """What the role ``connection`` is logged in as can do to the trail beyond reading and
    appending: superuser, owner (or member of the owner's role), excess privileges."""
    excess_columns = ", ".join(
        f"has_table_privilege(c.oid, '{privilege}')" for privilege in AUDIT_EXCESS_PRIVILEGES
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        role, superuser = cursor.fetchone()
        # Privilege names are this module's constants, never input.
        cursor.execute(
            f"""
            SELECT c.relname, pg_get_userbyid(c.relowner),
                   pg_has_role(current_user, c.relowner, 'MEMBER'), {excess_columns}
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
            ORDER BY c.relname
            """  # noqa: S608
        )
        rows = cursor.fetchall()
    owned, excess = {}, {}
    for name, owner, acts_as_owner, *held in rows:
        if not table_is_audit(name):
            continue
        if acts_as_owner:
            owned[name] = owner
        extra = [p for p, has in zip(AUDIT_EXCESS_PRIVILEGES, held, strict=True) if has]
        if name == AUDIT_NAMES_TABLE:
            extra = [p for p in extra if p not in AUDIT_NAMES_PRIVILEGES]
        if extra:
            excess[name] = extra
    return ServingRoleFindings(role=role, superuser=superuser, owned=owned, excess=excess)
