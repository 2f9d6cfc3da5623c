"""Create the Fleet manager group (and its permission) beside the first three roles."""

from django.db import migrations

from certadmin.accounts.roles import FLEET_MANAGER, roles_install


def create_roles(apps, schema_editor):
    roles_install(
        group_model=apps.get_model("auth", "Group"),
        permission_model=apps.get_model("auth", "Permission"),
        content_type_model=apps.get_model("contenttypes", "ContentType"),
    )


def remove_fleet_manager(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=FLEET_MANAGER).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_roles")]

    operations = [migrations.RunPython(create_roles, remove_fleet_manager)]
