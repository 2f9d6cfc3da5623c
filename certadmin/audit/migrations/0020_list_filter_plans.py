"""The auditor's list filters at a million events (issue 24): indexes for one device's or one
user's actions and one product's events, newest first; and AuditName, the names the partial
name filters look up first, filled from the events already written."""

from django.db import migrations, models


def names_fill(apps, schema_editor):
    # The statement of planner.audit_names_refresh, as it is at this migration.
    with schema_editor.connection.cursor() as cursor:
        for field in ("device_name", "actor_username"):
            cursor.execute(
                "INSERT INTO audit_auditname (field, name, events) "  # noqa: S608
                f"SELECT %s, {field}, COUNT(*) FROM audit_auditevent WHERE {field} <> '' "
                f"GROUP BY {field} "
                "ON CONFLICT (field, name) DO UPDATE SET events = excluded.events",
                [field],
            )


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0019_custody_actions'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditName',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('field', models.CharField(max_length=32)),
                ('name', models.CharField(max_length=150)),
                ('events', models.BigIntegerField(default=0)),
            ],
            options={
                'default_permissions': (),
            },
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['device_name', 'action', '-id'], name='audit_device_action_idx'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['actor_username', 'action', '-id'], name='audit_user_action_idx'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['product_key', '-id'], name='audit_product_id_idx'),
        ),
        migrations.AddConstraint(
            model_name='auditname',
            constraint=models.UniqueConstraint(fields=('field', 'name'), name='audit_name_unique'),
        ),
        migrations.RunPython(names_fill, migrations.RunPython.noop),
    ]
