"""Flow control: 10 QueryDeviceCert calls per account in any one-second window."""

import time

from django.conf import settings

from certadmin.emulator import DEMO_PRODUCT_KEY
from certadmin.emulator.throttling import SlidingWindowLimiter

DEVICE = {"ProductKey": DEMO_PRODUCT_KEY, "DeviceName": "thermo-001"}


def codes(responses) -> list[str | None]:
    return [r.json().get("Code") if r.status_code != 200 else None for r in responses]


def test_eleventh_call_within_a_second_is_throttled(v1):
    started = time.monotonic()
    responses = [v1(params=DEVICE) for _ in range(11)]
    assert time.monotonic() - started < 1.0, "too slow to exercise the window"
    refused = [r for r in responses if r.status_code != 200]
    assert refused
    assert refused[0].status_code == 400
    body = refused[0].json()
    assert body["Code"] == "Throttling.User"
    assert body["Message"] == "Request was denied due to user flow control."


def test_quota_is_per_access_key(v1, emulator):
    emulator.add_access_key("LTAIsecondKey00001", "second-secret")
    for _ in range(10):
        v1(params=DEVICE)
    assert codes([v1(params=DEVICE)]) == ["Throttling.User"]
    other = v1(params=DEVICE, access_key_id="LTAIsecondKey00001", secret="second-secret")
    assert other.status_code == 200


def test_reset_rate_limits_restores_the_quota(v1, emulator):
    for _ in range(11):
        v1(params=DEVICE)
    emulator.reset_rate_limits()
    assert v1(params=DEVICE).status_code == 200


def test_query_device_has_its_own_larger_quota(v1):
    for _ in range(10):
        v1(params=DEVICE)
    responses = [v1(action="QueryDevice", params={"ProductKey": DEMO_PRODUCT_KEY})] * 3
    assert codes(responses) == [None, None, None]


def test_sliding_window_frees_quota_after_a_second():
    now = [0.0]
    limiter = SlidingWindowLimiter({"QueryDeviceCert": 2}, clock=lambda: now[0])
    key = settings.DEMO_ACCESS_KEY_ID
    assert limiter.allow(key, "QueryDeviceCert")
    now[0] = 0.6
    assert limiter.allow(key, "QueryDeviceCert")
    assert not limiter.allow(key, "QueryDeviceCert")
    now[0] = 1.0
    assert limiter.allow(key, "QueryDeviceCert")
    assert not limiter.allow(key, "QueryDeviceCert")
    now[0] = 1.6
    assert limiter.allow(key, "QueryDeviceCert")


def test_refusals_are_counted_per_action(v1, emulator):
    for _ in range(12):
        v1(params=DEVICE)
    assert emulator.throttled == {"QueryDeviceCert": 2}
    emulator.throttled.clear()
    assert emulator.throttled["QueryDeviceCert"] == 0


def test_keys_of_one_account_share_its_quota(v1, emulator):
    emulator.add_access_key(
        "LTAIsameAccount001", "same-account-secret", account=settings.DEMO_ACCESS_KEY_ID
    )
    for _ in range(10):
        v1(params=DEVICE)
    other = v1(params=DEVICE, access_key_id="LTAIsameAccount001", secret="same-account-secret")
    assert codes([other]) == ["Throttling.User"]
    assert emulator.throttled["QueryDeviceCert"] == 1


def test_request_log_names_the_device_of_each_call(v1, emulator):
    v1(params=DEVICE)
    v1(action="QueryDevice", params={"ProductKey": DEMO_PRODUCT_KEY})
    assert [entry.device_name for entry in emulator.request_log] == ["thermo-001", None]
