"""Trigram indexes for the auditor's partial, case-insensitive DeviceName and user filters.

Django spells ``icontains`` on PostgreSQL as ``UPPER(col::text) LIKE UPPER(%s)``; a GIN
trigram index on that very expression serves it (and ``iexact``), so a rare name is found
without walking the table. PostgreSQL only, and only where pg_trgm can be created (a trusted
extension since PostgreSQL 13: the database owner may create it); elsewhere the filters still
work, by a scan.
"""

import logging

from django.db import migrations, transaction

logger = logging.getLogger(__name__)

INDEXES = {
    "audit_device_name_trgm": "device_name",
    "audit_actor_username_trgm": "actor_username",
}


def create(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        try:
            with transaction.atomic(using=connection.alias):  # a savepoint: failure is undone
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception as exc:  # noqa: BLE001 - a missing extension must not stop the migration
            logger.warning(
                "pg_trgm unavailable (%s): partial name filters scan", type(exc).__name__
            )
            return
        for name, column in INDEXES.items():
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON audit_auditevent "
                f"USING gin ((UPPER({column}::text)) gin_trgm_ops)"
            )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0008_outcome_refused_trail_actions"),
    ]

    operations = [migrations.RunPython(create, drop)]
