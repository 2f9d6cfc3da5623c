"""BatchQueryDeviceDetail and QueryDeviceDetail: the fields the reference lists, a
deterministic context per device, unknown names left out, another account's product refused."""

import pytest
from django.conf import settings

from certadmin.emulator import DEMO_PRODUCT_KEY, ENTERPRISE_INSTANCE_ID, ENTERPRISE_PRODUCT_KEY
from certadmin.emulator.seed import STAGING_PRODUCT_KEY, seeded_staging_devices
from tests.emulator.signer import call_v3

BATCH_FIELDS = {
    "DeviceName",
    "DeviceSecret",
    "Status",
    "NodeType",
    "FirmwareVersion",
    "GmtActive",
    "UtcActive",
    "GmtCreate",
    "UtcCreate",
    "IotId",
    "Nickname",
    "ProductKey",
    "ProductName",
    "Region",
}


def batch(call, *device_names: str, product_key: str = DEMO_PRODUCT_KEY, **extra) -> dict:
    params = {"ProductKey": product_key, **extra}
    params.update({f"DeviceName.{n}": name for n, name in enumerate(device_names, 1)})
    return call(action="BatchQueryDeviceDetail", params=params).json()


def detail(call, device_name: str, **extra) -> dict:
    params = {"ProductKey": DEMO_PRODUCT_KEY, "DeviceName": device_name, **extra}
    return call(action="QueryDeviceDetail", params=params).json()


def test_batch_lists_the_known_devices_with_the_documented_fields(v1):
    body = batch(v1, "thermo-001", "no-such-device", "gateway-07", "sensor-gen")
    assert body["Success"] is True
    rows = {row["DeviceName"]: row for row in body["Data"]["Data"]}
    assert list(rows) == ["thermo-001", "gateway-07", "sensor-gen"]
    assert set(rows["thermo-001"]) == BATCH_FIELDS
    assert rows["thermo-001"]["DeviceSecret"]
    assert (rows["gateway-07"]["NodeType"], rows["thermo-001"]["NodeType"]) == (1, 0)
    assert rows["thermo-001"]["Status"] == "ONLINE"
    assert rows["thermo-001"]["FirmwareVersion"]
    assert rows["thermo-001"]["UtcActive"]
    never = rows["sensor-gen"]
    assert (never["Status"], never["UtcActive"], never["FirmwareVersion"]) == ("UNACTIVE", "", "")


def test_batch_takes_one_to_a_hundred_names(v1):
    names = [f"sensor-{n:04d}" for n in range(1, 56)] + ["thermo-001"] * 45
    assert len(batch(v1, *names)["Data"]["Data"]) == 100
    too_many = v1(
        action="BatchQueryDeviceDetail",
        params={
            "ProductKey": DEMO_PRODUCT_KEY,
            **{f"DeviceName.{n}": "thermo-001" for n in range(1, 102)},
        },
    )
    assert (too_many.status_code, too_many.json()["Code"]) == (400, "InvalidParameter")
    none = v1(action="BatchQueryDeviceDetail", params={"ProductKey": DEMO_PRODUCT_KEY})
    assert (none.status_code, none.json()["Code"]) == (400, "MissingParameter")


def test_batch_of_another_accounts_product_fails_the_whole_call(v1, emulator):
    emulator.add_account("LTAIdetailsStaging1", "staging-secret", devices=seeded_staging_devices())
    own = batch(
        lambda **kw: call_v3(
            emulator.url, access_key_id="LTAIdetailsStaging1", secret="staging-secret", **kw
        ),
        "stage-001",
        product_key=STAGING_PRODUCT_KEY,
    )
    assert [row["DeviceName"] for row in own["Data"]["Data"]] == ["stage-001"]
    foreign = batch(v1, "stage-001", product_key=STAGING_PRODUCT_KEY)
    assert (foreign["Success"], foreign["Code"]) == (False, "iot.prod.NotExistedProduct")


def test_batch_on_an_enterprise_instance_needs_it(v1):
    refused = batch(v1, "ent-gw-01", product_key=ENTERPRISE_PRODUCT_KEY)
    assert refused["Code"] == "iot.system.InstanceNotFound"
    rows = batch(
        v1, "ent-gw-01", product_key=ENTERPRISE_PRODUCT_KEY, IotInstanceId=ENTERPRISE_INSTANCE_ID
    )["Data"]["Data"]
    assert rows[0]["NodeType"] == 1


def test_detail_adds_last_online_address_and_owner(v3):
    body = detail(v3, "thermo-003")
    data = body["Data"]
    assert set(data) == BATCH_FIELDS | {"GmtOnline", "UtcOnline", "IpAddress", "Owner"}
    assert data["Status"] == "OFFLINE"
    assert data["UtcOnline"].endswith("Z")
    assert data["UtcOnline"] >= data["UtcActive"]
    assert data["IpAddress"].startswith("10.")
    assert detail(v3, "thermo-003")["Data"] == data, "the same at every call"


@pytest.mark.parametrize(
    ("device_name", "status"),
    [("sensor-0017", "DISABLE"), ("sensor-0019", "UNACTIVE"), ("sensor-0005", "OFFLINE")],
)
def test_seeded_devices_have_each_status(v3, device_name, status):
    data = detail(v3, device_name)["Data"]
    assert data["Status"] == status
    assert (data["UtcOnline"] == "") is (status == "UNACTIVE")


def test_detail_of_an_unknown_device_is_a_business_error(v3):
    body = detail(v3, "no-such-device")
    assert (body["Success"], body["Code"]) == (False, "iot.device.NotExistedDevice")


def test_the_detail_calls_answer_the_official_sdks_form_in_xml(v1):
    response = v1(
        action="QueryDeviceDetail",
        params={"ProductKey": DEMO_PRODUCT_KEY, "DeviceName": "thermo-001"},
        Format="XML",
    )
    assert b"<QueryDeviceDetailResponse>" in response.content
    assert settings.DEMO_ACCESS_KEY_SECRET.encode() not in response.content
