"""What the IoT API client returns: frozen dataclasses, parsed from the platform's JSON.

The parsers here are the client boundary: a ``DeviceSecret`` (in a ``QueryDevice`` row or a
detail answer) is never read, so it is dropped before any object is built, and a private key is
kept out of every ``repr``. A response of the
wrong shape raises ``IotResponseError`` whose message never quotes the response body.
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from certadmin.certs.key_material import (
    KeyMaterialMatcher,
    WithheldCertificate,
    certificate_withheld,
    key_material_matcher,
)
from certadmin.iot.errors import IotResponseError
from certadmin.iot.platform_text import platform_identifier, platform_message, platform_token


class CertStatus(IntEnum):
    """``DeviceCertInfo.Status``: whether the platform has issued the device's certificate."""

    GENERATING = 0
    FAILED = 1
    READY = 2


@dataclass(frozen=True)
class DeviceCert:
    """A device's X.509 certificate and private key, as ``QueryDeviceCert`` returned them.

    ``certificate`` and ``private_key`` are the platform's strings verbatim (PEM or bare base64,
    undocumented); they are empty unless ``status`` is READY. ``private_key`` never shows in
    ``repr``/``str``.

    What carries the private key itself is withheld here, where the answer is read: a CertSN
    or RequestId holding key material is ``certs.key_material.WITHHELD``, and a certificate
    holding it is not kept (``certificate`` is "") but described by ``certificate_withheld``.
    """

    product_key: str
    device_name: str
    iot_instance_id: str | None
    status: CertStatus
    cert_sn: str
    certificate: str
    private_key: str = field(repr=False)
    request_id: str
    certificate_withheld: WithheldCertificate | None = None


@dataclass(frozen=True)
class DeviceListing:
    """One row of ``QueryDevice``, without its DeviceSecret."""

    device_name: str
    nickname: str
    device_status: str
    iot_id: str
    created: str
    # ``UtcModified``: when the device's listing row last changed ("" when not given).
    modified: str = ""


@dataclass(frozen=True)
class DeviceListPage:
    """One page of a product's devices (``QueryDevice``).

    ``next_token``: what to send with the next page ("" when the platform says there is none:
    the listing ends here).
    """

    product_key: str
    iot_instance_id: str | None
    page: int
    page_size: int
    total: int
    page_count: int
    devices: list[DeviceListing]
    request_id: str
    next_token: str = ""


@dataclass(frozen=True)
class DeviceDetail:
    """One device as ``BatchQueryDeviceDetail`` or ``QueryDeviceDetail`` describes it, without
    its DeviceSecret.

    ``status`` is the platform's word (``ONLINE``, ``OFFLINE``, ``UNACTIVE``, ``DISABLE``);
    ``node_type`` 0 (device) or 1 (gateway), None when not given. Times are UTC, None when the
    platform gives none (a device never activated) or one that cannot be read.
    ``last_online`` and ``ip_address`` come only from ``QueryDeviceDetail``.
    """

    product_key: str
    device_name: str
    iot_id: str
    nickname: str
    status: str
    node_type: int | None
    firmware_version: str
    product_name: str
    region: str
    created: dt.datetime | None
    activated: dt.datetime | None
    last_online: dt.datetime | None = None
    ip_address: str = ""


@dataclass(frozen=True)
class DeviceDetails:
    """The devices a ``BatchQueryDeviceDetail`` call found (names it did not know are left out)."""

    product_key: str
    iot_instance_id: str | None
    devices: list[DeviceDetail]
    request_id: str


def _malformed(message: str, request_id: str) -> IotResponseError:
    return IotResponseError("Response.Malformed", message, request_id=request_id)


