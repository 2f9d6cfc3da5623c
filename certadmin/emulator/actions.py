"""The IoT service behind the gateway: QueryDeviceCert and QueryDevice.

Each action takes the call's business parameters and returns the response dict (without
``RequestId``) and the device it concerns, or raises BusinessError / GatewayError.
"""

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Any

from certadmin.emulator.errors import BusinessError, invalid_parameter, missing_parameter
from certadmin.emulator.store import (
    Device,
    DeviceStore,
)
from certadmin.iot.identity import is_device_name, is_product_key

MAX_PAGE_SIZE = 50
DEFAULT_PAGE_SIZE = 10

ActionResult = tuple[dict[str, Any], Device | None]


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


def query_device_cert(store: DeviceStore, params: Mapping[str, str]) -> ActionResult:
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


def _device_row(device: Device) -> dict[str, Any]:
    created = device.created
    local = created.astimezone(dt.timezone(dt.timedelta(hours=8)))
    return {
        "DeviceName": device.device_name,
        "DeviceSecret": device.device_secret,
        "IotId": device.iot_id,
        "ProductKey": device.product_key,
        "DeviceStatus": device.device_status,
        "Nickname": device.nickname,
        "GmtCreate": local.strftime("%Y-%m-%d %H:%M:%S"),
        "UtcCreate": created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "DeviceType": "X509",
    }


def query_device(store: DeviceStore, params: Mapping[str, str]) -> ActionResult:
    """QueryDevice: one page of a product's devices (rows carry a DeviceSecret)."""
    product_key = _product_key(params)
    _product(store, params, product_key)
    page = _page_number(params, "CurrentPage", 1, 10**6)
    page_size = _page_number(params, "PageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    devices = store.devices_of(product_key)
    rows = devices[(page - 1) * page_size : page * page_size]
    return {
        "Success": True,
        "Total": len(devices),
        "PageSize": page_size,
        "PageCount": math.ceil(len(devices) / page_size),
        "Page": page,
        "Data": {"DeviceInfo": [_device_row(d) for d in rows]},
    }, None


ACTIONS: dict[str, Callable[[DeviceStore, Mapping[str, str]], ActionResult]] = {
    "QueryDeviceCert": query_device_cert,
    "QueryDevice": query_device,
}
