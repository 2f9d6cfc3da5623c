"""Each event records the named API account it concerns (hash version 3; empty for events that
concern none and for older rows, whose hashes stay as they were).

The append-only triggers are installed again afterwards: SQLite may rebuild a table to add a
column, and a rebuilt table has lost its triggers.
"""

from django.db import migrations, models

from certadmin.audit.append_only import triggers_install


def install(apps, schema_editor):
    triggers_install(connection=schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0009_partial_name_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="account",
            field=models.CharField(
                blank=True, default="", max_length=32, verbose_name="API account"
            ),
        ),
        migrations.RunPython(install, migrations.RunPython.noop),
    ]