def _text(value: Any, name: str, request_id: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _malformed(f"{name} is not a string", request_id)
    return str(value)


def _integer(value: Any, name: str, request_id: str, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool):
        raise _malformed(f"{name} is not an integer", request_id)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise _malformed(f"{name} is not an integer", request_id)


def parse_device_cert(
    data: Mapping[str, Any],
    *,
    product_key: str,
    device_name: str,
    iot_instance_id: str | None,
    request_id: str,
    key_material: KeyMaterialMatcher | None = None,
) -> DeviceCert:
    """Build a ``DeviceCert`` from a successful ``QueryDeviceCert`` response body.

    ``key_material``: the matcher for the answer's own PrivateKey, when the caller built it
    already (the client, to screen the RequestId); built here otherwise. Raises
    ``IotResponseError`` ("Response.Malformed") when ``DeviceCertInfo`` is missing or its
    ``Status`` is not one of the documented values.
    """
    info = data.get("DeviceCertInfo")
    if not isinstance(info, Mapping):
        raise _malformed("DeviceCertInfo is missing", request_id)
    status_value = _integer(info.get("Status"), "DeviceCertInfo.Status", request_id)
    try:
        status = CertStatus(status_value)
    except ValueError:
        raise _malformed(f"unknown DeviceCertInfo.Status {status_value}", request_id) from None
    private_key = _text(info.get("PrivateKey"), "DeviceCertInfo.PrivateKey", request_id)
    if key_material is None:
        key_material = key_material_matcher(private_key_text=private_key)
    certificate = _text(info.get("Certificate"), "DeviceCertInfo.Certificate", request_id)
    withheld = certificate_withheld(certificate, key_material)
    return DeviceCert(
        product_key=product_key,
        device_name=device_name,
        iot_instance_id=iot_instance_id,
        status=status,
        # A CertSN is a serial number: one that carries the key is withheld, anything else not
        # of its shape is kept only as a length and a digest.
        cert_sn=platform_identifier(
            _text(info.get("CertSN"), "DeviceCertInfo.CertSN", request_id),
            key_material=key_material,
        ),
        certificate="" if withheld else certificate,
        private_key=private_key,
        request_id=key_material.withheld(request_id),
        certificate_withheld=withheld,
    )


def _device_rows(data: Mapping[str, Any], request_id: str) -> list[Mapping[str, Any]]:
    container = data.get("Data")
    if container is None or container == "":
        return []
    if not isinstance(container, Mapping):
        raise _malformed("Data is not an object", request_id)
    rows = container.get("DeviceInfo", [])
    if isinstance(rows, Mapping):  # a one-row page converted from XML
        rows = [rows]
    if not isinstance(rows, list) or not all(isinstance(row, Mapping) for row in rows):
        raise _malformed("Data.DeviceInfo is not a list of objects", request_id)
    return rows


def parse_device_list_page(
    data: Mapping[str, Any],
    *,
    product_key: str,
    iot_instance_id: str | None,
    page: int,
    page_size: int,
    request_id: str,
) -> DeviceListPage:
    """Build a ``DeviceListPage`` from a successful ``QueryDevice`` response body.

    Only the listed fields of each row are read: ``DeviceSecret`` never leaves this function.
    """
    devices = [
        DeviceListing(
            device_name=platform_token(_text(row.get("DeviceName"), "DeviceName", request_id)),
            nickname=platform_message(
                _text(row.get("Nickname"), "Nickname", request_id), max_length=128
            ),
            device_status=platform_token(
                _text(row.get("DeviceStatus"), "DeviceStatus", request_id)
            ),
            iot_id=platform_token(_text(row.get("IotId"), "IotId", request_id)),
            created=platform_message(
                _text(row.get("UtcCreate") or row.get("GmtCreate"), "UtcCreate", request_id),
                max_length=64,
            ),
            modified=platform_message(
                _text(row.get("UtcModified"), "UtcModified", request_id), max_length=64
            ),
        )
        for row in _device_rows(data, request_id)
    ]
    total = _integer(data.get("Total"), "Total", request_id, default=len(devices))
    size = _integer(data.get("PageSize"), "PageSize", request_id, default=page_size)
    page_count = _integer(
        data.get("PageCount"),
        "PageCount",
        request_id,
        default=(total + size - 1) // size if size else 0,
    )
    return DeviceListPage(
        product_key=product_key,
        iot_instance_id=iot_instance_id,
        page=_integer(data.get("Page"), "Page", request_id, default=page),
        page_size=size,
        total=total,
        page_count=page_count,
        devices=devices,
        request_id=request_id,
        next_token=_next_token(data.get("NextToken"), request_id),
    )


NEXT_TOKEN_MAX_LENGTH = 1024


def _next_token(value: Any, request_id: str) -> str:
    """The opaque cursor, verbatim (it goes back to the platform as it came), but only when it
    is one run of printable ASCII: anything else is a malformed answer, not something to keep."""
    token = _text(value, "NextToken", request_id)
    if token and (
        len(token) > NEXT_TOKEN_MAX_LENGTH
        or not token.isascii()
        or not all(ch.isprintable() and not ch.isspace() for ch in token)
    ):
        raise _malformed("NextToken is not a paging token", request_id)
    return token


def _utc_time(value: Any) -> dt.datetime | None:
    """An ISO UTC time such as ``2025-01-06T08:00:00.000Z``; None when absent or unreadable
    (a time the page cannot show is not worth failing the answer for)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _node_type(value: Any, request_id: str) -> int | None:
    if value is None or value == "":
        return None
    return _integer(value, "NodeType", request_id)


def _device_detail(row: Mapping[str, Any], product_key: str, request_id: str) -> DeviceDetail:
    # Only the fields named here are read: DeviceSecret never leaves the answer.
    def text(name: str, max_length: int = 128) -> str:
        return platform_message(_text(row.get(name), name, request_id), max_length=max_length)

    return DeviceDetail(
        product_key=product_key,
        device_name=platform_token(_text(row.get("DeviceName"), "DeviceName", request_id)),
        iot_id=platform_token(_text(row.get("IotId"), "IotId", request_id)),
        nickname=text("Nickname"),
        status=platform_token(_text(row.get("Status"), "Status", request_id)),
        node_type=_node_type(row.get("NodeType"), request_id),
        firmware_version=text("FirmwareVersion", 64),
        product_name=text("ProductName"),
        region=platform_token(_text(row.get("Region"), "Region", request_id)),
        created=_utc_time(row.get("UtcCreate")),
        activated=_utc_time(row.get("UtcActive")),
        last_online=_utc_time(row.get("UtcOnline")),
        ip_address=text("IpAddress", 64),
    )


def parse_device_detail(
    data: Mapping[str, Any], *, product_key: str, request_id: str
) -> DeviceDetail:
    """Build a ``DeviceDetail`` from a successful ``QueryDeviceDetail`` response body."""
    row = data.get("Data")
    if not isinstance(row, Mapping):
        raise _malformed("Data is missing", request_id)
    return _device_detail(row, product_key, request_id)


def parse_device_details(
    data: Mapping[str, Any], *, product_key: str, iot_instance_id: str | None, request_id: str
) -> DeviceDetails:
    """Build ``DeviceDetails`` from a successful ``BatchQueryDeviceDetail`` response body."""
    container = data.get("Data")
    rows: Any = []
    if container not in (None, ""):
        if not isinstance(container, Mapping):
            raise _malformed("Data is not an object", request_id)
        rows = container.get("Data", [])
    if isinstance(rows, Mapping):  # one device, converted from XML
        rows = [rows]
    if not isinstance(rows, list) or not all(isinstance(row, Mapping) for row in rows):
        raise _malformed("Data.Data is not a list of objects", request_id)
    return DeviceDetails(
        product_key=product_key,
        iot_instance_id=iot_instance_id,
        devices=[_device_detail(row, product_key, request_id) for row in rows],
        request_id=request_id,
    )
