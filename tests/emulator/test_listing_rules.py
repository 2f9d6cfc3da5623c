"""QueryDevice as the platform's reference pages it: newest first, NextToken, the 10,000-row
window and the 1,000,000-row reach, the 120,000-device product generated lazily, and the
per-action quotas with QueryDevice's deep-page rule."""

import time

import pytest
from django.conf import settings

from certadmin.emulator import DEMO_PRODUCT_KEY
from certadmin.emulator.seed import SCALE_PRODUCT_KEY, SCALE_SIZE, fleet_profile
from certadmin.emulator.server import start_emulator


def listing(call, product_key: str = DEMO_PRODUCT_KEY, **params: str) -> dict:
    response = call(action="QueryDevice", params={"ProductKey": product_key, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["Success"] is True, body
    return body


def names(body: dict) -> list[str]:
    return [row["DeviceName"] for row in body["Data"]["DeviceInfo"]]


@pytest.fixture
def fast(emulator):
    """The quotas raised so a test can page quickly (the fixture restores them)."""
    for action in ("QueryDevice", "QueryDevice.DeepPage"):
        emulator.set_quota(action, 100_000)
    return emulator


def test_a_device_added_later_is_listed_first(v1, emulator):
    emulator.add_device({"product_key": "listOrder01", "device_name": "older"})
    emulator.add_device({"product_key": "listOrder01", "device_name": "newer"})
    body = listing(v1, "listOrder01")
    assert names(body) == ["newer", "older"]
    rows = body["Data"]["DeviceInfo"]
    assert rows[0]["UtcCreate"] > rows[1]["UtcCreate"]
    assert body["NextToken"] == ""


def test_every_page_but_the_last_carries_a_next_token(v1):
    first = listing(v1, PageSize="50")
    assert first["NextToken"]
    second = listing(v1, PageSize="50", CurrentPage="2", NextToken=first["NextToken"])
    assert second["NextToken"] == ""
    assert len(set(names(first) + names(second))) == first["Total"]


def test_past_ten_thousand_rows_without_a_token_there_is_no_data(v1):
    inside = listing(v1, SCALE_PRODUCT_KEY, PageSize="50", CurrentPage="200")
    assert len(names(inside)) == 50
    beyond = listing(v1, SCALE_PRODUCT_KEY, PageSize="50", CurrentPage="201")
    assert (beyond["Total"], names(beyond), beyond["NextToken"]) == (SCALE_SIZE, [], "")


def test_the_token_leads_past_the_window(v1):
    page_200 = listing(v1, SCALE_PRODUCT_KEY, PageSize="50", CurrentPage="200")
    page_201 = listing(
        v1, SCALE_PRODUCT_KEY, PageSize="50", CurrentPage="201", NextToken=page_200["NextToken"]
    )
    assert names(page_201)[0] == "node-010001"
    assert names(page_201)[-1] == "node-010050"


@pytest.mark.parametrize(
    "params",
    [{"CurrentPage": "3"}, {"PageSize": "10", "CurrentPage": "2"}, {"NextToken": "bm90LmE.x"}],
)
def test_a_token_that_does_not_lead_to_the_page_asked_is_refused(v1, params):
    token = listing(v1, PageSize="50")["NextToken"]
    sent = {"ProductKey": DEMO_PRODUCT_KEY, "PageSize": "50", "CurrentPage": "2"}
    response = v1(action="QueryDevice", params={**sent, "NextToken": token, **params})
    assert response.status_code == 400
    assert response.json()["Code"] == "InvalidParameter"
    assert "NextToken" in response.json()["Message"]


def test_a_token_reaches_no_further_than_a_million_rows(v1, fast):
    fast.set_listing_rules(max_rows=100)
    token = listing(v1, PageSize="50")["NextToken"]
    response = v1(
        action="QueryDevice",
        params={
            "ProductKey": DEMO_PRODUCT_KEY,
            "PageSize": "50",
            "CurrentPage": "2",
            "NextToken": token,
        },
    )
    assert response.status_code == 400
    assert "CurrentPage" in response.json()["Message"]


def test_the_generated_product_pages_to_its_last_device_by_token(v1, fast):
    fast.set_listing_rules(window_rows=100)  # tokens from the third page of 50 on
    body = listing(v1, SCALE_PRODUCT_KEY, PageSize="50")
    page, seen = 1, names(body)
    # Jump deep with a token the emulator handed out, then walk to the end.
    while body["NextToken"] and page < 3:
        page += 1
        body = listing(
            v1, SCALE_PRODUCT_KEY, PageSize="50", CurrentPage=str(page), NextToken=body["NextToken"]
        )
        seen += names(body)
    assert seen == [f"node-{unit:06d}" for unit in range(1, 151)]
    row = body["Data"]["DeviceInfo"][0]
    profile = fleet_profile(row["DeviceName"])
    assert (row["DeviceStatus"], row["Nickname"]) == (profile.device_status, profile.nickname)


def test_a_new_emulator_with_the_120000_device_product_starts_well_under_a_second():
    timings = []
    for _ in range(2):  # the CA's RSA key takes a varying time: best of two
        started = time.monotonic()
        with start_emulator(
            access_key_id=settings.DEMO_ACCESS_KEY_ID,
            access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
        ) as running:
            timings.append(time.monotonic() - started)
            assert running._gateway.store.device_count(SCALE_PRODUCT_KEY) == SCALE_SIZE
    assert min(timings) < 0.6, timings


def test_a_device_of_the_generated_product_has_a_certificate_and_keeps_it(v3):
    device = {"ProductKey": SCALE_PRODUCT_KEY, "DeviceName": "node-100000"}
    first, again = (v3(params=device).json() for _ in range(2))
    profile = fleet_profile("node-100000")
    assert first["DeviceCertInfo"]["Status"] == profile.status
    assert first["DeviceCertInfo"] == again["DeviceCertInfo"]
    unknown = v3(params={**device, "DeviceName": "node-120001"}).json()
    assert unknown["Code"] == "iot.device.NotExistedDevice"


def test_the_cut_listing_fault_loses_rows_or_ends_early(v1, emulator):
    total = listing(v1, PageSize="1")["Total"]  # other tests may have added demo devices
    assert total > 60
    emulator.set_listing_rules(cut_after=60)
    second = listing(
        v1, PageSize="50", CurrentPage="2", NextToken=listing(v1, PageSize="50")["NextToken"]
    )
    assert len(names(second)) == 10
    emulator.set_listing_rules(cut_after=50, cut_ends=True)
    first = listing(v1, PageSize="50")
    assert (len(names(first)), first["NextToken"]) == (50, "")
    assert first["Total"] == total  # the platform still counts every device


# ---- quotas ------------------------------------------------------------------------------


def burst(call, action: str, params: dict, count: int) -> list[int]:
    started = time.monotonic()
    codes = [call(action=action, params=params).status_code for _ in range(count)]
    if time.monotonic() - started >= 1.0:
        pytest.skip("machine too slow to make the calls within one second")
    return codes


def test_deep_pages_of_query_device_are_held_to_two_calls_a_second(v1, emulator):
    emulator.set_listing_rules(window_rows=10**6)  # no token needed: only the quota counts
    deep = {"ProductKey": SCALE_PRODUCT_KEY, "PageSize": "50", "CurrentPage": "2000"}
    codes = burst(v1, "QueryDevice", deep, 4)
    assert codes == [200, 200, 400, 400]
    assert emulator.throttled["QueryDevice"] == 2
    shallow = {"ProductKey": SCALE_PRODUCT_KEY, "PageSize": "50", "CurrentPage": "1999"}
    assert burst(v1, "QueryDevice", shallow, 3) == [200, 200, 200]


def test_batch_query_device_detail_is_held_to_five_calls_a_second(v1, emulator):
    params = {"ProductKey": DEMO_PRODUCT_KEY, "DeviceName.1": "thermo-001"}
    codes = burst(v1, "BatchQueryDeviceDetail", params, 6)
    assert codes == [200] * 5 + [400]
    assert emulator.throttled == {"BatchQueryDeviceDetail": 1}


def test_query_device_detail_has_its_own_fifty_a_second(v1, emulator):
    params = {"ProductKey": DEMO_PRODUCT_KEY, "DeviceName": "thermo-001"}
    for _ in range(10):  # QueryDeviceCert's whole second
        v1(params=params)
    assert burst(v1, "QueryDeviceDetail", params, 12) == [200] * 12
    assert v1(params=params).json()["Code"] == "Throttling.User"
