"""What every template may ask about the person looking at it, from the one permission table."""

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import get_script_prefix
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from certadmin.accounts.roles import (
    APPROVE_KEY_RELEASE,
    MANAGE_FLEET,
    REVEAL_PRIVATE_KEY,
    VIEW_AUDIT_TRAIL,
    VIEW_CERTIFICATES,
)
from certadmin.web.fragments import KeptHtml

# The menu's links per language and set of permissions: a few dozen at most.
_MENU_LINKS = KeptHtml(kept=64)


def permissions(request: HttpRequest) -> dict:
    """``may.view_certificates``, ``may.reveal_private_key``, ``may.view_audit_trail``,
    ``may.manage_fleet`` and ``may.approve_key_release``, so templates name no permission
    string of their own; and ``menu_links``, the menu's links for them (``base.html``)."""
    user = getattr(request, "user", None)

    def may(permission: str) -> bool:
        return user is not None and user.has_perm(permission)

    allowed = {
        "view_certificates": may(VIEW_CERTIFICATES),
        "reveal_private_key": may(REVEAL_PRIVATE_KEY),
        "view_audit_trail": may(VIEW_AUDIT_TRAIL),
        "manage_fleet": may(MANAGE_FLEET),
        "approve_key_release": may(APPROVE_KEY_RELEASE),
    }
    return {"may": allowed, "menu_links": _menu_links(allowed)}


def _menu_links(allowed: dict[str, bool]) -> SafeString:
    # Every page's menu, the same for everyone with these permissions in one language: written
    # once in the process (``base.html#menu-links``), not with eight URLs and labels a page.
    key = (get_language(), get_script_prefix(), *allowed.items())
    return _MENU_LINKS.get_or_write(
        key, lambda: render_to_string("base.html#menu-links", {"may": allowed})
    )
