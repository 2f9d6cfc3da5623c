"""CPU per synced device: what a sync does with one QueryDeviceCert answer (decode the
certificate, check the key against it, write the inventory record), on one core, with the
answers canned so that neither the network nor the emulator is measured.

N answers of the emulator's fleet product (``a1Fleet5kXz``: RSA 2048 keys, PKCS#1 and PKCS#8)
are fetched once; then ``devices.inventory.device_certificate_check`` runs for each, in rounds
that alternate the key check as it was (OpenSSL's RSA validation on load) and as it is (no
validation; the numbers checked by ``certs.fingerprints.private_key_matches``), so the two are
measured side by side. CPU time is the process's (``time.process_time``), pinned to one core.

The second measure is the whole worker: ``jobs.runner.job_work`` over a product sync job of the
same N devices (its listing done, its items created, none of it timed), with the same canned
answers, so that the job's own bookkeeping (claiming items, the "looked up since" check, the
inventory write, recording results and progress) is measured with the lookups. Its rounds
alternate a claim and a record per item (``ITEM_BATCH = 1``) and the batches the runner uses;
the statements per device are counted in one more round of each (not timed).

    .venv/bin/python bench/sync_cpu.py [--devices 200] [--repeats 3] [--quick]

On PostgreSQL when ``DATABASE_URL`` names one (a scratch database beside it), else SQLite.
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


def _sync_job(names: list[str]) -> int:
    """A product sync of the fleet product whose listing is done: admitted, one pending item
    per name, as the listing leaves it. Returns its pk."""
    from django.utils import timezone

    from certadmin.devices.models import default_account_name
    from certadmin.emulator.seed import FLEET_PRODUCT_KEY
    from certadmin.jobs.models import Job, JobItem, JobKind

    job = Job.objects.create(
        kind=JobKind.PRODUCT_SYNC,
        product_key=FLEET_PRODUCT_KEY,
        account=default_account_name(),
        admitted_at=timezone.now(),
        listing_complete=True,
        total=len(names),
        listed=len(names),
    )
    JobItem.objects.bulk_create(
        JobItem(job=job, product_key=FLEET_PRODUCT_KEY, device_name=name) for name in names
    )
    return job.pk


@contextlib.contextmanager
def _item_batch(size: int | None):
    """The runner claiming and recording ``size`` items at once (None: as it is)."""
    from certadmin.jobs import runner

    kept = runner.ITEM_BATCH
    runner.ITEM_BATCH = size or kept
    try:
        yield
    finally:
        runner.ITEM_BATCH = kept


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
    vendor = scratch_django("sync_cpu", CERTADMIN_IOT_ENDPOINT=f"http://127.0.0.1:{port}")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from certadmin.devices.inventory import device_certificate_check
    from certadmin.devices.models import CertificateRecord
    from certadmin.emulator.seed import FLEET_PRODUCT_KEY, fleet_device_name
    from certadmin.iot.client import IotClient
    from certadmin.iot.identity import DeviceRef
    from certadmin.jobs import runner
    from certadmin.jobs.models import Job
    from certadmin.jobs.runner import job_work

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

    def work_once(batch: int | None, *, counting: bool = False) -> float:
        """CPU ms per device of one job's whole run; with ``counting``, its statements per
        device instead (Django's query log costs CPU of its own)."""
        CertificateRecord.objects.all().delete()  # every device is looked up again
        job_id = _sync_job(names)
        log = CaptureQueriesContext(connection) if counting else contextlib.nullcontext()
        with _item_batch(batch), log as queries:
            start = time.process_time()
            assert job_work(job_id=job_id, client=canned) == "finished"
            spent = time.process_time() - start
        done, failed = Job.objects.filter(pk=job_id).values_list("done", "failed").get()
        assert (done, failed) == (len(names), 0), (done, failed)
        if counting:
            return len(queries.captured_queries) / len(names)
        return spent * 1000 / len(names)

    before, after = Stat(), Stat()
    per_item, batched = Stat(), Stat()
    sync_once()  # warm: imports, caches, the first queries' statements
    work_once(None)
    for _ in range(args.repeats):
        with _validating_key_load():
            before.samples.append(sync_once())
        after.samples.append(sync_once())
        per_item.samples.append(work_once(1))
        batched.samples.append(work_once(None))
    counted = {"per item": work_once(1, counting=True), "batched": work_once(None, counting=True)}
    # A fleet device whose certificate is not issued (about 2 %) has no key to match: None.
    assert False not in matched.values(), matched
    with_keys = sum(value is True for value in matched.values())
    report(
        args,
        name="sync_cpu",
        title=f"CPU per synced device, {args.devices} fleet answers canned, one core, {vendor}",
        headers=["measure", "CPU ms per device", "statements per device"],
        rows=[
            ["lookup only: RSA validation on load (before)", before.cell(), "-"],
            ["lookup only: numbers checked, no validation (now)", after.cell(), "-"],
            [
                "whole worker: a claim and a record per item (ITEM_BATCH = 1)",
                per_item.cell(),
                f"{counted['per item']:.2f}",
            ],
            [
                f"whole worker: batches of {runner.ITEM_BATCH} (now)",
                batched.cell(),
                f"{counted['batched']:.2f}",
            ],
        ],
        notes='Target: ≤ 8 ms per synced device. "Lookup only" is decode, key match and '
        'inventory write (`device_certificate_check`); "whole worker" is `job_work` over '
        "a product sync of the same devices (claims, the looked-up check, the inventory write, "
        "results and progress), its listing done beforehand. Alternating rounds in one process; "
        f"{with_keys} of {len(devices)} answers carry a key, each matched its certificate in "
        "both. The real workers' figure (`sync_scale.py`: task workers, the emulator over "
        "HTTP) is measured there.",
    )


if __name__ == "__main__":
    main()
