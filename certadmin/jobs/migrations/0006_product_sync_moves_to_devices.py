# ProductSync moves to the devices app, next to the inventory it describes. Its table stays
# (jobs_productsync, named by the model's Meta.db_table): only Django's state changes here, and
# devices' 0010 takes the model over.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0005_one_active_sync_per_product"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ProductSync")],
            database_operations=[],
        ),
    ]
