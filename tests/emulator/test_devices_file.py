"""Devices files and add_device: verbatim strings, overrides, issued certificates, errors."""

import json
import xml.etree.ElementTree as ET

import pytest
from django.conf import settings

from certadmin.emulator import DEMO_PRODUCT_KEY
from certadmin.emulator.server import start_emulator
from certadmin.emulator.store import DevicesFileError
from tests.emulator.signer import call_v1, call_v3

# Devices added to the shared emulator go on their own product, so the demo product's device
# count (which the QueryDevice tests check) stays the same.
ADDED = "a1AddedDev00"

HOSTILE = {
    "html": '<script>alert("x")</script>&amp;',
    "json-ish": '"}, "Success": false, "x": {"',
    "control": "line1\r\nline2\x00\x1b[31mred\u2028",
    "unicode": "证书 🔐 ḱey",
    "huge": "A" * 200_000,
    "pem-with-junk": "junk\n-----BEGIN CERTIFICATE-----\nnot base64!!\n-----END CERTIFICATE-----\n",
}


def run(emulator, device_name: str, product_key: str = DEMO_PRODUCT_KEY, **params) -> dict:
    response = call_v1(
        emulator.url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        secret=settings.DEMO_ACCESS_KEY_SECRET,
        params={"ProductKey": product_key, "DeviceName": device_name, **params},
    )
    assert response.status_code == 200, response.text[:500]
    return response.json()


@pytest.fixture
def devices_file(tmp_path):
    def write(devices) -> str:
        path = tmp_path / "devices.json"
        path.write_text(json.dumps({"devices": devices}), encoding="utf-8")
        return str(path)

    return write


def test_file_strings_are_returned_verbatim(devices_file):
    entries = [
        {
            "product_key": DEMO_PRODUCT_KEY,
            "device_name": f"odd-{name}",
            "cert_sn": f"sn-{name}",
            "certificate": text,
            "private_key": text[::-1],
        }
        for name, text in HOSTILE.items()
    ]
    with start_emulator(
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
        devices_file=devices_file(entries),
    ) as emulator:
        for name, text in HOSTILE.items():
            info = run(emulator, f"odd-{name}")["DeviceCertInfo"]
            assert info == {
                "CertSN": f"sn-{name}",
                "Certificate": text,
                "PrivateKey": text[::-1],
                "Status": 2,
            }


def test_hostile_strings_survive_v3_too(emulator):
    emulator.add_device(
        {
            "product_key": ADDED,
            "device_name": "hostile-v3",
            "certificate": HOSTILE["html"],
        }
    )
    response = call_v3(
        emulator.url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        secret=settings.DEMO_ACCESS_KEY_SECRET,
        params={"ProductKey": ADDED, "DeviceName": "hostile-v3"},
    )
    info = response.json()["DeviceCertInfo"]
    assert info["Certificate"] == HOSTILE["html"]
    assert info["PrivateKey"] == ""


def test_hostile_strings_are_escaped_in_xml(emulator):
    emulator.add_device(
        {
            "product_key": ADDED,
            "device_name": "hostile-xml",
            "certificate": HOSTILE["html"],
            "private_key": HOSTILE["json-ish"],
        }
    )
    response = call_v1(
        emulator.url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        secret=settings.DEMO_ACCESS_KEY_SECRET,
        params={"ProductKey": ADDED, "DeviceName": "hostile-xml"},
        Format="XML",
    )
    root = ET.fromstring(response.content)  # noqa: S314 - the emulator's own output
    assert root.findtext("DeviceCertInfo/Certificate") == HOSTILE["html"]
    assert root.findtext("DeviceCertInfo/PrivateKey") == HOSTILE["json-ish"]


def test_file_entry_overrides_a_seeded_device_and_keeps_its_place(devices_file):
    path = devices_file(
        [{"product_key": DEMO_PRODUCT_KEY, "device_name": "thermo-002", "status": 1}]
    )
    with start_emulator(
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
        devices_file=path,
    ) as emulator:
        info = run(emulator, "thermo-002")["DeviceCertInfo"]
        assert (info["Status"], info["Certificate"]) == (1, "")
        response = call_v1(
            emulator.url,
            access_key_id=settings.DEMO_ACCESS_KEY_ID,
            secret=settings.DEMO_ACCESS_KEY_SECRET,
            action="QueryDevice",
            params={"ProductKey": DEMO_PRODUCT_KEY},
        )
        names = [row["DeviceName"] for row in response.json()["Data"]["DeviceInfo"]]
        assert names[1] == "thermo-002"


def test_device_without_certificate_gets_one_issued_on_a_new_product(emulator):
    emulator.add_device(
        {
            "product_key": "a1NewProd01",
            "device_name": "fresh-device",
            "key_format": "pkcs8",
            "valid_days": 5,
        }
    )
    info = run(emulator, "fresh-device", product_key="a1NewProd01")["DeviceCertInfo"]
    assert info["Certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert info["PrivateKey"].startswith("-----BEGIN PRIVATE KEY-----")


def test_device_on_a_new_enterprise_instance(emulator):
    emulator.add_device(
        {"product_key": "a1EntProd02", "device_name": "ent-new", "iot_instance_id": "iot-test-01"}
    )
    body = run(emulator, "ent-new", product_key="a1EntProd02", IotInstanceId="iot-test-01")
    assert body["Success"] is True


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"device": []}', '{"devices": [...]}'),
        ('{"devices": [{"device_name": "abcd"}]}', "product_key"),
        ('{"devices": [{"product_key": "a1Demo7Sh2x", "device_name": "ab"}]}', "device_name"),
        (
            '{"devices": [{"product_key": "a1Demo7Sh2x", "device_name": "abcd", "color": 1}]}',
            "unknown keys: color",
        ),
        (
            '{"devices": [{"product_key": "a1Demo7Sh2x", "device_name": "abcd", "status": 3}]}',
            "status",
        ),
        (
            '{"devices": [{"product_key": "a1Demo7Sh2x", "device_name": "abcd",'
            ' "certificate": 5}]}',
            "certificate must be a string",
        ),
        (
            '{"devices": [{"product_key": "a1Demo7Sh2x", "device_name": "abcd",'
            ' "fault": {"http_status": 200}}]}',
            "http_status",
        ),
        (
            '{"devices": [{"product_key": "a1Demo7Sh2x", "device_name": "abcd",'
            ' "iot_instance_id": "iot-x"}]}',
            "is on instance (public)",
        ),
    ],
)
def test_invalid_files_are_refused_with_a_clear_message(tmp_path, content, message):
    path = tmp_path / "devices.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DevicesFileError, match=None) as caught:
        start_emulator(
            access_key_id=settings.DEMO_ACCESS_KEY_ID,
            access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
            devices_file=path,
        )
    assert message in str(caught.value)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(DevicesFileError, match="cannot read devices file"):
        start_emulator(
            access_key_id=settings.DEMO_ACCESS_KEY_ID,
            access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
            devices_file=tmp_path / "absent.json",
        )


def test_add_device_validates_like_the_file(emulator):
    with pytest.raises(DevicesFileError, match="device_name"):
        emulator.add_device({"product_key": DEMO_PRODUCT_KEY, "device_name": "bad name!"})
