"""Keeping the query planner informed about the audit trail.

SQLite chooses an index by its statistics (``sqlite_stat1``) and, with none, by guesses that
treat every index alike: at a million events it walked a quarter of the trail through the action
index and sorted the matches, where the device's own index answers at once. The list's filters
have indexes of their own (migration 0017) that win without statistics too; statistics are
still refreshed after every migration (a new index has none) so that both databases plan from
the trail as it is.
"""

from django.db.backends.base.base import BaseDatabaseWrapper

from certadmin.audit.models import AuditEvent, AuditName

# Rows SQLite samples per index (``PRAGMA analysis_limit``): enough to tell a device's few
# events from an action's many, and ANALYZE of a million events stays well under a second.
SQLITE_ANALYSIS_LIMIT = 1000


def audit_statistics_refresh(*, connection: BaseDatabaseWrapper) -> None:
    """Refresh the planner's statistics of the audit trail (ANALYZE)."""
    if AuditEvent._meta.db_table not in connection.introspection.table_names():
        return  # migrated back before the table
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}")
        cursor.execute(f"ANALYZE {table}")


def statistics_after_migrate(*, using: str, **kwargs) -> None:
    """``post_migrate`` receiver: statistics for the indexes a migration may have added."""
    from django.db import connections

    audit_statistics_refresh(connection=connections[using])


# The AuditEvent columns whose partial filters look their names up in AuditName.
NAMED_FIELDS = ("device_name", "actor_username")


def audit_names_count(*, event: AuditEvent, connection: BaseDatabaseWrapper) -> None:
    """Count ``event`` in AuditName under each of its names (one upsert per name)."""
    names = connection.ops.quote_name(AuditName._meta.db_table)
    with connection.cursor() as cursor:
        for field in NAMED_FIELDS:
            if name := getattr(event, field):
                cursor.execute(
                    f"INSERT INTO {names} (field, name, events) VALUES (%s, %s, 1) "  # noqa: S608
                    "ON CONFLICT (field, name) DO UPDATE SET events = "
                    f"{names}.events + 1",
                    [field, name],
                )


def audit_names_refresh(*, connection: BaseDatabaseWrapper) -> None:
    """Count every name the events hold in AuditName again (after a migration adds the table,
    or a bulk load that bypassed ``audit_record``)."""
    names = connection.ops.quote_name(AuditName._meta.db_table)
    events = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        for field in NAMED_FIELDS:
            # Constant names only: no user input in this statement.
            cursor.execute(
                f"INSERT INTO {names} (field, name, events) "  # noqa: S608
                f"SELECT %s, {field}, COUNT(*) FROM {events} WHERE {field} <> '' "
                f"GROUP BY {field} "
                "ON CONFLICT (field, name) DO UPDATE SET events = excluded.events",
                [field],
            )
