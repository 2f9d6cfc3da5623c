"""Cancelling, the per-person limit, and people's lookups while a job uses its share."""

import threading
import time

import pytest

from certadmin.devices.platform import iot_client
from certadmin.devices.services import certificate_lookup
from certadmin.iot.identity import DeviceRef
from certadmin.jobs import runner
from certadmin.jobs.models import ItemState, Job, JobItem, JobState
from certadmin.jobs.services import job_cancel, product_sync_start

pytestmark = pytest.mark.django_db


def test_cancel_stops_the_workers_between_two_devices_of_a_batch(
    viewer, own_product, emulator_counts, monkeypatch
):
    # The run reads its job again after every lookup (by default after a second of them).
    monkeypatch.setattr(runner, "JOB_READ_SECONDS", 0)
    product_key = own_product(30)
    job = product_sync_start(owner=viewer, product_key=product_key)

    def cancel_after_five(seen: Job) -> None:
        if sum(emulator_counts.lookups.values()) >= 5 and seen.state == JobState.RUNNING:
            job_cancel(job=seen, actor=viewer)

    assert runner.job_work(job_id=job.pk, on_progress=cancel_after_five) == "cancelled"
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert job.finished_at is not None
    # The five lookups of the batch made before the cancel are recorded; its other three
    # items, held by the run, were not asked and stay pending with the rest.
    assert job.done == 5
    assert sum(emulator_counts.lookups.values()) == 5
    assert JobItem.objects.filter(job=job, state=ItemState.DONE).count() == 5
    assert JobItem.objects.filter(job=job, state=ItemState.PENDING).count() == 25


def test_a_person_runs_at_most_the_limit_and_the_rest_wait_their_turn(
    viewer, own_product, settings
):
    settings.JOBS_PER_PERSON = 2
    products = [own_product(2) for _ in range(3)]
    first, second, third = (product_sync_start(owner=viewer, product_key=key) for key in products)
    assert first.admitted_at is not None
    assert second.admitted_at is not None
    assert third.admitted_at is None
    assert third.state == JobState.QUEUED
    assert runner.job_work(job_id=third.pk) == "not admitted"

    assert runner.job_work(job_id=first.pk) == "finished"
    third.refresh_from_db()
    assert third.admitted_at is not None
    assert runner.job_work(job_id=third.pk) == "finished"


def test_another_persons_jobs_do_not_count_against_the_limit(make_user, own_product, settings):
    settings.JOBS_PER_PERSON = 1
    alice, bob = make_user("Viewer"), make_user("Viewer")
    product_sync_start(owner=alice, product_key=own_product(1))
    bobs = product_sync_start(owner=bob, product_key=own_product(1))
    assert bobs.admitted_at is not None


@pytest.mark.slow
def test_a_person_gets_a_certificate_within_two_seconds_while_jobs_use_their_share(
    viewer, own_product, emulator_counts, dashboard_iot
):
    """Four threads call through the job client as fast as the batch budget lets them (the
    whole jobs' share); a person's lookups, which take only the account budget, still pass."""
    product_key = own_product(60)
    job_client = iot_client(purpose="job")
    stop = threading.Event()
    job_calls = []

    def saturate(offset: int) -> None:
        number = offset
        while not stop.is_set():
            job_client.query_device_cert(
                product_key=product_key, device_name=f"dev-{number % 60 + 1:05d}"
            )
            job_calls.append(time.monotonic())
            number += 4

    threads = [threading.Thread(target=saturate, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)
        timings = []
        for number in (7, 21, 33, 48, 59):
            began = time.monotonic()
            view = certificate_lookup(
                device=DeviceRef(product_key, f"dev-{number:05d}"), user=viewer, refresh=True
            )
            timings.append(time.monotonic() - began)
            assert not view.from_inventory
            time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert max(timings) < 2.0, timings
    assert emulator_counts.throttled == {}
    # The jobs really were using their share meanwhile.
    assert len(job_calls) >= 8 * 2


def test_a_device_looked_up_since_the_job_was_created_is_not_asked_again(
    viewer, own_product, emulator_counts
):
    from certadmin.devices.inventory import device_certificate_check

    product_key = own_product(4)
    job = product_sync_start(owner=viewer, product_key=product_key)
    # As a run that recorded the answer and died before writing its item's result, or a
    # person's certificate page, leaves the inventory.
    device_certificate_check(
        device=DeviceRef(product_key, "dev-00002", "", "default"),
        client=iot_client(account="default"),
    )
    assert runner.job_work(job_id=job.pk) == "finished"
    job.refresh_from_db()
    assert (job.done, job.failed) == (4, 0)
    assert dict(emulator_counts.lookups) == {f"dev-0000{n}": 1 for n in range(1, 5)}


def test_the_watchdog_revives_a_dead_job_with_as_many_runs_as_it_started_with(
    viewer, own_product, settings, django_capture_on_commit_callbacks
):
    # One revived run alone would hold the listing and look nothing up meanwhile, then look
    # devices up one at a time (bench/sync_scale.py: a 120,000-device sync killed mid-listing).
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    settings.JOB_RUNS = 3
    with django_capture_on_commit_callbacks(execute=True):
        job = product_sync_start(owner=viewer, product_key=own_product(2))
    runs = DBTaskResult.objects.filter(task_path__endswith=".job_work", args_kwargs__args__0=job.pk)
    assert runs.count() == 3
    # Its workers took the runs and were killed: the runs stay "running" for ever.
    runs.update(status="RUNNING")
    stale = timezone.now() - timezone.timedelta(seconds=settings.JOB_LEASE_SECONDS * 2)
    Job.objects.filter(pk=job.pk).update(state=JobState.RUNNING, last_progress_at=stale)

    with django_capture_on_commit_callbacks(execute=True):
        assert runner.job_watch(job_id=job.pk) == "revived"
    assert runs.ready().count() == 3
    # Not again while they wait for a worker.
    with django_capture_on_commit_callbacks(execute=True):
        assert runner.job_watch(job_id=job.pk) == "watching"
    assert runs.ready().count() == 3
