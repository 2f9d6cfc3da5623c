"""Sequential QueryDeviceCert calls per second: certadmin's client vs the two official SDKs.

Against the same canned local server (one fixed answer, no server work: the clients' own cost)
and through the emulator (its throttle off: the emulator must never be the bottleneck). Each
round runs every client for ``--calls`` calls, clients interleaved so ratios are of one run;
CPU is the calling thread's. Both servers run in child processes, not competing for our GIL.

    .venv/bin/python bench/client_calls.py [--calls 300] [--repeats 5] [--quick]
"""

import json
import multiprocessing
import time
import warnings

from common import (
    BENCH_KEY_ID,
    BENCH_KEY_SECRET,
    Stat,
    bench_args,
    canned_server,
    emulator_start,
    free_port,
    report,
)

PRODUCT_KEY = "a1Demo7Sh2x"
DEVICE = "thermo-001"


def _serve_canned(body: bytes, port_queue, stop) -> None:
    with canned_server(body) as url:
        port_queue.put(int(url.rsplit(":", 1)[1]))
        stop.wait(600)


def _serve_emulator(port: int, ready, stop) -> None:
    from certadmin.emulator.throttling import SlidingWindowLimiter

    emulator = emulator_start(port=port)
    emulator._gateway.limiter = SlidingWindowLimiter({})  # no quota: measure the server
    ready.set()
    stop.wait(600)
    emulator.stop()


def _clients(port: int) -> dict:
    from alibabacloud_iot20180120 import models as iot_models
    from alibabacloud_iot20180120.client import Client
    from alibabacloud_tea_openapi.models import Config
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkiot.request.v20180120.QueryDeviceCertRequest import QueryDeviceCertRequest

    from certadmin.iot.client import IotClient

    ours = IotClient(
        endpoint=f"http://127.0.0.1:{port}",
        access_key_id=BENCH_KEY_ID,
        access_key_secret=BENCH_KEY_SECRET,
        rate_limiter=None,
        max_attempts=1,
    )
    old = AcsClient(BENCH_KEY_ID, BENCH_KEY_SECRET, "cn-shanghai", port=port, auto_retry=False)
    new = Client(
        Config(
            access_key_id=BENCH_KEY_ID,
            access_key_secret=BENCH_KEY_SECRET,
            endpoint=f"127.0.0.1:{port}",
            protocol="http",
        )
    )

    def call_ours():
        assert ours.query_device_cert(product_key=PRODUCT_KEY, device_name=DEVICE).certificate

    def call_old():
        request = QueryDeviceCertRequest()
        request.set_endpoint("127.0.0.1")
        request.set_protocol_type("http")
        request.set_ProductKey(PRODUCT_KEY)
        request.set_DeviceName(DEVICE)
        assert json.loads(old.do_action_with_exception(request))["Success"]

    def call_new():
        response = new.query_device_cert(
            iot_models.QueryDeviceCertRequest(product_key=PRODUCT_KEY, device_name=DEVICE)
        )
        assert response.body.success

    return {
        "certadmin": call_ours,
        "aliyun-python-sdk-core (older)": call_old,
        "alibabacloud-iot20180120 (newer)": call_new,
    }


def _measure(port: int, calls: int, repeats: int) -> dict[str, tuple[Stat, Stat]]:
    clients = _clients(port)
    for call in clients.values():  # connect and warm up
        for _ in range(5):
            call()
    results = {name: (Stat(), Stat()) for name in clients}
    for _ in range(repeats):
        for name, call in clients.items():
            wall, cpu = time.perf_counter(), time.thread_time()
            for _ in range(calls):
                call()
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            results[name][0].samples.append(calls / wall)
            results[name][1].samples.append(cpu / calls * 1000)
    return results


def _canned_body(port: int) -> bytes:
    import requests

    from certadmin.iot.client import IotClient

    client = IotClient(
        endpoint=f"http://127.0.0.1:{port}",
        access_key_id=BENCH_KEY_ID,
        access_key_secret=BENCH_KEY_SECRET,
        rate_limiter=None,
    )
    url, headers, _ = client._signed_request(
        "QueryDeviceCert", {"ProductKey": PRODUCT_KEY, "DeviceName": DEVICE}
    )
    return requests.post(url, headers=headers, timeout=5).content


def main() -> None:
    args = bench_args(__doc__, repeats=5, calls=300)
    if args.quick:
        args.calls = 20
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import common

    common.django_setup()
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    ready = context.Event()
    port = free_port()
    emulator = context.Process(target=_serve_emulator, args=(port, ready, stop), daemon=True)
    emulator.start()
    ready.wait(30)
    body = _canned_body(port)
    ports = context.Queue()
    canned = context.Process(target=_serve_canned, args=(body, ports, stop), daemon=True)
    canned.start()
    canned_port = ports.get(timeout=30)
    try:
        measured = {
            "canned server": _measure(canned_port, args.calls, args.repeats),
            "emulator": _measure(port, args.calls, args.repeats),
        }
    finally:
        stop.set()
        emulator.join(10)
        canned.join(10)
    rows = []
    for server, results in measured.items():
        ours = results["certadmin"][0].median
        for name, (rate, cpu) in results.items():
            ratio = ours / rate.median
            rows.append(
                [
                    server,
                    name,
                    rate.cell("{:.0f}"),
                    cpu.cell("{:.2f}"),
                    "1.00×" if name == "certadmin" else f"{ratio:.2f}×",
                ]
            )
    report(
        args,
        name="client_calls",
        title=f"IoT client: sequential QueryDeviceCert calls/s ({args.calls} calls per round)",
        headers=["server", "client", "calls/s", "client CPU ms/call", "certadmin ÷ this"],
        rows=rows,
        notes="Targets: certadmin ≥ 1.5× the older SDK and ≥ 1.0× the newer on the canned "
        "server; the emulator ≥ 300 calls/s.",
    )


if __name__ == "__main__":
    main()
