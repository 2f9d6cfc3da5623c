"""A product sync against the emulator over real HTTP, with its real flow control."""

import pytest
from django.core.management import CommandError, call_command

from certadmin.devices.models import CertificateRecord, ProductSync
from certadmin.jobs import runner
from certadmin.jobs.models import ItemState, Job, JobItem, JobState
from certadmin.jobs.services import JobStartError, product_sync_start

pytestmark = pytest.mark.django_db


@pytest.mark.slow
def test_sync_of_121_devices_records_every_one_without_a_single_throttling_refusal(
    viewer, own_product, emulator_counts, dashboard_iot
):
    # Three listing pages (50 a page) and 15 s of lookups at the job's share of the quota.
    product_key = own_product(120)
    dashboard_iot.add_device({"product_key": product_key, "device_name": "being-made", "status": 0})

    job = product_sync_start(owner=viewer, product_key=product_key)
    assert job.state == JobState.QUEUED
    assert job.admitted_at is not None
    assert job.total == 121
    assert runner.job_work(job_id=job.pk) == "finished"

    job.refresh_from_db()
    assert job.state == JobState.FINISHED
    assert (job.total, job.done, job.failed) == (121, 121, 0)
    assert emulator_counts.throttled == {}
    assert set(emulator_counts.lookups.values()) == {1}
    assert len(emulator_counts.lookups) == 121
    records = CertificateRecord.objects.filter(product_key=product_key)
    assert records.count() == 121
    assert records.get(device_name="being-made").status == 0
    ready = records.exclude(device_name="being-made")
    assert all(r.status == 2 and r.sha256_fingerprint and r.cert_sn for r in ready)
    assert all(r.not_after is not None and r.key_matches for r in ready)
    assert set(JobItem.objects.filter(job=job).values_list("state", flat=True)) == {ItemState.DONE}
    synced = ProductSync.objects.get(product_key=product_key)
    assert synced.device_count == 121
    assert synced.job_id == job.pk


def test_unknown_product_starts_nothing(viewer, dashboard_iot):
    with pytest.raises(JobStartError) as refused:
        product_sync_start(owner=viewer, product_key="nosuchproduct1")
    assert refused.value.code == "iot.prod.NotExistedProduct"
    assert "nosuchproduct1" in refused.value.message
    assert not Job.objects.exists()


def test_unknown_instance_starts_nothing(viewer, own_product):
    product_key = own_product(1)
    with pytest.raises(JobStartError) as refused:
        product_sync_start(
            owner=viewer, product_key=product_key, iot_instance_id="iot-nosuchinstance"
        )
    assert refused.value.code == "iot.system.InstanceNotFound"
    assert not Job.objects.exists()


def test_cert_sync_wait_runs_the_job_in_the_foreground(own_product, emulator_counts, capsys):
    product_key = own_product(12)
    call_command("cert_sync", "--product-key", product_key, "--wait")
    job = Job.objects.get(product_key=product_key)
    assert job.state == JobState.FINISHED
    assert job.done == 12
    out, err = capsys.readouterr()
    # Not a terminal (cron): no progress bar, a one-line summary.
    assert err == ""
    assert f"Job {job.pk} finished: 12 devices, 0 failed." in out
    assert emulator_counts.throttled == {}


def test_cert_sync_wait_draws_its_progress_bar_when_asked(own_product, capsys):
    product_key = own_product(3)
    call_command("cert_sync", "--product-key", product_key, "--wait", verbosity=2)
    assert "3/3 devices" in capsys.readouterr().err


def test_cert_sync_of_an_unknown_product_exits_non_zero(dashboard_iot):
    # CommandError is what manage.py turns into exit status 1.
    with pytest.raises(CommandError, match=r"iot\.prod\.NotExistedProduct"):
        call_command("cert_sync", "--product-key", "nosuchproduct1")
    assert not Job.objects.exists()


def test_a_product_that_vanishes_mid_sync_fails_the_job_with_a_reason(viewer, own_product):
    product_key = own_product(2)
    job = product_sync_start(owner=viewer, product_key=product_key)
    Job.objects.filter(pk=job.pk).update(product_key="nosuchproduct1")
    assert runner.job_work(job_id=job.pk) == "failed"
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert "nosuchproduct1" in job.error
