"""The roles (docs/using.md, "Roles"), as Django groups and the permissions each one holds.

The models' ``Meta.permissions``, the data migration that creates the groups, the demo-user
seeding, the views and the tests all read these tables, so there is one definition of who may
do what.
"""

from django.utils.translation import gettext_lazy as _

VIEWER = "Viewer"
KEY_CUSTODIAN = "Key custodian"
AUDITOR = "Auditor"
FLEET_MANAGER = "Fleet manager"
KEY_APPROVER = "Key approver"

VIEW_CERTIFICATES = "devices.view_certificates"
REVEAL_PRIVATE_KEY = "devices.reveal_private_key"
VIEW_AUDIT_TRAIL = "audit.view_audit_trail"
# Sync schedules, finding suppressions and notification routes: settings that change what
# certadmin watches and whom it tells, not what a person may see.
MANAGE_FLEET = "devices.manage_fleet_settings"
# Approving another person's request for a private key, where two-person approval is
# configured (CERTADMIN_KEY_APPROVALS). It releases no key by itself.
APPROVE_KEY_RELEASE = "devices.approve_key_release"

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    VIEWER: (VIEW_CERTIFICATES,),
    KEY_CUSTODIAN: (VIEW_CERTIFICATES, REVEAL_PRIVATE_KEY),
    AUDITOR: (VIEW_AUDIT_TRAIL,),
    FLEET_MANAGER: (VIEW_CERTIFICATES, MANAGE_FLEET),
    KEY_APPROVER: (VIEW_CERTIFICATES, APPROVE_KEY_RELEASE),
}

# Each custom permission: the model it is declared on, and its name.
PERMISSIONS: dict[str, tuple[str, str, str]] = {
    VIEW_CERTIFICATES: (
        "devices",
        "certificaterecord",
        _("Can search devices and view certificates"),
    ),
    REVEAL_PRIVATE_KEY: (
        "devices",
        "certificaterecord",
        _("Can reveal private keys and download key bundles"),
    ),
    VIEW_AUDIT_TRAIL: (
        "audit",
        "auditevent",
        _("Can browse, export and verify the audit trail"),
    ),
    MANAGE_FLEET: (
        "devices",
        "certificaterecord",
        _("Can set sync schedules, suppress findings and route notifications"),
    ),
    APPROVE_KEY_RELEASE: (
        "devices",
        "certificaterecord",
        _("Can approve or refuse other people's requests for private keys"),
    ),
}


def model_permissions(app_label: str, model: str) -> list[tuple[str, str]]:
    """The ``Meta.permissions`` of one model: ``(codename, name)`` of each permission above."""
    return [
        (dotted.split(".", 1)[1], name)
        for dotted, (app, model_name, name) in PERMISSIONS.items()
        if (app, model_name) == (app_label, model)
    ]


def roles_install(*, group_model, permission_model, content_type_model) -> None:
    """Create the role groups with their permissions (idempotent).

    Takes the models as arguments so a migration can pass its historical ones. The permissions
    are created too: on a fresh database Django adds them only after every migration has run.
    """
    for role, dotted_names in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        for dotted in dotted_names:
            app_label, model, name = PERMISSIONS[dotted]
            content_type, _ = content_type_model.objects.get_or_create(
                app_label=app_label, model=model
            )
            permission, _ = permission_model.objects.get_or_create(
                content_type=content_type,
                codename=dotted.split(".", 1)[1],
                defaults={"name": str(name)},
            )
            group.permissions.add(permission)
