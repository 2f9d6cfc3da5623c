"""Devices the emulator knows, and the devices file that adds to them.

A devices file is JSON::

    {"devices": [{"product_key": "a1Demo7Sh2x", "device_name": "odd-one",
                  "iot_instance_id": "iot-06z00demo0ent",     # optional, enterprise instance
                  "status": 2,                                # optional: 0, 1 or 2 (default)
                  "cert_sn": "123", "certificate": "...", "private_key": "...",  # optional
                  "fault": {"latency": 1.5, "http_status": 503, "malformed": true,
                            "drop": true},                    # optional
                  "key_type": "rsa", "key_format": "pkcs8",   # optional, for issued certs
                  "text_form": "pem", "valid_days": 20,       # optional, for issued certs
                  "nickname": "Boiler_2",                     # optional, QueryDevice's Nickname
                  "device_status": "OFFLINE"}]}               # optional, default ONLINE

An entry replaces a seeded device with the same ProductKey and DeviceName. Certificate, key
and CertSN strings given in the file are returned verbatim; if neither certificate nor key is
given (and status is 2) the emulator issues a certificate from its CA on first query.
"""

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certadmin.emulator.ca import (
    KEY_FORMATS,
    KEY_TYPES,
    TEXT_FORMS,
    CertificateSpec,
    EmulatorCA,
    IssuedCertificate,
)
from certadmin.emulator.faults import DeviceFault
from certadmin.iot.identity import is_device_name, is_product_key

STATUS_GENERATING, STATUS_FAILED, STATUS_READY = 0, 1, 2

_ENTRY_KEYS = {
    "product_key",
    "device_name",
    "iot_instance_id",
    "status",
    "cert_sn",
    "certificate",
    "private_key",
    "fault",
    "key_type",
    "key_format",
    "text_form",
    "valid_days",
    "nickname",
    "device_status",
}
DEVICE_STATUSES = ("ONLINE", "OFFLINE", "UNACTIVE", "DISABLE")
_EPOCH = dt.datetime(2025, 1, 6, 8, 0, tzinfo=dt.UTC)


class DevicesFileError(ValueError):
    """A devices file (or ``add_device`` entry) that cannot be used, with the reason."""


@dataclass
class Device:
    """One device of a product, with what QueryDeviceCert and QueryDevice say about it."""

    product_key: str
    device_name: str
    iot_instance_id: str | None = None
    status: int = STATUS_READY
    cert_sn: str | None = None
    certificate: str | None = None
    private_key: str | None = None
    spec: CertificateSpec = field(default_factory=CertificateSpec)
    fault: DeviceFault | None = None
    device_status: str = "ONLINE"
    nickname: str = ""
    created: dt.datetime = _EPOCH
    _issued: IssuedCertificate | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def iot_id(self) -> str:
        """A stable IotId-like identifier derived from the names."""
        digest = hashlib.sha256(f"iotid/{self.product_key}/{self.device_name}".encode())
        return digest.hexdigest()[:20] + "000100"

    @property
    def device_secret(self) -> str:
        """A stable, fake DeviceSecret (QueryDevice returns one; clients must drop it)."""
        digest = hashlib.sha256(f"secret/{self.product_key}/{self.device_name}".encode())
        return digest.hexdigest()[:32]


def validate_names(product_key: str, device_name: str) -> None:
    """Raise DevicesFileError unless both names follow the platform's naming rules."""
    if not isinstance(product_key, str) or not is_product_key(product_key):
        raise DevicesFileError(f"product_key {product_key!r} is not 4-32 letters or digits")
    if not isinstance(device_name, str) or not is_device_name(device_name):
        raise DevicesFileError(
            f"device_name {device_name!r} is not 4-32 characters of letters, digits and -_.@:"
        )


def _optional_string(entry: Mapping[str, Any], key: str) -> str | None:
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise DevicesFileError(f"{key} must be a string")
    return value


def _choice(entry: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str) -> str:
    value = entry.get(key, default)
    if value not in choices:
        raise DevicesFileError(f"{key} must be one of {', '.join(choices)}")
    return value


