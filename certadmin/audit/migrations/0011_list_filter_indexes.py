"""Indexes for the auditor's list filters at a million events: one action, or one product's
outcome, newest first without a sort of every match."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0010_account'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['action', '-id'], name='audit_action_id_idx'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['product_key', 'outcome', '-id'], name='audit_product_outcome_idx'),
        ),
    ]
