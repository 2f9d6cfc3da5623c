"""The demo data every emulator starts with.

Product ``a1Demo7Sh2x`` on the public instance:

==================  ======  =====================================================================
DeviceName          Status  what it is for
==================  ======  =====================================================================
thermo-001          2       ready; RSA 2048, full PEM, PKCS#1 key ("RSA PRIVATE KEY")
thermo-002          2       ready; PKCS#8 key ("PRIVATE KEY")
thermo-003          2       ready; PKCS#1 key; QueryDevice shows it OFFLINE
gateway-07          2       ready; PKCS#8 key
cam-lobby:01        2       ready; a ``:`` in the name (URL and signature encoding)
lab.probe@b2        2       ready; ``.`` and ``@`` in the name
sensor-gen          0       certificate being generated: empty Certificate and PrivateKey
sensor-fail         1       certificate generation failed: empty Certificate and PrivateKey
meter-expiring      2       certificate expires in 20 days (notAfter = first query + 20 days)
meter-expired       2       certificate expired 30 days before its first query
edge-ec01           2       EC P-256 key (PKCS#8), certificate signed by the RSA CA
legacy-b64          2       certificate and PKCS#1 key as headerless base64 with CRLF breaks
sensor-0001..0055   2       55 plain devices so QueryDevice paging is real (odd: PKCS#1,
                            even: PKCS#8); most ONLINE, a few OFFLINE, DISABLE or UNACTIVE
                            (see :func:`sensor_device_status`)
==================  ======  =====================================================================

Seeded devices are listed in the order above, which is their creation order newest first
(QueryDevice lists the newest first): ``thermo-001`` is the newest. The detail calls' node type
(``gateway-07`` and ``ent-gw-01`` are gateways, as is about one in twenty others), firmware,
activation and last online time follow from each device's names and status
(``Device.context``).

Product ``a1Ent0Prd9k`` on the enterprise instance ``iot-06z00demo0ent`` (queries must pass
``IotInstanceId=iot-06z00demo0ent``, else ``iot.system.InstanceNotFound``):
``ent-gw-01`` and ``ent-meter-02``, both ready.

Product ``a1Fleet5kXz`` on the public instance: the fleet, 5,000 devices ``line1-unit-00001``
to ``line3-unit-05000`` (units 1-2000 on line 1, 2001-4000 on line 2, the rest on line 3).
Everything about a fleet device follows from its name (see :func:`fleet_profile`): nickname
(some empty), device status (ONLINE, OFFLINE, UNACTIVE, DISABLE), certificate status (about 1 %
each 0 and 1) and validity counted from its first query: about 4 % expired, 2 % expiring within
7 days, 4 % within 30, 6 % within 90, 37 % between 90 days and 24 months, 35 % in 2 to 10
years, the rest the platform's usual 100 years. Their RSA keys come from the CA's key pool.

Product ``a1Scale120k`` on the public instance: 120,000 devices ``node-000001`` (the newest) to
``node-120000``, generated lazily: a device exists only as its number until it is listed or
asked for, and everything about it follows from its name as for the fleet (so the emulator
still starts at once). Listing it reaches past QueryDevice's 10,000-row window (NextToken) and
past the 100,000-row offset where QueryDevice's quota falls to 2 calls/s.

Certificates come from the emulator's own CA (``CN=Alibaba Cloud IoT Operation CA1,
O=Alibaba Cloud IoT, C=CN``, a new key at every start) and are issued on a device's first
query. CertSN is the certificate's serial number in decimal.

A second account (the demo's ``staging`` AccessKey pair, ``seeded_staging_devices``) owns
product ``a1Stg0Demo1`` (``stage-001`` to ``stage-003``) and its own ``a1Demo7Sh2x`` with one
device, ``thermo-001``: the same names as the first account's, a different device and
certificate. The first account's other products do not exist for it.
"""

import datetime as dt
import hashlib
import itertools
import re
from dataclasses import dataclass

from certadmin.emulator.ca import CertificateSpec
from certadmin.emulator.store import (
    STATUS_FAILED,
    STATUS_GENERATING,
    STATUS_READY,
    Device,
    GeneratedProduct,
)

DEMO_PRODUCT_KEY = "a1Demo7Sh2x"
ENTERPRISE_PRODUCT_KEY = "a1Ent0Prd9k"
ENTERPRISE_INSTANCE_ID = "iot-06z00demo0ent"
STAGING_PRODUCT_KEY = "a1Stg0Demo1"
SENSOR_COUNT = 55
FLEET_PRODUCT_KEY = "a1Fleet5kXz"
FLEET_SIZE = 5000
FLEET_UNITS_PER_LINE = 2000
SCALE_PRODUCT_KEY = "a1Scale120k"
SCALE_SIZE = 120_000
# The newest seeded device's creation time; each next one in a seed list is a minute older.
# The generated product's devices are older still. Devices added later are newer (store.py).
_SEED_NEWEST = dt.datetime(2024, 12, 31, 8, 0, tzinfo=dt.UTC)
_SCALE_NEWEST = dt.datetime(2024, 6, 1, 8, 0, tzinfo=dt.UTC)
_SCALE_NAME = re.compile(r"node-(\d{6})")