def device_from_entry(entry: Mapping[str, Any]) -> Device:
    """Build a Device from one devices-file entry; raise DevicesFileError if it is invalid."""
    if not isinstance(entry, Mapping):
        raise DevicesFileError("each device must be an object")
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise DevicesFileError(f"unknown keys: {', '.join(sorted(unknown))}")
    product_key, device_name = entry.get("product_key"), entry.get("device_name")
    validate_names(product_key, device_name)
    instance = _optional_string(entry, "iot_instance_id") or None
    status = entry.get("status", STATUS_READY)
    if status not in (STATUS_GENERATING, STATUS_FAILED, STATUS_READY) or isinstance(status, bool):
        raise DevicesFileError("status must be 0, 1 or 2")
    valid_days = entry.get("valid_days")
    if valid_days is not None and (
        isinstance(valid_days, bool) or not isinstance(valid_days, int | float)
    ):
        raise DevicesFileError("valid_days must be a number")
    spec = CertificateSpec(
        key_type=_choice(entry, "key_type", KEY_TYPES, "rsa"),
        key_format=_choice(entry, "key_format", KEY_FORMATS, "pkcs1"),
        text_form=_choice(entry, "text_form", TEXT_FORMS, "pem"),
        valid_days=valid_days,
    )
    try:
        fault = DeviceFault.from_dict(entry["fault"]) if entry.get("fault") is not None else None
    except ValueError as exc:
        raise DevicesFileError(str(exc)) from exc
    return Device(
        product_key=product_key,
        device_name=device_name,
        iot_instance_id=instance,
        status=status,
        cert_sn=_optional_string(entry, "cert_sn"),
        certificate=_optional_string(entry, "certificate"),
        private_key=_optional_string(entry, "private_key"),
        spec=spec,
        fault=fault,
        device_status=_choice(entry, "device_status", DEVICE_STATUSES, "ONLINE"),
        nickname=_optional_string(entry, "nickname") or "",
    )


def load_devices_file(path: str | Path) -> list[Device]:
    """Read a devices file; raise DevicesFileError naming the file and the problem."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DevicesFileError(f"cannot read devices file {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DevicesFileError(f"devices file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("devices"), list):
        raise DevicesFileError(f'devices file {path} must be {{"devices": [...]}}')
    devices = []
    for index, entry in enumerate(data["devices"]):
        try:
            devices.append(device_from_entry(entry))
        except DevicesFileError as exc:
            raise DevicesFileError(f"devices file {path}, device #{index + 1}: {exc}") from exc
    return devices


class DeviceStore:
    """Products (each on the public or an enterprise instance) and their devices.

    Certificates are issued lazily, on a device's first query, and kept in memory.
    """

    def __init__(self, ca: EmulatorCA, devices: Iterable[Device] = ()) -> None:
        self._ca = ca
        self._lock = threading.Lock()
        self._products: dict[str, str | None] = {}
        # ProductKey -> DeviceName -> Device, in creation order (a replaced device keeps its
        # place), so QueryDevice pages a 5,000-device product without sorting it each call.
        self._devices: dict[str, dict[str, Device]] = {}
        self._count = 0
        for device in devices:
            self.add(device)

    def add(self, device: Device) -> None:
        """Add a device, replacing any with the same ProductKey and DeviceName."""
        with self._lock:
            known = self._products.get(device.product_key, device.iot_instance_id)
            if known != device.iot_instance_id:
                raise DevicesFileError(
                    f"product {device.product_key} is on instance {known or '(public)'}, "
                    f"not {device.iot_instance_id or '(public)'}"
                )
            self._products[device.product_key] = device.iot_instance_id
            product = self._devices.setdefault(device.product_key, {})
            replaced = product.get(device.device_name)
            if replaced is None:
                device.created = _EPOCH + dt.timedelta(minutes=self._count)
                self._count += 1
            else:
                device.created = replaced.created
            product[device.device_name] = device

    def product_instance(self, product_key: str) -> tuple[bool, str | None]:
        """``(exists, iot_instance_id)`` for a ProductKey (instance None: public instance)."""
        with self._lock:
            return product_key in self._products, self._products.get(product_key)

    def instances(self) -> set[str]:
        """The enterprise instance ids that hold at least one product."""
        with self._lock:
            return {i for i in self._products.values() if i}

    def get(self, product_key: str, device_name: str) -> Device | None:
        """The device, or None."""
        with self._lock:
            return self._devices.get(product_key, {}).get(device_name)

    def devices_of(self, product_key: str) -> list[Device]:
        """A product's devices in creation order."""
        with self._lock:
            return list(self._devices.get(product_key, {}).values())

    def certificate_info(self, device: Device) -> dict[str, Any]:
        """The ``DeviceCertInfo`` of a device, issuing its certificate on first use."""
        certificate, private_key, cert_sn = "", "", device.cert_sn
        if device.certificate is not None or device.private_key is not None:
            certificate, private_key = device.certificate or "", device.private_key or ""
        elif device.status == STATUS_READY:
            with device._lock:
                if device._issued is None:
                    device._issued = self._ca.issue(device.spec)
            certificate, private_key = device._issued.certificate, device._issued.private_key
            cert_sn = cert_sn if cert_sn is not None else device._issued.cert_sn
        if cert_sn is None:
            digest = hashlib.sha256(f"certsn/{device.product_key}/{device.device_name}".encode())
            cert_sn = str(int(digest.hexdigest()[:15], 16))
        return {
            "CertSN": cert_sn,
            "Certificate": certificate,
            "PrivateKey": private_key,
            "Status": device.status,
        }
