"""Findings' table pages kept half free on PostgreSQL (issue 24): every run sets ``last_seen`` on
every open finding, a million rows in a large fleet. An update that finds room on its row's
page writes no index entries (a heap-only tuple, none of the updated columns being indexed) and
takes about a seventh of the time of one that must move the row. Pages written before keep
their fill until rewritten. Nothing to do on SQLite, which updates rows in place."""

from django.db import migrations

FILLFACTOR = 50


def fillfactor_set(value):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE findings_finding SET (fillfactor = {value})")

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("findings", "0002_open_findings_indexes"),
    ]

    operations = [
        migrations.RunPython(fillfactor_set(FILLFACTOR), fillfactor_set(100)),
    ]
