"""Create the Viewer, Key custodian and Auditor groups with their permissions."""

from django.db import migrations

from certadmin.accounts.roles import ROLE_PERMISSIONS

# Custom permissions live on these models; a fresh database has not created them yet when this
# migration runs (Django adds permissions after all migrations), so create them here.
PERMISSION_MODELS = {
    "devices.view_certificates": ("devices", "certificaterecord"),
    "devices.reveal_private_key": ("devices", "certificaterecord"),
    "audit.view_audit_trail": ("audit", "auditevent"),
}
PERMISSION_NAMES = {
    "devices.view_certificates": "Can search devices and view certificates",
    "devices.reveal_private_key": "Can reveal private keys and download key bundles",
    "audit.view_audit_trail": "Can browse, export and verify the audit trail",
}


def create_roles(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    content_type_model = apps.get_model("contenttypes", "ContentType")
    for role, permission_names in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        for dotted in permission_names:
            app_label, model = PERMISSION_MODELS[dotted]
            content_type, _ = content_type_model.objects.get_or_create(
                app_label=app_label, model=model
            )
            permission, _ = permission_model.objects.get_or_create(
                content_type=content_type,
                codename=dotted.split(".", 1)[1],
                defaults={"name": PERMISSION_NAMES[dotted]},
            )
            group.permissions.add(permission)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLE_PERMISSIONS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("devices", "0001_initial"),
        ("audit", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
