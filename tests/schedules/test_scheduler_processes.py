"""A real scheduler (``manage.py crontask``, ticking every second) and a real task worker
(``manage.py task_worker``) against the emulator: a schedule due now becomes a finished sync,
and ``/readyz`` reports the scheduler alive, then stale once it stops.

They need a database another process can open (PostgreSQL, DATABASE_URL); on the in-memory
SQLite test database they skip."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from certadmin.devices.models import ProductSync
from certadmin.emulator.seed import DEMO_PRODUCT_KEY
from certadmin.jobs.models import Job, JobState
from certadmin.ops.heartbeat import SCHEDULER
from certadmin.ops.models import WorkerHeartbeat
from certadmin.schedules.models import ScheduleSource, SyncSchedule

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _wait_for(condition, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _readyz(client) -> tuple[int, dict]:
    response = client.get("/readyz")
    return response.status_code, json.loads(response.content)


def test_a_schedule_due_now_becomes_a_finished_sync(scheduler, task_worker, client):
    schedule = SyncSchedule.objects.create(
        account="default",
        product_key=DEMO_PRODUCT_KEY,
        cron="0 3 * * *",
        next_run_at=timezone.now() - timedelta(seconds=1),
    )
    task_worker()
    scheduler()

    def finished_job():
        schedule.refresh_from_db()
        job = schedule.last_job
        return job if job is not None and job.state == JobState.FINISHED else None

    job = _wait_for(finished_job, timeout=90, what="the scheduled sync to finish")
    assert job.owner is None
    assert job.done == job.total > 0
    assert ProductSync.objects.get(product_key=DEMO_PRODUCT_KEY).job == job
    assert schedule.next_run_at > timezone.now()
    # One sync, however many ticks came while it ran.
    assert Job.objects.filter(product_key=DEMO_PRODUCT_KEY).count() == 1
    status, body = _readyz(client)
    assert (status, body["checks"]["scheduler"], body["checks"]["worker"]) == (200, "ok", "ok")


def test_readyz_reports_a_live_scheduler_and_then_a_stopped_one(scheduler, client):
    status, body = _readyz(client)
    assert status == 503
    assert body["checks"]["scheduler"] == "none"

    process = scheduler()
    _wait_for(
        lambda: WorkerHeartbeat.objects.filter(role=SCHEDULER).exists(),
        timeout=60,
        what="the scheduler's heartbeat",
    )
    assert _readyz(client)[1]["checks"]["scheduler"] == "ok"

    process.terminate()
    process.wait(timeout=20)
    # Stopped: no beat comes any more. Age the last one past HEARTBEAT_STALE instead of
    # waiting a minute.
    WorkerHeartbeat.objects.filter(role=SCHEDULER).update(
        seen_at=timezone.now() - timedelta(minutes=2)
    )
    status, body = _readyz(client)
    assert status == 503
    assert body["status"] == "not_ready"
    assert body["checks"]["scheduler"] == "stale"


def test_the_scheduler_reads_configured_schedules(scheduler, task_worker):
    configured = f"default:{DEMO_PRODUCT_KEY}=0 4 * * sun"
    task_worker(CERTADMIN_SYNC_SCHEDULES=configured)
    scheduler(CERTADMIN_SYNC_SCHEDULES=configured)
    schedule = _wait_for(
        lambda: SyncSchedule.objects.filter(source=ScheduleSource.CONFIGURATION).first(),
        timeout=60,
        what="the configured schedule",
    )
    assert (schedule.product_key, schedule.cron) == (DEMO_PRODUCT_KEY, "0 4 * * sun")
    local = schedule.next_run_at.astimezone(timezone.get_default_timezone())
    assert (local.strftime("%a"), local.hour, local.minute) == ("Sun", 4, 0)
