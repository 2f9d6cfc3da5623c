# A product has at most one sync queued or running per account and instance.

from django.db import migrations, models
from django.utils import timezone

ACTIVE = ["queued", "running"]


def duplicates_cancel(apps, schema_editor):
    # Syncs queued again before the constraint existed: the oldest stays, the others end as
    # cancelled (their task runs then find nothing to do), so the constraint can be added.
    Job = apps.get_model("jobs", "Job")
    kept = set()
    for job in Job.objects.filter(kind="product_sync", state__in=ACTIVE).order_by("pk"):
        product = (job.account, job.product_key, job.iot_instance_id)
        if product not in kept:
            kept.add(product)
            continue
        Job.objects.filter(pk=job.pk).update(
            state="cancelled",
            finished_at=timezone.now(),
            error="a duplicate of a sync of the same product that was already queued",
        )


class Migration(migrations.Migration):

    dependencies = [
        ("jobs", "0004_chain_verification"),
    ]

    operations = [
        migrations.RunPython(duplicates_cancel, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="job",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind", "product_sync"), ("state__in", ACTIVE)),
                fields=("account", "product_key", "iot_instance_id"),
                name="one_active_sync_per_product",
            ),
        ),
    ]
