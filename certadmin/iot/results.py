"""What the IoT API client returns: frozen dataclasses, parsed from the platform's JSON.

The parsers here are the client boundary: a ``DeviceSecret`` in a ``QueryDevice`` row is dropped
before any object is built, and a private key is kept out of every ``repr``. A response of the
wrong shape raises ``IotResponseError`` whose message never quotes the response body.
"""

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


@dataclass(frozen=True)
class DeviceListPage:
    """One page of a product's devices (``QueryDevice``)."""

    product_key: str
    iot_instance_id: str | None
    page: int
    page_size: int
    total: int
    page_count: int
    devices: list[DeviceListing]
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
    )
