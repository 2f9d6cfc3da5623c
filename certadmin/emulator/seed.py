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
                            even: PKCS#8)
==================  ======  =====================================================================

Product ``a1Ent0Prd9k`` on the enterprise instance ``iot-06z00demo0ent`` (queries must pass
``IotInstanceId=iot-06z00demo0ent``, else ``iot.system.InstanceNotFound``):
``ent-gw-01`` and ``ent-meter-02``, both ready.

Certificates come from the emulator's own CA (``CN=Alibaba Cloud IoT Operation CA1,
O=Alibaba Cloud IoT, C=CN``, a new key at every start) and are issued on a device's first
query. CertSN is the certificate's serial number in decimal.
"""

from certadmin.emulator.ca import CertificateSpec
from certadmin.emulator.store import STATUS_FAILED, STATUS_GENERATING, Device

DEMO_PRODUCT_KEY = "a1Demo7Sh2x"
ENTERPRISE_PRODUCT_KEY = "a1Ent0Prd9k"
ENTERPRISE_INSTANCE_ID = "iot-06z00demo0ent"
SENSOR_COUNT = 55

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
"""


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
        Device(DEMO_PRODUCT_KEY, f"sensor-{n:04d}", spec=pkcs8 if n % 2 == 0 else CertificateSpec())
        for n in range(1, SENSOR_COUNT + 1)
    ]
    enterprise = [
        Device(ENTERPRISE_PRODUCT_KEY, name, iot_instance_id=ENTERPRISE_INSTANCE_ID)
        for name in ("ent-gw-01", "ent-meter-02")
    ]
    return named + sensors + enterprise
