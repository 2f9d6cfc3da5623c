# ProductSync comes from the jobs app (its 0006), keeping its table jobs_productsync and every
# row in it: only Django's state changes here.

import django.db.models.deletion
from django.db import migrations, models

import certadmin.devices.models


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0009_inventory_days_left_desc_indexes"),
        ("jobs", "0006_product_sync_moves_to_devices"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ProductSync",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "account",
                            models.CharField(
                                default=certadmin.devices.models.default_account_name,
                                max_length=32,
                                verbose_name="API account",
                            ),
                        ),
                        ("product_key", models.CharField(max_length=64, verbose_name="ProductKey")),
                        (
                            "iot_instance_id",
                            models.CharField(
                                blank=True, default="", max_length=128, verbose_name="IotInstanceId"
                            ),
                        ),
                        ("device_count", models.PositiveIntegerField(verbose_name="devices")),
                        (
                            "failed_count",
                            models.PositiveIntegerField(default=0, verbose_name="failed lookups"),
                        ),
                        ("synced_at", models.DateTimeField(verbose_name="last synced")),
                        (
                            "job",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                to="jobs.job",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "product sync",
                        "verbose_name_plural": "product syncs",
                        "db_table": "jobs_productsync",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("account", "product_key", "iot_instance_id"),
                                name="unique_product_sync_per_account",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
