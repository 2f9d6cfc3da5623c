"""Django's permission backend with each person's permissions kept in the shared cache.

Every signed-in page asks for the person's permissions (the view's ``permission_required``
and the menu's ``may``), and Django's ``ModelBackend`` reads them again for every request: two
queries (the person's own and their groups'). Here they are kept per person in the cache with
the version they were read at, read with that version in one round trip, and used only while
the version is the current one: every change to who has which permission (a person's groups
or own permissions, a group's permissions, a group or permission saved or deleted) gives a new
version, so a permission taken away is gone from the next request of every process. The kept
sets expire after a minute in any case.

Only with a cache that every process shares (``PERMISSIONS_CACHED``, on with Redis): with
each process's own memory, a change made in one would not reach the others.
"""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache

_VERSION_KEY = "accounts:permissions:version"
KEPT_SECONDS = 60


def permissions_forget() -> None:
    """Every person's kept permissions are read again: called after each change to who has
    which permission (``AccountsConfig.ready`` connects the signals)."""
    try:
        cache.incr(_VERSION_KEY)
    except ValueError:
        cache.set(_VERSION_KEY, 1, timeout=None)


class CachedPermissionsBackend(ModelBackend):
    """``ModelBackend`` (log-in, users, permissions), with ``get_all_permissions`` kept per
    person in the shared cache (see the module's docstring)."""

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not settings.PERMISSIONS_CACHED:
            return super().get_all_permissions(user_obj, obj)
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            user_obj._perm_cache = self._permissions_kept(user_obj)
        return user_obj._perm_cache

    def _permissions_kept(self, user_obj) -> set[str]:
        # A superuser has every permission: who is one is part of the key.
        key = f"accounts:permissions:{user_obj.pk}:{int(user_obj.is_superuser)}"
        kept = cache.get_many([_VERSION_KEY, key])
        # The version is read before the permissions: a change that lands while they are read
        # gives a newer version, and what is kept here is not used under it.
        version = kept.get(_VERSION_KEY, 0)
        read_at, permissions = kept.get(key, (None, None))
        if permissions is None or read_at != version:
            permissions = super().get_all_permissions(user_obj)
            cache.set(key, (version, permissions), timeout=KEPT_SECONDS)
        return set(permissions)
