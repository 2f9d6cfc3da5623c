from django.apps import AppConfig
from django.conf import settings

from certadmin.iot.identity import account_default_use


def _configured_default_account() -> str:
    # Read when a DeviceRef is made, so a changed setting (tests) is followed.
    return settings.IOT_DEFAULT_ACCOUNT


class AccountsConfig(AppConfig):
    name = "certadmin.accounts"
    label = "accounts"

    def ready(self) -> None:
        # A device named without an API account is on the configured default account.
        account_default_use(_configured_default_account)
        _permission_changes_connect()


def _permission_changes_connect() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from django.db import transaction
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from certadmin.accounts.backends import permissions_forget

    # The permissions kept per person (``backends``) are read again after any change to who
    # has which permission: at once (this transaction's own requests read the change), and
    # again once it is committed (what another request read and kept meanwhile is the old).
    def forget(**_kwargs) -> None:
        permissions_forget()
        transaction.on_commit(permissions_forget)

    def forget_on_change(action: str, **_kwargs) -> None:
        if action in ("post_add", "post_remove", "post_clear"):
            forget()

    user_model = get_user_model()
    for through in (
        user_model.groups.through,
        user_model.user_permissions.through,
        Group.permissions.through,
    ):
        m2m_changed.connect(
            forget_on_change, sender=through, weak=False, dispatch_uid=f"permissions-{through}"
        )
    for model in (Group, Permission):
        post_save.connect(forget, sender=model, weak=False, dispatch_uid=f"permissions-{model}")
        post_delete.connect(forget, sender=model, weak=False, dispatch_uid=f"permissions-d-{model}")
