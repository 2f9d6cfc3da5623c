"""Who may use which IoT Platform API account: the configured accounts (settings
``IOT_ACCOUNTS``, read from the environment by certadmin/iot/accounts.py) and the groups each
one names. Every app asks here: the device pages, the jobs and the audit trail's scope."""

from django.conf import settings

from certadmin.iot.accounts import IotAccount


class UnknownAccount(LookupError):
    """No API account of that name is configured."""


def iot_account(name: str = "") -> IotAccount:
    """The configured API account ``name`` (the default account for ""). Raises
    ``UnknownAccount``."""
    try:
        return settings.IOT_ACCOUNTS[name or settings.IOT_DEFAULT_ACCOUNT]
    except KeyError:
        raise UnknownAccount(name) from None


def iot_accounts() -> list[IotAccount]:
    """Every configured API account, the default first."""
    default = settings.IOT_DEFAULT_ACCOUNT
    return sorted(settings.IOT_ACCOUNTS.values(), key=lambda a: (a.name != default, a.name))


def account_allowed(*, user, account: str) -> bool:
    """Whether ``user`` may use API account ``account`` (the default account for ""): it
    exists and ``accounts_for`` lists it. The role a view needs is checked by the view."""
    try:
        name = iot_account(account).name
    except UnknownAccount:
        return False
    return any(usable.name == name for usable in accounts_for(user=user))


def accounts_for(*, user) -> list[IotAccount]:
    """The API accounts ``user`` may use, the default first: those that name no groups, and
    those naming a group of the user's (superusers may use every account)."""
    accounts = iot_accounts()
    if not any(a.groups for a in accounts) or getattr(user, "is_superuser", False):
        return accounts
    names = (
        set(user.groups.values_list("name", flat=True))
        if user is not None and user.is_authenticated
        else set()
    )
    return [a for a in accounts if not a.groups or names.intersection(a.groups)]
