"""Items claimed and recorded in batches (``jobs.runner._ItemBatch``): a run killed mid-batch,
a lease lost in a batch, a batch partly looked up already, and what a device costs in
statements."""

import logging
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from certadmin.devices.inventory import device_certificate_check, inventory_store_failure
from certadmin.devices.platform import iot_client
from certadmin.iot.client import IotClient
from certadmin.iot.identity import DeviceRef
from certadmin.jobs import runner
from certadmin.jobs.models import ItemState, Job, JobItem, JobState
from certadmin.jobs.services import product_sync_start

pytestmark = pytest.mark.django_db


class _Killed(BaseException):
    """The worker process dies: nothing of the run's own handling runs."""


def test_a_run_killed_mid_batch_leaves_its_items_to_the_next_run_and_nothing_is_asked_twice(
    viewer, own_product, emulator_counts, monkeypatch
):
    product_key = own_product(12)
    job = product_sync_start(owner=viewer, product_key=product_key)
    ask = IotClient.query_device_cert
    asked = []

    def dies_on_the_fourth(self, **kwargs):
        if len(asked) == 3:
            raise _Killed
        asked.append(kwargs["device_name"])
        return ask(self, **kwargs)

    monkeypatch.setattr(IotClient, "query_device_cert", dies_on_the_fourth)
    with pytest.raises(_Killed):
        runner.job_work(job_id=job.pk)
    # Three answers are in the inventory; none of the batch's results was recorded.
    job.refresh_from_db()
    assert (job.state, job.done) == (JobState.RUNNING, 0)
    held = JobItem.objects.filter(job=job, state=ItemState.PENDING, lease_until__gt=timezone.now())
    # Half of the twelve: the last items of a job are shared between its runs.
    assert held.count() == 6
    monkeypatch.setattr(IotClient, "query_device_cert", ask)
    dead = set(held.values_list("pk", flat=True))
    # Within the lease nobody takes the dead run's items: the next run does the others.
    assert runner.job_work(job_id=job.pk) == "others hold the rest"
    assert set(held.values_list("pk", flat=True)) == dead
    assert JobItem.objects.filter(job=job, state=ItemState.DONE).count() == 6
    # Once it runs out, they are claimed again; the three already answered are not asked.
    held.update(lease_until=timezone.now() - timezone.timedelta(seconds=1))
    assert runner.job_work(job_id=job.pk) == "finished"

    job.refresh_from_db()
    assert (job.state, job.done, job.failed) == (JobState.FINISHED, 12, 0)
    assert dict(emulator_counts.lookups) == {f"dev-{n:05d}": 1 for n in range(1, 13)}
    again = JobItem.objects.filter(job=job, device_name__in=asked)
    assert list(again.values_list("claims", flat=True)) == [2, 2, 2]


def test_items_another_run_took_over_mid_batch_are_neither_asked_nor_counted_here(
    viewer, own_product, emulator_counts, monkeypatch, settings, caplog
):
    # A short lease: the run renews it (and so learns what it lost) before each lookup once a
    # third of it has passed.
    settings.JOB_LEASE_SECONDS = 0.5
    product_key = own_product(runner.ITEM_BATCH)
    job = product_sync_start(owner=viewer, product_key=product_key)
    ask = IotClient.query_device_cert
    asked = []

    def taken_over_during_the_second(self, **kwargs):
        asked.append(kwargs["device_name"])
        if len(asked) == 2:
            # The run's lease ran out and another run claimed every item but the first.
            JobItem.objects.filter(job=job, state=ItemState.PENDING).exclude(
                device_name=asked[0]
            ).update(
                lease_token="another-run",
                lease_until=timezone.now() + timezone.timedelta(hours=1),
            )
            time.sleep(0.2)
        return ask(self, **kwargs)

    monkeypatch.setattr(IotClient, "query_device_cert", taken_over_during_the_second)
    with caplog.at_level(logging.WARNING, logger="certadmin.jobs.runner"):
        assert runner.job_work(job_id=job.pk) == "others hold the rest"

    assert len(asked) == 2
    job.refresh_from_db()
    # The first item is this run's; the second, answered after the takeover, is the other
    # run's to count (it finds the answer in the inventory and does not ask again).
    assert (job.done, job.failed) == (1, 0)
    first, second = (JobItem.objects.get(job=job, device_name=name) for name in asked)
    assert first.state == ItemState.DONE
    assert (second.state, second.lease_token) == (ItemState.PENDING, "another-run")
    assert JobItem.objects.filter(job=job, lease_token="another-run").count() == 7
    assert "lost the claim" in caplog.text


def test_a_batch_partly_looked_up_already_asks_only_the_rest(viewer, own_product, emulator_counts):
    product_key = own_product(runner.ITEM_BATCH)
    job = product_sync_start(owner=viewer, product_key=product_key)
    client = iot_client(account="default")
    # Looked up since the job was created: two answered, one refused for that device.
    for name in ("dev-00002", "dev-00005"):
        device_certificate_check(device=DeviceRef(product_key, name, "", "default"), client=client)
    inventory_store_failure(
        device=DeviceRef(product_key, "dev-00007", "", "default"), code="iot.cert.Refused"
    )

    assert runner.job_work(job_id=job.pk) == "finished"

    job.refresh_from_db()
    assert (job.done, job.failed) == (8, 1)
    expected = {f"dev-{n:05d}": 1 for n in range(1, 9) if n != 7}
    assert dict(emulator_counts.lookups) == expected
    refused = JobItem.objects.get(job=job, device_name="dev-00007")
    assert (refused.state, refused.error_code) == (ItemState.FAILED, "iot.cert.Refused")


def test_a_synced_device_costs_a_few_statements_not_one_per_step(viewer, own_product):
    devices = 4 * runner.ITEM_BATCH
    job = product_sync_start(owner=viewer, product_key=own_product(devices))
    with CaptureQueriesContext(connection) as queries:
        assert runner.job_work(job_id=job.pk) == "finished"
    assert Job.objects.get(pk=job.pk).done == devices
    # The test's own transaction makes savepoints of the run's transactions: not counted.
    statements = [q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    # The inventory write (the record's upsert and its product's version) per device; a claim,
    # the looked-up check and the results per batch (smaller ones at the end); the job read
    # about once a second; the listing. One item at a time it was 12 a device and more.
    assert len(statements) <= 5 * devices, len(statements)
