"""The client's listing (NextToken) and device-detail calls, against the emulator over real
HTTP and against canned answers for what the emulator never sends."""

import dataclasses
import datetime as dt

import pytest
from django.conf import settings

from certadmin.emulator.seed import SCALE_PRODUCT_KEY
from certadmin.iot.errors import IotBusinessError, IotResponseError
from certadmin.iot.results import DeviceDetail
from tests.iot.clients import quick_clients
from tests.support.canned_api import KEY_ID, SECRET, Canned

PRODUCT = "a1Demo7Sh2x"


@pytest.fixture
def make_client(emulator):
    with quick_clients(
        endpoint=emulator.url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
    ) as make:
        yield make


def all_text(value) -> str:
    return repr(value) + repr(dataclasses.asdict(value))


@pytest.mark.parametrize("version", ["v3", "v1"])
def test_the_next_token_leads_past_the_window(emulator, make_client, version):
    client = make_client(signature_version=version)
    emulator.set_listing_rules(window_rows=50)
    first = client.query_device(product_key=SCALE_PRODUCT_KEY, page=1, page_size=50)
    assert first.next_token
    second = client.query_device(
        product_key=SCALE_PRODUCT_KEY, page=2, page_size=50, next_token=first.next_token
    )
    assert second.devices[0].device_name == "node-000051"
    assert second.devices[0].modified.endswith("Z")


def test_the_last_page_has_no_next_token(make_client):
    client = make_client()
    first = client.query_device(product_key=PRODUCT, page=1, page_size=50)
    last = client.query_device(
        product_key=PRODUCT, page=2, page_size=50, next_token=first.next_token
    )
    assert last.next_token == ""
    assert len(first.devices) + len(last.devices) == first.total


def test_a_page_past_the_window_is_never_asked_without_a_token(emulator, make_client):
    with pytest.raises(ValueError, match="NextToken"):
        make_client().query_device(product_key=SCALE_PRODUCT_KEY, page=201, page_size=50)
    with pytest.raises(ValueError, match="1000000"):
        make_client().query_device(
            product_key=SCALE_PRODUCT_KEY, page=20_000, page_size=50, next_token="x"
        )
    assert emulator.request_log == []


def test_rows_and_details_never_carry_the_device_secret(emulator, make_client):
    client = make_client()
    secret = emulator._gateway.store.get(PRODUCT, "thermo-001").device_secret
    page = client.query_device(product_key=PRODUCT, page=1, page_size=50)
    batch = client.batch_query_device_detail(product_key=PRODUCT, device_names=["thermo-001"])
    one = client.query_device_detail(product_key=PRODUCT, device_name="thermo-001")
    for result in (page, batch, one):
        assert secret not in all_text(result)
    assert "secret" not in {f.name for f in dataclasses.fields(DeviceDetail)}


def test_batch_details_are_typed_and_leave_unknown_names_out(make_client):
    details = make_client().batch_query_device_detail(
        product_key=PRODUCT, device_names=["gateway-07", "nobody-here", "sensor-gen"]
    )
    gateway, never = details.devices
    assert (gateway.device_name, gateway.node_type, gateway.status) == ("gateway-07", 1, "ONLINE")
    assert gateway.firmware_version
    assert isinstance(gateway.activated, dt.datetime)
    assert gateway.activated.tzinfo is dt.UTC
    assert gateway.last_online is None, "the batch call has no online time"
    assert (never.status, never.activated, never.firmware_version) == ("UNACTIVE", None, "")


def test_batch_takes_one_to_a_hundred_names(emulator, make_client):
    for names in ([], ["thermo-001"] * 101):
        with pytest.raises(ValueError, match="1 to 100"):
            make_client().batch_query_device_detail(product_key=PRODUCT, device_names=names)
    assert emulator.request_log == []


def test_device_detail_carries_the_last_online_time(make_client):
    detail = make_client().query_device_detail(product_key=PRODUCT, device_name="thermo-003")
    assert detail.status == "OFFLINE"
    assert detail.last_online is not None
    assert detail.last_online >= detail.activated
    assert detail.ip_address


def test_device_detail_of_an_unknown_device_is_a_business_error(make_client):
    with pytest.raises(IotBusinessError) as refused:
        make_client().query_device_detail(product_key=PRODUCT, device_name="nobody-here")
    assert refused.value.is_not_found


@pytest.fixture
def canned_client(canned_api):
    with quick_clients(
        endpoint=canned_api.url, access_key_id=KEY_ID, access_key_secret=SECRET
    ) as make:
        yield make()


@pytest.mark.parametrize("token", ["two words", "x" * 1025, "caf\u00e9"])
def test_a_next_token_that_is_not_a_token_is_a_malformed_answer(canned_api, canned_client, token):
    canned_api.push(
        Canned({"Success": True, "Total": 1, "NextToken": token, "Data": {"DeviceInfo": []}})
    )
    with pytest.raises(IotResponseError) as refused:
        canned_client.query_device(product_key=PRODUCT)
    assert token not in str(refused.value)


def test_odd_detail_times_are_unknown_not_fatal(canned_api, canned_client):
    canned_api.push(
        Canned(
            {
                "Success": True,
                "Data": {"DeviceName": "d-1", "Status": "ONLINE", "UtcOnline": "yesterday"},
            }
        )
    )
    detail = canned_client.query_device_detail(product_key=PRODUCT, device_name="d-1")
    assert (detail.status, detail.last_online, detail.node_type) == ("ONLINE", None, None)
