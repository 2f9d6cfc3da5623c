"""The IoT service behind the gateway: QueryDeviceCert, QueryDevice, BatchQueryDeviceDetail and
QueryDeviceDetail.

Each action takes the call's business parameters and the paging rules in force, and returns the
response dict (without ``RequestId``) and the device whose faults apply (a certificate lookup's),
or raises BusinessError / GatewayError.

QueryDevice pages as the platform's reference says: newest device first; every answer carries
a ``NextToken`` (empty when there is no next page); once ``PageSize × CurrentPage`` exceeds
10,000 rows a call without the previous answer's ``NextToken`` gets no data; with one,
``PageSize × CurrentPage`` must stay below 1,000,000. The token here names the row it continues
from, so a ``CurrentPage`` or ``PageSize`` that does not follow on from it is refused.
"""

import base64
import binascii
import datetime as dt
import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from certadmin.emulator.errors import BusinessError, invalid_parameter, missing_parameter
from certadmin.emulator.store import (
    Device,
    DeviceStore,
)
from certadmin.iot.identity import is_device_name, is_product_key

MAX_PAGE_SIZE = 50
DEFAULT_PAGE_SIZE = 10
MAX_BATCH_NAMES = 100
REGION = "cn-shanghai"
_BATCH_NAME = re.compile(r"DeviceName\.([1-9][0-9]*)")
_BEIJING = dt.timezone(dt.timedelta(hours=8))

ActionResult = tuple[dict[str, Any], Device | None]


@dataclass
class PlatformRules:
    """The listing rules in force; tests may scale them down or cut a listing short.

    ``window_rows``: rows reachable without a NextToken; ``max_rows``: with one.
    ``cut_after``: a stand-in that loses every row from this offset on (None: none lost);
    with ``cut_ends`` it also stops handing out NextTokens there (the listing ends short),
    without it the pages after the cut come back empty while NextTokens go on.
    """

    window_rows: int = 10_000
    max_rows: int = 1_000_000
    cut_after: int | None = None
    cut_ends: bool = False


def _required(params: Mapping[str, str], name: str) -> str:
    if name not in params:
        raise missing_parameter(name)
    return params[name]


def _product_key(params: Mapping[str, str]) -> str:
    product_key = _required(params, "ProductKey")
    if not product_key:
        raise BusinessError("iot.prod.NullProductKey", "The ProductKey cannot be empty.")
    if not is_product_key(product_key):
        raise BusinessError(
            "iot.prod.InvalidFormattedProductkey", "The format of the ProductKey is invalid."
        )
    return product_key


def _product(store: DeviceStore, params: Mapping[str, str], product_key: str) -> None:
    """Refuse unless the product exists on the instance the call names (none: public)."""
    instance = params.get("IotInstanceId") or None
    if instance is not None and instance not in store.instances():
        raise BusinessError("iot.system.InstanceNotFound", "The specified instance does not exist.")
    exists, product_instance = store.product_instance(product_key)
    if exists and product_instance is not None and instance != product_instance:
        # An enterprise instance's product is only found when that instance is named.
        raise BusinessError("iot.system.InstanceNotFound", "The specified instance does not exist.")
    if not exists or product_instance != instance:
        raise BusinessError("iot.prod.NotExistedProduct", "The specified product does not exist.")


def _device_name(params: Mapping[str, str]) -> str:
    device_name = _required(params, "DeviceName")
    if not device_name:
        raise BusinessError("iot.device.NullDeviceName", "The device name cannot be empty.")
    if not is_device_name(device_name):
        raise BusinessError(
            "iot.device.InvalidFormattedDeviceName", "The format of the device name is invalid."
        )
    return device_name


def query_device_cert(
    store: DeviceStore, params: Mapping[str, str], rules: PlatformRules
) -> ActionResult:
    """QueryDeviceCert: the X.509 certificate, key and status of one device."""
    product_key = _product_key(params)
    device_name = _device_name(params)
    _product(store, params, product_key)
    device = store.get(product_key, device_name)
    if device is None:
        raise BusinessError("iot.device.NotExistedDevice", "The specified device does not exist.")
    return {"Success": True, "DeviceCertInfo": store.certificate_info(device)}, device


