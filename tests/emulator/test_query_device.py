"""QueryDevice: a product's devices, paged like the platform does."""

import xml.etree.ElementTree as ET

import pytest
from django.conf import settings

from certadmin.emulator import DEMO_PRODUCT_KEY, ENTERPRISE_INSTANCE_ID, ENTERPRISE_PRODUCT_KEY
from certadmin.emulator.server import start_emulator

DEMO_DEVICE_COUNT = 12 + 55


@pytest.fixture(scope="module")
def seeded_only_emulator():
    """An emulator of its own: other tests add devices to the shared one."""
    with start_emulator(
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
    ) as running:
        yield running


@pytest.fixture
def emulator(seeded_only_emulator):
    seeded_only_emulator.reset_rate_limits()
    return seeded_only_emulator


def query_device(call, **params: str) -> dict:
    response = call(action="QueryDevice", params={"ProductKey": DEMO_PRODUCT_KEY, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["Success"] is True, body
    return body


def test_first_page_by_default(v1):
    body = query_device(v1)
    assert (body["Total"], body["PageSize"], body["Page"]) == (DEMO_DEVICE_COUNT, 10, 1)
    assert body["PageCount"] == 7
    rows = body["Data"]["DeviceInfo"]
    assert [row["DeviceName"] for row in rows[:3]] == ["thermo-001", "thermo-002", "thermo-003"]
    assert len(rows) == 10


def test_rows_carry_the_documented_fields_including_a_device_secret(v3):
    row = query_device(v3)["Data"]["DeviceInfo"][0]
    assert set(row) == {
        "DeviceId",
        "DeviceName",
        "DeviceSecret",
        "IotId",
        "ProductKey",
        "DeviceStatus",
        "Nickname",
        "GmtCreate",
        "UtcCreate",
        "GmtModified",
        "UtcModified",
        "DeviceType",
    }
    assert row["DeviceSecret"]
    assert (row["DeviceId"], row["DeviceType"]) == ("", "")
    assert row["UtcModified"] >= row["UtcCreate"]
    assert row["ProductKey"] == DEMO_PRODUCT_KEY


def test_pages_cover_every_device_once(v1):
    names = []
    for page in range(1, 3):
        body = query_device(v1, CurrentPage=str(page), PageSize="50")
        names += [row["DeviceName"] for row in body["Data"]["DeviceInfo"]]
    assert len(names) == len(set(names)) == DEMO_DEVICE_COUNT
    assert "sensor-0055" in names


def test_page_after_the_last_is_empty(v1):
    body = query_device(v1, CurrentPage="8")
    assert body["Data"]["DeviceInfo"] == []
    assert body["Page"] == 8


@pytest.mark.parametrize("params", [{"PageSize": "51"}, {"PageSize": "0"}, {"CurrentPage": "x"}])
def test_invalid_paging_is_refused(v1, params):
    response = v1(action="QueryDevice", params={"ProductKey": DEMO_PRODUCT_KEY, **params})
    assert response.status_code == 400
    assert response.json()["Code"] == "InvalidParameter"


def test_enterprise_product_needs_its_instance(v1):
    response = v1(action="QueryDevice", params={"ProductKey": ENTERPRISE_PRODUCT_KEY})
    assert response.json()["Code"] == "iot.system.InstanceNotFound"
    body = query_device(v1, ProductKey=ENTERPRISE_PRODUCT_KEY, IotInstanceId=ENTERPRISE_INSTANCE_ID)
    assert [row["DeviceName"] for row in body["Data"]["DeviceInfo"]] == [
        "ent-gw-01",
        "ent-meter-02",
    ]


def test_xml_lists_repeat_the_row_element(v1):
    response = v1(
        action="QueryDevice", params={"ProductKey": DEMO_PRODUCT_KEY, "PageSize": "3"}, Format="XML"
    )
    root = ET.fromstring(response.content)  # noqa: S314 - the emulator's own output
    assert root.tag == "QueryDeviceResponse"
    assert len(root.findall("Data/DeviceInfo")) == 3
