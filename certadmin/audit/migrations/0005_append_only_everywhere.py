"""Close SQLite's INSERT OR REPLACE path and protect the verification history as well.

``triggers_install`` is idempotent: it adds what 0003 lacked (the REPLACE-refusing INSERT
triggers, and every trigger on ``audit_chainverification``). Reversing 0003 removes them all.
"""

from django.db import migrations

from certadmin.audit.append_only import triggers_install


def install(apps, schema_editor):
    triggers_install(connection=schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_device_name_index")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
