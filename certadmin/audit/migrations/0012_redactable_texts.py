"""Hash version 4: each event keeps a keyed digest of its reason and CertSN, which the chain
covers instead of the texts, and the id of the redaction event that blanked either text.

The triggers are installed again afterwards: SQLite may rebuild a table to add a column (a
rebuilt table has lost its triggers), and the UPDATE triggers now let one redaction through.
"""

from django.db import migrations, models

from certadmin.audit.append_only import triggers_install


def install(apps, schema_editor):
    triggers_install(connection=schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0011_list_filter_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditevent',
            name='cert_sn_digest',
            field=models.CharField(blank=True, default='', max_length=64, verbose_name='CertSN digest'),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='cert_sn_redacted_by',
            field=models.BigIntegerField(blank=True, null=True, verbose_name='CertSN redacted by'),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='reason_digest',
            field=models.CharField(blank=True, default='', max_length=64, verbose_name='reason digest'),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='reason_redacted_by',
            field=models.BigIntegerField(blank=True, null=True, verbose_name='reason redacted by'),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='action',
            field=models.CharField(choices=[('key_reveal', 'Private key reveal'), ('key_download', 'Key bundle download'), ('cert_download', 'Certificate download'), ('cert_export', 'Bulk certificate export'), ('trail_export', 'Audit trail export'), ('chain_verify', 'Audit chain verification'), ('field_redact', 'Audit field redaction')], max_length=32, verbose_name='action'),
        ),
        migrations.AlterField(
            model_name='chainverification',
            name='problem',
            field=models.CharField(blank=True, choices=[('edited', 'A row was edited'), ('unlinked', 'A row does not follow the row before it'), ('first_unlinked', 'The first row does not start the chain'), ('anchor_missing', 'The anchored hash is not in the chain'), ('key_unknown', 'A row is sealed with a key not configured here'), ('unkeyed', 'An unkeyed row follows keyed rows'), ('checkpoint_invalid', 'A checkpoint is malformed or forged'), ('checkpoint_mismatch', 'The chain differs from a signed checkpoint'), ('checkpoint_missing_row', 'A checkpointed row is gone'), ('redaction_unrecorded', 'A field was blanked without a recorded redaction')], max_length=32, verbose_name='problem'),
        ),
        migrations.RunPython(install, migrations.RunPython.noop),
    ]
