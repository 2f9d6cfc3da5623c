"""Which device: the platform's naming rules and the reference every layer passes around.

One definition of what a valid ProductKey, DeviceName and IotInstanceId look like, used by the
dashboard's forms, the batch CSV reader, the search, the audit pages and the emulator alike.
Pure: no Django. The rules, as the IoT Platform documents them:

- DeviceName: 4–32 letters, digits and ``- _ . @ :``.
- ProductKey: an opaque alphanumeric id (11 characters in every example seen): checked loosely.
- IotInstanceId: ``iot-cn-0pp1n8t****``, ``iot-06z00ep2pjifrby``,
  ``iot_instc_pu****_c*-v64********``: checked loosely; empty means the public instance.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from certadmin.iot.accounts import DEFAULT_ACCOUNT_NAME

DEVICE_NAME_RE = re.compile(r"[A-Za-z0-9_.@:-]{4,32}")
PRODUCT_KEY_RE = re.compile(r"[A-Za-z0-9]{4,32}")
INSTANCE_ID_RE = re.compile(r"[A-Za-z0-9_*-]{4,64}")


def is_device_name(value: str) -> bool:
    """Whether ``value`` is a DeviceName by the platform's naming rules."""
    return DEVICE_NAME_RE.fullmatch(value) is not None


def is_product_key(value: str) -> bool:
    """Whether ``value`` can be a ProductKey."""
    return PRODUCT_KEY_RE.fullmatch(value) is not None


def is_instance_id(value: str) -> bool:
    """Whether ``value`` can be an IotInstanceId ("" is not: it means no instance)."""
    return INSTANCE_ID_RE.fullmatch(value) is not None


def _default_account() -> str:
    return DEFAULT_ACCOUNT_NAME


_account_default: Callable[[], str] = _default_account


def account_default_use(provider: Callable[[], str]) -> None:
    """Make ``provider()`` the account of a ``DeviceRef`` that names none. The dashboard
    installs one that reads its settings at that moment (certadmin/accounts/apps.py); outside
    it the default is the ``default`` account."""
    global _account_default
    _account_default = provider


@dataclass(frozen=True)
class DeviceRef:
    """Which device: ProductKey, DeviceName, IotInstanceId ("" for the public instance) and
    the API account it is looked up with (the default account unless named). The same
    ProductKey and DeviceName on two accounts are two devices. With an empty DeviceName it
    names a whole product (an export of its certificates, in the audit trail)."""

    product_key: str
    device_name: str
    iot_instance_id: str = ""
    account: str = field(default_factory=lambda: _account_default())