SEEDED_DEVICES = """\
| ProductKey | DeviceName | Status | what it is for |
|---|---|---|---|
| a1Demo7Sh2x | thermo-001 | 2 | ready; RSA 2048, full PEM, PKCS#1 key ("RSA PRIVATE KEY") |
| a1Demo7Sh2x | thermo-002 | 2 | ready; PKCS#8 key ("PRIVATE KEY") |
| a1Demo7Sh2x | thermo-003 | 2 | ready; PKCS#1 key; QueryDevice shows it OFFLINE |
| a1Demo7Sh2x | gateway-07 | 2 | ready; PKCS#8 key |
| a1Demo7Sh2x | cam-lobby:01 | 2 | ready; a `:` in the name |
| a1Demo7Sh2x | lab.probe@b2 | 2 | ready; `.` and `@` in the name |
| a1Demo7Sh2x | sensor-gen | 0 | being generated: empty certificate and key |
| a1Demo7Sh2x | sensor-fail | 1 | generation failed: empty certificate and key |
| a1Demo7Sh2x | meter-expiring | 2 | certificate expires 20 days after it is issued (first query) |
| a1Demo7Sh2x | meter-expired | 2 | certificate expired 30 days before it was issued (first query) |
| a1Demo7Sh2x | edge-ec01 | 2 | EC P-256 key (PKCS#8) |
| a1Demo7Sh2x | legacy-b64 | 2 | certificate and PKCS#1 key as headerless base64, CRLF line breaks |
| a1Demo7Sh2x | sensor-0001 … sensor-0055 | 2 | plain devices for QueryDevice paging |
| a1Ent0Prd9k | ent-gw-01, ent-meter-02 | 2 | instance iot-06z00demo0ent: IotInstanceId required |
| a1Fleet5kXz | line1-unit-00001 … line3-unit-05000 | mixed | 5,000 devices, spread expiry |
| a1Scale120k | node-000001 … node-120000 | mixed | 120,000 devices, generated lazily |
"""

# (share of the fleet, certificate status, (least, most) days of validity; None: 100 years)
_VALIDITY_BANDS: tuple[tuple[float, int, tuple[float, float] | None], ...] = (
    (0.01, STATUS_GENERATING, None),
    (0.01, STATUS_FAILED, None),
    (0.04, STATUS_READY, (-400.0, -1.0)),
    (0.02, STATUS_READY, (0.5, 6.5)),
    (0.04, STATUS_READY, (7.5, 29.5)),
    (0.06, STATUS_READY, (30.5, 89.5)),
    (0.37, STATUS_READY, (90.5, 729.5)),
    (0.35, STATUS_READY, (730.0, 3650.0)),
    (0.10, STATUS_READY, None),
)
_DEVICE_STATUSES = ((0.62, "ONLINE"), (0.87, "OFFLINE"), (0.95, "UNACTIVE"), (1.0, "DISABLE"))
_AREAS = (
    "BoilerRoom",
    "Packing",
    "ColdStore",
    "Assembly",
    "PaintShop",
    "LoadingBay",
    "冷库",
    "装配线",
)


@dataclass(frozen=True)
class FleetProfile:
    """What the emulator says about one fleet device, derived from its name alone."""

    nickname: str
    device_status: str
    status: int
    # Days from the first query to notAfter (negative: expired); None: the usual 100 years.
    valid_days: float | None


def fleet_device_name(unit: int) -> str:
    """The DeviceName of fleet unit ``unit`` (1-based): ``line3-unit-04321``."""
    return f"line{(unit - 1) // FLEET_UNITS_PER_LINE + 1}-unit-{unit:05d}"


def _fractions(device_name: str) -> list[float]:
    digest = hashlib.sha256(f"fleet/{device_name}".encode()).digest()
    return [int.from_bytes(digest[i : i + 4]) / 2**32 for i in range(0, 16, 4)]


def fleet_profile(device_name: str) -> FleetProfile:
    """The fleet device's nickname, statuses and validity, the same at every start."""
    band_draw, days_draw, status_draw, nick_draw = _fractions(device_name)
    unit = int(device_name.rsplit("-", 1)[-1])
    cumulative = itertools.accumulate(share for share, _, _ in _VALIDITY_BANDS)
    last = len(_VALIDITY_BANDS) - 1
    band = next((i for i, edge in enumerate(cumulative) if band_draw < edge), last)
    _, status, days = _VALIDITY_BANDS[band]
    valid_days = None if days is None else round(days[0] + days_draw * (days[1] - days[0]), 3)
    device_status = next(name for edge, name in _DEVICE_STATUSES if status_draw < edge)
    if status != STATUS_READY:
        device_status = "UNACTIVE"
    nickname = "" if nick_draw < 0.12 else f"{_AREAS[int(nick_draw * 1000) % len(_AREAS)]}_{unit}"
    return FleetProfile(nickname, device_status, status, valid_days)


