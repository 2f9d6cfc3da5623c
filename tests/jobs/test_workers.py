"""Real ``db_worker`` processes: a worker killed mid-job, and two workers sharing one job."""

import signal
import time

import pytest

from certadmin.jobs.models import Job, JobState
from certadmin.jobs.services import product_sync_start


def _wait_for(condition, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _job(job_id: int) -> Job:
    return Job.objects.get(pk=job_id)


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_is_replaced_and_no_finished_lookup_is_repeated(
    viewer, own_product, emulator_counts, db_worker, settings
):
    settings.JOB_LEASE_SECONDS = 3
    settings.JOB_RUNS = 1  # only the watchdog can bring the job back after the kill
    product_key = own_product(60)
    job = product_sync_start(owner=viewer, product_key=product_key)

    first = db_worker()
    _wait_for(lambda: _job(job.pk).done >= 15, timeout=180, what="15 devices done")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    done_at_kill = _job(job.pk).done
    assert done_at_kill < 60

    db_worker()
    _wait_for(lambda: not _job(job.pk).is_active, timeout=300, what="the job to end")
    job.refresh_from_db()
    assert job.state == JobState.FINISHED
    assert (job.total, job.done, job.failed) == (60, 60, 0)
    assert len(emulator_counts.lookups) == 60
    # The only lookup that may be repeated is the one in flight when the worker died (asked,
    # but its answer never written): every finished lookup happened exactly once.
    repeated = [name for name, count in emulator_counts.lookups.items() if count > 1]
    assert len(repeated) <= 1
    assert max(emulator_counts.lookups.values()) <= 2
    assert emulator_counts.throttled == {}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_on_postgresql_share_one_job_within_the_quota(
    viewer, own_product, emulator_counts, db_worker, settings
):
    from django.db import connection
    from django_tasks_db.models import DBTaskResult

    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip(
            "needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL): workers on SQLite "
            "or without a shared limiter are not the production setup"
        )
    settings.JOB_RUNS = 2
    product_key = own_product(80)
    began = time.monotonic()
    job = product_sync_start(owner=viewer, product_key=product_key)
    db_worker()
    db_worker()
    _wait_for(lambda: not _job(job.pk).is_active, timeout=300, what="the job to end")
    elapsed = time.monotonic() - began
    job.refresh_from_db()
    assert job.state == JobState.FINISHED
    assert job.done == 80
    assert emulator_counts.throttled == {}
    assert set(emulator_counts.lookups.values()) == {1}
    runs = DBTaskResult.objects.filter(task_path__endswith="job_work")
    workers = {worker for run in runs for worker in run.worker_ids}
    assert len(workers) == 2
    # 80 lookups within the jobs' share (8 per second) take at least ~10 s.
    assert elapsed >= 80 / settings.JOB_QPS * 1.1 - 2
