"""Injected faults: globally (with a rate) and per device, changeable at run time."""

import json
import time

import pytest
import requests
from django.conf import settings

from certadmin.emulator import DEMO_PRODUCT_KEY
from certadmin.emulator.server import start_emulator
from tests.emulator.signer import call_v1

DEVICE = {"ProductKey": DEMO_PRODUCT_KEY, "DeviceName": "thermo-001"}
FAULTY = "a1FaultyDev0"


def test_5xx_fault_answers_service_unavailable(v1, emulator):
    emulator.set_fault("5xx")
    response = v1(params=DEVICE)
    assert response.status_code == 503
    body = response.json()
    assert body["Code"] == "ServiceUnavailable"
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}


def test_malformed_fault_answers_broken_json(v1, emulator):
    emulator.set_fault("malformed")
    response = v1(params=DEVICE)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_drop_fault_closes_the_connection_without_an_answer(v1, emulator):
    emulator.set_fault("drop")
    with pytest.raises(requests.ConnectionError):
        v1(params=DEVICE)


def test_latency_delays_every_answer(v1, emulator):
    emulator.set_fault(None, latency=0.3)
    started = time.monotonic()
    assert v1(params=DEVICE).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_fault_rate_faults_some_requests(v1, emulator):
    emulator.set_fault("5xx", rate=0.5)
    params = {"ProductKey": DEMO_PRODUCT_KEY, "PageSize": "1"}
    statuses = {v1(action="QueryDevice", params=params).status_code for _ in range(20)}
    assert statuses == {200, 503}


def test_rate_zero_faults_nothing_and_clearing_restores_service(v1, emulator):
    emulator.set_fault("drop", rate=0.0)
    assert v1(params=DEVICE).status_code == 200
    emulator.set_fault("5xx")
    assert v1(params=DEVICE).status_code == 503
    emulator.set_fault(None)
    assert v1(params=DEVICE).status_code == 200


def test_faulted_requests_are_logged(v1, emulator):
    emulator.set_fault("5xx")
    v1(params=DEVICE)
    v1(params=DEVICE)
    assert len(emulator.request_log) == 2


@pytest.mark.parametrize(
    "fault", [{"kind": "typo"}, {"rate": 1.5}, {"latency": -1}], ids=["kind", "rate", "latency"]
)
def test_invalid_fault_settings_are_refused(emulator, fault):
    with pytest.raises(ValueError, match="must be"):
        emulator.set_fault(
            fault.get("kind"), rate=fault.get("rate", 1.0), latency=fault.get("latency", 0.0)
        )


def test_fault_option_at_start(emulator):
    with start_emulator(
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
        fault="5xx",
    ) as faulty:
        response = call_v1(
            faulty.url,
            access_key_id=settings.DEMO_ACCESS_KEY_ID,
            secret=settings.DEMO_ACCESS_KEY_SECRET,
            params=DEVICE,
        )
        assert response.status_code == 503


def per_device(v1, emulator, name: str, fault: dict) -> requests.Response:
    emulator.add_device({"product_key": FAULTY, "device_name": name, "fault": fault})
    return v1(params={"ProductKey": FAULTY, "DeviceName": name})


def test_device_fault_http_status(v1, emulator):
    response = per_device(v1, emulator, "dev-500", {"http_status": 500})
    assert response.status_code == 500
    assert response.json()["Code"] == "InternalError"
    assert per_device(v1, emulator, "dev-503", {"http_status": 503}).status_code == 503


def test_device_fault_malformed(v1, emulator):
    response = per_device(v1, emulator, "dev-malformed", {"malformed": True})
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_device_fault_drop(v1, emulator):
    with pytest.raises(requests.ConnectionError):
        per_device(v1, emulator, "dev-drop", {"drop": True})


def test_device_fault_latency_then_the_real_answer(v1, emulator):
    started = time.monotonic()
    response = per_device(v1, emulator, "dev-slow", {"latency": 0.3})
    assert time.monotonic() - started >= 0.3
    assert response.json()["DeviceCertInfo"]["Status"] == 2


def test_device_fault_does_not_touch_other_devices(v1, emulator):
    per_device(v1, emulator, "dev-503b", {"http_status": 503})
    assert v1(params=DEVICE).status_code == 200
