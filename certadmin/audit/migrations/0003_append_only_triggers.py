"""Make the audit table append-only in the database itself (SQLite and PostgreSQL)."""

from django.db import migrations

from certadmin.audit.append_only import triggers_install, triggers_remove


def install(apps, schema_editor):
    triggers_install(connection=schema_editor.connection)


def remove(apps, schema_editor):
    triggers_remove(connection=schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_chainverification_prev_hash_unique")]

    operations = [migrations.RunPython(install, remove)]
