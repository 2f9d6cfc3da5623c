"""API accounts changed for one test."""

import dataclasses

from certadmin.iot.accounts import IotAccount


def account_on(settings, name: str = "default", **changes):
    """Change API account ``name``'s settings (``endpoint=…``, ``instance_id=…``, ``groups=…``,
    ``qps=…``) for this test, adding the account when it is new (then ``access_key_id`` and
    ``access_key_secret`` are needed). Returns the account."""
    accounts = dict(settings.IOT_ACCOUNTS)
    if name in accounts:
        account = dataclasses.replace(accounts[name], **changes)
    else:
        account = IotAccount(name=name, label=name, **changes)
    accounts[name] = account
    settings.IOT_ACCOUNTS = accounts
    return account
