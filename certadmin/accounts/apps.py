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
