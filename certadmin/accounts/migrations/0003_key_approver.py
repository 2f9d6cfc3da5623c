"""Create the Key approver group (and its permission) beside the other roles."""

from django.db import migrations

from certadmin.accounts.roles import KEY_APPROVER, roles_install


def create_roles(apps, schema_editor):
    roles_install(
        group_model=apps.get_model("auth", "Group"),
        permission_model=apps.get_model("auth", "Permission"),
        content_type_model=apps.get_model("contenttypes", "ContentType"),
    )


def remove_key_approver(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=KEY_APPROVER).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_fleet_manager"), ("devices", "0015_approve_key_release_permission")]

    operations = [migrations.RunPython(create_roles, remove_key_approver)]
