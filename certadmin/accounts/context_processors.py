"""What every template may ask about the person looking at it, from the one permission table."""

from django.http import HttpRequest

from certadmin.accounts.roles import (
    APPROVE_KEY_RELEASE,
    MANAGE_FLEET,
    REVEAL_PRIVATE_KEY,
    VIEW_AUDIT_TRAIL,
    VIEW_CERTIFICATES,
)


def permissions(request: HttpRequest) -> dict:
    """``may.view_certificates``, ``may.reveal_private_key``, ``may.view_audit_trail``,
    ``may.manage_fleet`` and ``may.approve_key_release``, so templates name no permission
    string of their own."""
    user = getattr(request, "user", None)

    def may(permission: str) -> bool:
        return user is not None and user.has_perm(permission)

    return {
        "may": {
            "view_certificates": may(VIEW_CERTIFICATES),
            "reveal_private_key": may(REVEAL_PRIVATE_KEY),
            "view_audit_trail": may(VIEW_AUDIT_TRAIL),
            "manage_fleet": may(MANAGE_FLEET),
            "approve_key_release": may(APPROVE_KEY_RELEASE),
        }
    }
