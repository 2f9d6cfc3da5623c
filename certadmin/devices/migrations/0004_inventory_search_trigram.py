"""Substring search of DeviceName and nickname on PostgreSQL: trigram GIN indexes on the
upper-cased columns (what ``icontains`` compares). SQLite scans, and needs nothing."""

from django.db import DatabaseError, migrations, transaction

INDEXES = (
    ("certrecord_name_trgm", "device_name"),
    ("certrecord_nickname_trgm", "nickname"),
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        # pg_trgm is a trusted extension: the database's owner may create it. Where it may not,
        # search still works, only without the index.
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError:
        return
    for name, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON devices_certificaterecord "
            f"USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("devices", "0003_last_checked_optional")]

    operations = [migrations.RunPython(create, drop)]
