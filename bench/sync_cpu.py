"""CPU per synced device: what a sync does with one QueryDeviceCert answer (decode the
certificate, check the key against it, write the inventory record), on one core, with the
answers canned so that neither the network nor the emulator is measured.

N answers of the emulator's fleet product (``a1Fleet5kXz``: RSA 2048 keys, PKCS#1 and PKCS#8)
are fetched once; then ``devices.inventory.device_certificate_check`` runs for each, in rounds
that alternate the key check as it was (OpenSSL's RSA validation on load) and as it is (no
validation; the numbers checked by ``certs.fingerprints.private_key_matches``), so the two are
measured side by side. CPU time is the process's (``time.process_time``), pinned to one core.

    .venv/bin/python bench/sync_cpu.py [--devices 200] [--repeats 3] [--quick]
"""

import contextlib
import os
import time

from common import (
    BENCH_KEY_ID,
    BENCH_KEY_SECRET,
    Stat,
    bench_args,
    emulator_start,
    free_port,
    report,
    scratch_django,
)


class _CannedClient:
    """An IotClient stand-in answering QueryDeviceCert from the answers fetched before."""

    def __init__(self, answers: dict) -> None:
        self._answers = answers

    def query_device_cert(self, *, product_key, device_name, iot_instance_id=None):
        return self._answers[device_name]


@contextlib.contextmanager
def _validating_key_load():
    """The key check as it was before issue 24: the key loaded with OpenSSL's validation."""
    from certadmin.devices import inventory

    loader = inventory.load_private_key
    inventory.load_private_key = lambda text, validate=True: loader(text, validate=True)
    try:
        yield
    finally:
        inventory.load_private_key = loader


def main() -> None:
    args = bench_args(__doc__, repeats=3, devices=200)
    if args.quick:
        args.devices = 10
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    port = free_port()
    scratch_django("sync_cpu", CERTADMIN_IOT_ENDPOINT=f"http://127.0.0.1:{port}")
    from certadmin.devices.inventory import device_certificate_check
    from certadmin.devices.models import CertificateRecord
    from certadmin.emulator.seed import FLEET_PRODUCT_KEY, fleet_device_name
    from certadmin.iot.client import IotClient
    from certadmin.iot.identity import DeviceRef

    names = [fleet_device_name(unit) for unit in range(1, args.devices + 1)]
    emulator = emulator_start(port=port)
    emulator.set_quota("QueryDeviceCert", 10_000)  # fetching the answers is not what is timed
    try:
        client = IotClient(
            endpoint=f"http://127.0.0.1:{port}",
            access_key_id=BENCH_KEY_ID,
            access_key_secret=BENCH_KEY_SECRET,
            rate_limiter=None,
        )
        answers = {
            name: client.query_device_cert(product_key=FLEET_PRODUCT_KEY, device_name=name)
            for name in names
        }
    finally:
        emulator.stop()
    canned = _CannedClient(answers)
    devices = [DeviceRef(FLEET_PRODUCT_KEY, name) for name in names]
    matched = {}

    def sync_once() -> float:
        CertificateRecord.objects.all().delete()  # each round writes new records
        start = time.process_time()
        for device in devices:
            record = device_certificate_check(device=device, client=canned)
            matched[device.device_name] = record.key_matches
        return (time.process_time() - start) * 1000 / len(devices)

    before, after = Stat(), Stat()
    sync_once()  # warm: imports, caches, the first queries' statements
    for _ in range(args.repeats):
        with _validating_key_load():
            before.samples.append(sync_once())
        after.samples.append(sync_once())
    # A fleet device whose certificate is not issued (about 2 %) has no key to match: None.
    assert False not in matched.values(), matched
    with_keys = sum(value is True for value in matched.values())
    report(
        args,
        name="sync_cpu",
        title=f"CPU per synced device, {args.devices} fleet answers canned, one core",
        headers=["key check", "CPU ms per device"],
        rows=[
            ["RSA validation on load (before)", before.cell()],
            ["numbers checked, no validation (now)", after.cell()],
        ],
        notes="Target: ≤ 8 ms per synced device (decode, key match, inventory write). "
        f"Alternating rounds in one process; {with_keys} of {len(devices)} answers carry a key, "
        "each matched its certificate in both.",
    )


if __name__ == "__main__":
    main()
