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
                  "device_status": "OFFLINE",                 # optional, default ONLINE
                  "node_type": 1,                             # optional: 0 device, 1 gateway
                  "firmware_version": "2.4.1"}]}              # optional

An entry replaces a seeded device with the same ProductKey and DeviceName. Certificate, key
and CertSN strings given in the file are returned verbatim; if neither certificate nor key is
given (and status is 2) the emulator issues a certificate from its CA on first query.

A device added later is newer than every seeded one: QueryDevice lists it first (newest first).
What the detail calls say beyond the names (node type, firmware, activation and last online
time, IP address) follows from the device's names and status unless the entry sets it.
"""

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping
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
    "node_type",
    "firmware_version",
}
DEVICE_STATUSES = ("ONLINE", "OFFLINE", "UNACTIVE", "DISABLE")
# Devices added to a running emulator are created from here on, a minute apart; seeded ones
# are older (see seed.py), so a device added by a test is listed first.
_EPOCH = dt.datetime(2025, 1, 6, 8, 0, tzinfo=dt.UTC)
NODE_DEVICE, NODE_GATEWAY = 0, 1
# Last online times fall in the weeks before this instant (fixed: the same at every start).
_LAST_ONLINE_BEFORE = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class DeviceContext:
    """What BatchQueryDeviceDetail and QueryDeviceDetail say about a device besides its names.

    ``activated`` and ``last_online`` are None for a device never activated.
    """

    node_type: int
    firmware_version: str
    activated: dt.datetime | None
    last_online: dt.datetime | None
    modified: dt.datetime
    ip_address: str


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
    # None until a store adds the device (then: its creation time, which orders QueryDevice).
    created: dt.datetime | None = None
    # None: follows from the names (see ``context``).
    node_type: int | None = None
    firmware_version: str | None = None
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

    def context(self) -> DeviceContext:
        """Node type, firmware, activation and last online time: the same at every start.

        A device named like a gateway (``gateway-07``, ``ent-gw-01``) is one, as is about one
        in twenty others; a device never activated has no firmware, activation or online time.
        """
        digest = hashlib.sha256(f"context/{self.product_key}/{self.device_name}".encode()).digest()
        draws = [int.from_bytes(digest[i : i + 4]) for i in range(0, 24, 4)]
        created = self.created or _EPOCH
        node_type = self.node_type
        if node_type is None:
            named_gateway = "gateway" in self.device_name or "-gw-" in self.device_name
            node_type = NODE_GATEWAY if named_gateway or draws[0] % 20 == 0 else NODE_DEVICE
        modified = created + dt.timedelta(minutes=draws[1] % (60 * 24 * 90))
        if self.device_status == "UNACTIVE":
            return DeviceContext(node_type, self.firmware_version or "", None, None, modified, "")
        firmware = self.firmware_version
        if firmware is None:
            firmware = f"{1 + draws[2] % 3}.{draws[2] // 3 % 10}.{draws[2] // 30 % 20}"
        activated = created + dt.timedelta(minutes=10 + draws[3] % (60 * 72))
        last_online = max(activated, _LAST_ONLINE_BEFORE - dt.timedelta(minutes=draws[4] % 40000))
        address = f"10.{draws[5] % 256}.{draws[5] // 256 % 256}.{1 + draws[5] // 65536 % 254}"
        return DeviceContext(node_type, firmware, activated, last_online, modified, address)


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
        node_type=_node_type(entry),
        firmware_version=_optional_string(entry, "firmware_version"),
    )


def _node_type(entry: Mapping[str, Any]) -> int | None:
    value = entry.get("node_type")
    if value is not None and (isinstance(value, bool) or value not in (NODE_DEVICE, NODE_GATEWAY)):
        raise DevicesFileError("node_type must be 0 (device) or 1 (gateway)")
    return value


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


@dataclass(frozen=True)
class GeneratedProduct:
    """A product whose devices exist only as numbers until one is asked for.

    ``device_at(index)`` builds the device listed at ``index`` (0: the newest), with its
    ``created`` time set; ``index_of(name)`` is its inverse (None: no such device). Both are
    pure, so a device is the same at every call and at every start.
    """

    product_key: str
    count: int
    device_at: Callable[[int], Device]
    index_of: Callable[[str], int | None]


class DeviceStore:
    """Products (each on the public or an enterprise instance) and their devices.

    Certificates are issued lazily, on a device's first query, and kept in memory. A generated
    product's devices are built from their index when listed or asked for; only those asked
    for by name are kept (with their certificate).
    """

    def __init__(self, ca: EmulatorCA, devices: Iterable[Device] = ()) -> None:
        self._ca = ca
        self._lock = threading.Lock()
        self._products: dict[str, str | None] = {}
        # ProductKey -> DeviceName -> Device, in the order added (a replaced device keeps its
        # place and its creation time).
        self._devices: dict[str, dict[str, Device]] = {}
        # ProductKey -> its devices newest first, worked out when first listed after a change.
        self._listing: dict[str, list[Device]] = {}
        self._generated: dict[str, GeneratedProduct] = {}
        # Generated devices replaced by ``add`` or asked for by name, per product.
        self._known: dict[str, dict[str, Device]] = {}
        self._count = 0
        for device in devices:
            self.add(device)

    def _instance_check(self, product_key: str, iot_instance_id: str | None) -> None:
        known = self._products.get(product_key, iot_instance_id)
        if known != iot_instance_id:
            raise DevicesFileError(
                f"product {product_key} is on instance {known or '(public)'}, "
                f"not {iot_instance_id or '(public)'}"
            )
        self._products[product_key] = iot_instance_id

    def add(self, device: Device) -> None:
        """Add a device, replacing any with the same ProductKey and DeviceName."""
        with self._lock:
            self._instance_check(device.product_key, device.iot_instance_id)
            generated = self._generated.get(device.product_key)
            if generated is not None and generated.index_of(device.device_name) is not None:
                replaced = self._generated_device(generated, device.device_name)
                device.created = replaced.created
                self._known[device.product_key][device.device_name] = device
                return
            product = self._devices.setdefault(device.product_key, {})
            replaced = product.get(device.device_name)
            if replaced is not None:
                device.created = replaced.created
            elif device.created is None:
                device.created = _EPOCH + dt.timedelta(minutes=self._count)
                self._count += 1
            product[device.device_name] = device
            self._listing.pop(device.product_key, None)

    def add_generated(self, product: GeneratedProduct, iot_instance_id: str | None = None) -> None:
        """Add a generated product (its devices are older than any added one)."""
        with self._lock:
            self._instance_check(product.product_key, iot_instance_id)
            self._generated[product.product_key] = product
            self._known.setdefault(product.product_key, {})

    def _generated_device(self, generated: GeneratedProduct, device_name: str) -> Device:
        # Called with the lock held; the name is known to be one of the product's.
        known = self._known[generated.product_key]
        device = known.get(device_name)
        if device is None:
            device = known[device_name] = generated.device_at(generated.index_of(device_name))
        return device

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
            device = self._devices.get(product_key, {}).get(device_name)
            generated = self._generated.get(product_key)
            if (
                device is None
                and generated is not None
                and generated.index_of(device_name) is not None
            ):
                device = self._generated_device(generated, device_name)
            return device

    def _added_newest_first(self, product_key: str) -> list[Device]:
        listing = self._listing.get(product_key)
        if listing is None:
            added = self._devices.get(product_key, {}).values()
            listing = sorted(added, key=lambda device: device.created, reverse=True)
            self._listing[product_key] = listing
        return listing

    def device_count(self, product_key: str) -> int:
        """How many devices the product has."""
        with self._lock:
            generated = self._generated.get(product_key)
            extra = generated.count if generated is not None else 0
            return len(self._devices.get(product_key, {})) + extra

    def devices_page(self, product_key: str, offset: int, limit: int) -> list[Device]:
        """Devices ``offset`` to ``offset + limit`` of the product, newest first."""
        with self._lock:
            added = self._added_newest_first(product_key)
            page = added[offset : offset + limit]
            generated = self._generated.get(product_key)
            if generated is None or len(page) >= limit:
                return page
            known = self._known[product_key]
            first = max(offset - len(added), 0)
            last = min(first + limit - len(page), generated.count)
            for index in range(first, last):
                device = generated.device_at(index)
                page.append(known.get(device.device_name, device))
            return page

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
