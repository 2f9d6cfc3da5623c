"""A findings version for every product that has findings from before versions came (0004):
the fleet-health page caches its counts and rows only once a product of the person's accounts
has a version, so an upgraded install counted every finding on each view until its next
findings run wrote one (issue 24)."""

import secrets

from django.db import migrations


def findings_versions_give(apps, schema_editor):
    Finding = apps.get_model("findings", "Finding")
    FindingsVersion = apps.get_model("findings", "FindingsVersion")
    scope = ("account", "product_key", "iot_instance_id")
    given = set(FindingsVersion.objects.values_list(*scope))
    products = Finding.objects.values_list(*scope).order_by().distinct()
    FindingsVersion.objects.bulk_create(
        FindingsVersion(
            account=account,
            product_key=product_key,
            iot_instance_id=iot_instance_id,
            version=secrets.randbits(62),
        )
        for account, product_key, iot_instance_id in products
        if (account, product_key, iot_instance_id) not in given
    )


class Migration(migrations.Migration):
    dependencies = [
        ("findings", "0004_findings_version"),
    ]

    operations = [
        # Nothing to undo: the versions only ever name products with findings.
        migrations.RunPython(findings_versions_give, migrations.RunPython.noop, elidable=True),
    ]
