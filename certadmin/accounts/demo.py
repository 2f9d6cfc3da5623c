"""The demo users `make run` creates: one per role and a superuser. Passwords are public."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from certadmin.accounts.roles import AUDITOR, FLEET_MANAGER, KEY_APPROVER, KEY_CUSTODIAN, VIEWER

# (username, password, role or None for the superuser) — listed in the README.
DEMO_USERS: tuple[tuple[str, str, str | None], ...] = (
    ("viewer", "viewer-demo-2026", VIEWER),
    ("custodian", "custodian-demo-2026", KEY_CUSTODIAN),
    ("auditor", "auditor-demo-2026", AUDITOR),
    ("fleet", "fleet-demo-2026", FLEET_MANAGER),
    ("approver", "approver-demo-2026", KEY_APPROVER),
    ("admin", "admin-demo-2026", None),
)


def demo_users_seed() -> list[str]:
    """Create or reset the demo users; returns their usernames."""
    user_model = get_user_model()
    names = []
    for username, password, role in DEMO_USERS:
        user, _ = user_model.objects.get_or_create(username=username)
        user.set_password(password)
        user.is_active = True
        user.is_staff = role is None
        user.is_superuser = role is None
        user.save()
        user.groups.set([Group.objects.get(name=role)] if role else [])
        names.append(username)
    return names
