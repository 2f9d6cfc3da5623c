"""The roles of DESIGN.md, as Django groups and the permissions each one holds.

The data migration that creates the groups and the demo-user seeding both read this table,
so there is one definition of who may do what.
"""

VIEWER = "Viewer"
KEY_CUSTODIAN = "Key custodian"
AUDITOR = "Auditor"

VIEW_CERTIFICATES = "devices.view_certificates"
REVEAL_PRIVATE_KEY = "devices.reveal_private_key"
VIEW_AUDIT_TRAIL = "audit.view_audit_trail"

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    VIEWER: (VIEW_CERTIFICATES,),
    KEY_CUSTODIAN: (VIEW_CERTIFICATES, REVEAL_PRIVATE_KEY),
    AUDITOR: (VIEW_AUDIT_TRAIL,),
}
