"""The HTTP layer: methods, body size, chunked bodies, keep-alive."""

import socket
import statistics
import struct
import time

import requests
from django.conf import settings

from certadmin.emulator import DEMO_PRODUCT_KEY
from certadmin.iot import signing
from certadmin.iot.client import IotClient
from tests.emulator.signer import encode_query, v1_params


def test_oversized_body_is_refused_with_a_gateway_error(emulator):
    response = requests.post(f"{emulator.url}/", data=b"x" * (1024 * 1024 + 1), timeout=10)
    assert response.status_code == 413
    assert response.json()["Code"] == "RequestEntityTooLarge"


def test_other_methods_are_refused(emulator):
    response = requests.put(f"{emulator.url}/?Format=JSON", timeout=10)
    assert response.status_code == 405
    assert response.json()["Code"] == "UnsupportedHTTPMethod"


def test_chunked_form_body_is_read_and_verified(emulator):
    body = {"ProductKey": DEMO_PRODUCT_KEY, "DeviceName": "thermo-001"}
    query = v1_params(
        access_key_id=settings.DEMO_ACCESS_KEY_ID, action="QueryDeviceCert", params={}
    )
    string_to_sign = signing.v1_string_to_sign("POST", [*query.items(), *body.items()])
    query["Signature"] = signing.v1_signature(settings.DEMO_ACCESS_KEY_SECRET, string_to_sign)
    encoded = encode_query(body.items()).encode()
    response = requests.post(
        f"{emulator.url}/?{encode_query(query.items())}",
        data=iter([encoded[:10], encoded[10:]]),  # a generator body is sent chunked
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["DeviceCertInfo"]["Status"] == 2


def test_keep_alive_connection_serves_several_calls(emulator):
    with requests.Session() as session:
        for _ in range(3):
            response = session.get(f"{emulator.url}/?Format=JSON", timeout=10)
            assert response.status_code == 400
    assert len(emulator.request_log) == 3


def test_keep_alive_calls_are_not_held_back_by_delayed_acks(emulator):
    # Headers and body written in two sends without TCP_NODELAY made each keep-alive call
    # wait for the client's delayed ACK: ~40 ms a call, ~20 calls/s at most.
    client = IotClient(
        endpoint=emulator.url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
        rate_limiter=None,
        max_attempts=1,
    )
    durations = []
    try:
        for _ in range(50):
            emulator.reset_rate_limits()  # QueryDeviceCert allows only 10 calls a second
            started = time.perf_counter()
            client.query_device_cert(product_key=DEMO_PRODUCT_KEY, device_name="thermo-001")
            durations.append(time.perf_counter() - started)
    finally:
        client.close()
    # Held back, a call takes the delayed ACK's 40 ms or more; a call that is not takes a few ms
    # on a quiet machine and up to about 25 ms beside the rest of the suite on two cores.
    assert statistics.median(durations) < 0.032
    assert sum(durations) < 1.6


def test_a_client_resetting_the_connection_leaves_no_traceback(emulator, capfd):
    host, port = emulator.url.removeprefix("http://").split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial")
            # SO_LINGER 0: close with a reset, as a client that gives up mid-request does.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.3)  # let the server thread meet the reset

    assert "Traceback" not in capfd.readouterr().err