def fleet_devices() -> list[Device]:
    """The fleet product's devices (certificates not issued yet)."""
    devices = []
    for unit in range(1, FLEET_SIZE + 1):
        name = fleet_device_name(unit)
        profile = fleet_profile(name)
        devices.append(
            Device(
                FLEET_PRODUCT_KEY,
                name,
                status=profile.status,
                spec=CertificateSpec(valid_days=profile.valid_days, pooled_key=True),
                device_status=profile.device_status,
                nickname=profile.nickname,
            )
        )
    return devices


def scale_device_name(unit: int) -> str:
    """The DeviceName of unit ``unit`` (1-based) of the 120,000-device product."""
    return f"node-{unit:06d}"


def _scale_device(index: int) -> Device:
    name = scale_device_name(index + 1)
    profile = fleet_profile(name)
    return Device(
        SCALE_PRODUCT_KEY,
        name,
        status=profile.status,
        spec=CertificateSpec(valid_days=profile.valid_days, pooled_key=True),
        device_status=profile.device_status,
        nickname=profile.nickname,
        created=_SCALE_NEWEST - dt.timedelta(minutes=index),
    )


def _scale_index(device_name: str) -> int | None:
    match = _SCALE_NAME.fullmatch(device_name)
    unit = int(match.group(1)) if match else 0
    return unit - 1 if 1 <= unit <= SCALE_SIZE else None


def scale_product() -> GeneratedProduct:
    """The 120,000-device product, generated lazily (nothing is built until asked for)."""
    return GeneratedProduct(SCALE_PRODUCT_KEY, SCALE_SIZE, _scale_device, _scale_index)


def sensor_device_status(number: int) -> str:
    """The status of ``sensor-<number>``: a few of each kind among mostly ONLINE."""
    for divisor, status in ((19, "UNACTIVE"), (17, "DISABLE"), (5, "OFFLINE")):
        if number % divisor == 0:
            return status
    return "ONLINE"


def _newest_first(devices: list[Device]) -> list[Device]:
    """Date ``devices`` so that they are listed in the order given (the first is the newest)."""
    for age, device in enumerate(devices):
        device.created = _SEED_NEWEST - dt.timedelta(minutes=age)
    return devices


def seeded_devices() -> list[Device]:
    """A fresh list of the demo devices (certificates not issued yet)."""
    pkcs8 = CertificateSpec(key_format="pkcs8")
    named = [
        Device(DEMO_PRODUCT_KEY, "thermo-001"),
        Device(DEMO_PRODUCT_KEY, "thermo-002", spec=pkcs8),
        Device(DEMO_PRODUCT_KEY, "thermo-003", device_status="OFFLINE"),
        Device(DEMO_PRODUCT_KEY, "gateway-07", spec=pkcs8),
        Device(DEMO_PRODUCT_KEY, "cam-lobby:01"),
        Device(DEMO_PRODUCT_KEY, "lab.probe@b2"),
        Device(DEMO_PRODUCT_KEY, "sensor-gen", status=STATUS_GENERATING, device_status="UNACTIVE"),
        Device(DEMO_PRODUCT_KEY, "sensor-fail", status=STATUS_FAILED, device_status="UNACTIVE"),
        Device(DEMO_PRODUCT_KEY, "meter-expiring", spec=CertificateSpec("rsa", "pkcs8", "pem", 20)),
        Device(
            DEMO_PRODUCT_KEY,
            "meter-expired",
            spec=CertificateSpec("rsa", "pkcs8", "pem", -30),
            device_status="OFFLINE",
        ),
        Device(DEMO_PRODUCT_KEY, "edge-ec01", spec=CertificateSpec("ec", "pkcs8")),
        Device(DEMO_PRODUCT_KEY, "legacy-b64", spec=CertificateSpec(text_form="base64-crlf")),
    ]
    sensors = [
        Device(
            DEMO_PRODUCT_KEY,
            f"sensor-{n:04d}",
            spec=pkcs8 if n % 2 == 0 else CertificateSpec(),
            device_status=sensor_device_status(n),
        )
        for n in range(1, SENSOR_COUNT + 1)
    ]
    enterprise = [
        Device(ENTERPRISE_PRODUCT_KEY, name, iot_instance_id=ENTERPRISE_INSTANCE_ID)
        for name in ("ent-gw-01", "ent-meter-02")
    ]
    return _newest_first(named + sensors + enterprise + fleet_devices())


def seeded_staging_devices() -> list[Device]:
    """A fresh list of the second (staging) account's demo devices."""
    return _newest_first(
        [
            Device(STAGING_PRODUCT_KEY, "stage-001"),
            Device(STAGING_PRODUCT_KEY, "stage-002", spec=CertificateSpec(key_format="pkcs8")),
            Device(STAGING_PRODUCT_KEY, "stage-003", device_status="OFFLINE"),
            Device(DEMO_PRODUCT_KEY, "thermo-001"),
        ]
    )