def _page_number(params: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    raw = params.get(name) or str(default)
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise invalid_parameter(name, f"must be an integer from 1 to {maximum}.")
    return int(raw)


def _times(prefix: str, moment: dt.datetime | None) -> dict[str, str]:
    """``Gmt<prefix>`` (Beijing time text) and ``Utc<prefix>`` (ISO UTC), "" when unknown."""
    if moment is None:
        return {f"Gmt{prefix}": "", f"Utc{prefix}": ""}
    return {
        f"Gmt{prefix}": moment.astimezone(_BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        f"Utc{prefix}": moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }


def _device_row(device: Device) -> dict[str, Any]:
    context = device.context()
    return {
        "DeviceId": "",
        "DeviceName": device.device_name,
        "DeviceSecret": device.device_secret,
        "IotId": device.iot_id,
        "ProductKey": device.product_key,
        "DeviceStatus": device.device_status,
        "Nickname": device.nickname,
        **_times("Create", device.created),
        **_times("Modified", context.modified),
        "DeviceType": "",
    }


def _next_token(product_key: str, offset: int, page_size: int) -> str:
    position = base64.urlsafe_b64encode(f"{offset}:{page_size}".encode()).decode().rstrip("=")
    check = hashlib.sha256(f"nexttoken/{product_key}/{offset}/{page_size}".encode()).hexdigest()
    return f"{position}.{check[:16]}"


def _token_offset(token: str, product_key: str, page: int, page_size: int) -> int:
    """The row ``token`` continues from; refused unless this page is the one it leads to."""
    position = token.partition(".")[0]
    try:
        offset_text, _, size_text = (
            base64.urlsafe_b64decode(position + "=" * (-len(position) % 4)).decode().partition(":")
        )
        offset, size = int(offset_text), int(size_text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_parameter("NextToken", "is not valid.") from None
    if token != _next_token(product_key, offset, size):
        raise invalid_parameter("NextToken", "is not valid.")
    if size != page_size or offset != (page - 1) * page_size:
        raise invalid_parameter("NextToken", "does not lead to this CurrentPage and PageSize.")
    return offset


def query_device(
    store: DeviceStore, params: Mapping[str, str], rules: PlatformRules
) -> ActionResult:
    """QueryDevice: one page of a product's devices, newest first (rows carry a DeviceSecret)."""
    product_key = _product_key(params)
    _product(store, params, product_key)
    page = _page_number(params, "CurrentPage", 1, 10**9)
    page_size = _page_number(params, "PageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    token = params.get("NextToken") or ""
    total = store.device_count(product_key)
    reach = page * page_size
    if token:
        offset = _token_offset(token, product_key, page, page_size)
        if reach >= rules.max_rows:
            raise invalid_parameter(
                "CurrentPage", f"times PageSize must stay below {rules.max_rows}."
            )
    elif reach > rules.window_rows:
        offset = None  # past the window without a token: the platform returns no data
    else:
        offset = (page - 1) * page_size
    rows = [] if offset is None else store.devices_page(product_key, offset, page_size)
    has_next = offset is not None and offset + page_size < total
    if rules.cut_after is not None and offset is not None:
        rows = rows[: max(rules.cut_after - offset, 0)]
        has_next = has_next and not (rules.cut_ends and offset + page_size >= rules.cut_after)
    return {
        "Success": True,
        "Total": total,
        "PageSize": page_size,
        "PageCount": math.ceil(total / page_size),
        "Page": page,
        "NextToken": _next_token(product_key, offset + page_size, page_size) if has_next else "",
        "Data": {"DeviceInfo": [_device_row(d) for d in rows]},
    }, None


def _detail(device: Device, *, full: bool) -> dict[str, Any]:
    """A device as BatchQueryDeviceDetail lists it, or (``full``) as QueryDeviceDetail does."""
    context = device.context()
    detail = {
        "DeviceName": device.device_name,
        "DeviceSecret": device.device_secret,
        "Status": device.device_status,
        "NodeType": context.node_type,
        "FirmwareVersion": context.firmware_version,
        **_times("Active", context.activated),
        **_times("Create", device.created),
        "IotId": device.iot_id,
        "Nickname": device.nickname,
        "ProductKey": device.product_key,
        "ProductName": f"Product {device.product_key}",
        "Region": REGION,
    }
    if full:
        detail.update(
            **_times("Online", context.last_online),
            IpAddress=context.ip_address,
            Owner=True,
        )
    return detail


def batch_query_device_detail(
    store: DeviceStore, params: Mapping[str, str], rules: PlatformRules
) -> ActionResult:
    """BatchQueryDeviceDetail: 1-100 devices of one product; unknown names are left out.

    A product of another account does not exist for the caller: the whole call fails.
    """
    product_key = _product_key(params)
    numbered = sorted(
        (int(match.group(1)), value)
        for name, value in params.items()
        if (match := _BATCH_NAME.fullmatch(name))
    )
    if not numbered:
        raise missing_parameter("DeviceName.1")
    if len(numbered) > MAX_BATCH_NAMES:
        raise invalid_parameter("DeviceName", f"names at most {MAX_BATCH_NAMES} devices.")
    for _, name in numbered:
        if not is_device_name(name):
            raise BusinessError(
                "iot.device.InvalidFormattedDeviceName", "The format of the device name is invalid."
            )
    _product(store, params, product_key)
    found = (store.get(product_key, name) for _, name in numbered)
    rows = [_detail(device, full=False) for device in found if device is not None]
    return {"Success": True, "Data": {"Data": rows}}, None


def query_device_detail(
    store: DeviceStore, params: Mapping[str, str], rules: PlatformRules
) -> ActionResult:
    """QueryDeviceDetail: one device's details, its last online time and address included."""
    product_key = _product_key(params)
    device_name = _device_name(params)
    _product(store, params, product_key)
    device = store.get(product_key, device_name)
    if device is None:
        raise BusinessError("iot.device.NotExistedDevice", "The specified device does not exist.")
    return {"Success": True, "Data": _detail(device, full=True)}, None


ACTIONS: dict[str, Callable[[DeviceStore, Mapping[str, str], PlatformRules], ActionResult]] = {
    "QueryDeviceCert": query_device_cert,
    "QueryDevice": query_device,
    "BatchQueryDeviceDetail": batch_query_device_detail,
    "QueryDeviceDetail": query_device_detail,
}
