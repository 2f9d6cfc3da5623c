"""Due schedules start their product's sync once, as the jobs app's command line would: never a
second sync of a product already queued or running, never past the queue's cap. Configured
schedules take over the rows of their products."""

from datetime import timedelta

import pytest
from django.utils import timezone

from certadmin.emulator.seed import DEMO_PRODUCT_KEY
from certadmin.jobs.models import Job, JobKind, JobState
from certadmin.jobs.services import product_sync_start
from certadmin.schedules.cron import ConfiguredSchedule
from certadmin.schedules.models import ScheduleSource, SyncSchedule
from certadmin.schedules.services import schedules_config_apply, schedules_due_run

pytestmark = pytest.mark.django_db


def _schedule(**fields) -> SyncSchedule:
    values = {
        "account": "default",
        "product_key": DEMO_PRODUCT_KEY,
        "cron": "0 3 * * *",
        "next_run_at": timezone.now() - timedelta(seconds=1),
    }
    values.update(fields)
    return SyncSchedule.objects.create(**values)


def test_a_due_schedule_starts_its_products_sync_and_moves_to_its_next_run(dashboard_iot):
    schedule = _schedule()
    now = timezone.now()
    runs = schedules_due_run(now=now)
    assert [run.schedule_id for run in runs] == [schedule.pk]
    schedule.refresh_from_db()
    job = Job.objects.get(kind=JobKind.PRODUCT_SYNC, product_key=DEMO_PRODUCT_KEY)
    # Started as the command line's (cron's) jobs are: no owner.
    assert job.owner is None
    assert schedule.last_job == job
    assert schedule.last_run_at == now
    assert schedule.next_run_at > now
    assert schedule.next_run_at.astimezone(timezone.get_default_timezone()).hour == 3
    assert schedule.last_error == ""
    assert job.mode == "full"
    # Not due any more: the next tick starts nothing.
    assert schedules_due_run() == []
    assert Job.objects.filter(kind=JobKind.PRODUCT_SYNC).count() == 1


def test_an_incremental_schedule_starts_an_incremental_sync(dashboard_iot):
    _schedule(mode="incremental")
    [run] = schedules_due_run()
    assert Job.objects.get(pk=run.job_id).mode == "incremental"


def test_a_schedule_not_due_yet_starts_nothing(dashboard_iot):
    _schedule(next_run_at=timezone.now() + timedelta(minutes=5))
    assert schedules_due_run() == []
    assert not Job.objects.exists()


def test_a_product_whose_sync_is_running_gets_no_second_sync(dashboard_iot, viewer):
    running = product_sync_start(owner=viewer, product_key=DEMO_PRODUCT_KEY)
    schedule = _schedule()
    [run] = schedules_due_run()
    assert run.job_id == running.pk
    schedule.refresh_from_db()
    assert schedule.last_job == running
    assert Job.objects.filter(kind=JobKind.PRODUCT_SYNC).count() == 1


def test_a_full_queue_leaves_the_schedule_due_for_the_next_tick(dashboard_iot, settings):
    settings.JOBS_QUEUED_TOTAL = 1
    Job.objects.create(kind=JobKind.BATCH_LOOKUP, state=JobState.QUEUED)
    schedule = _schedule()
    due_at = schedule.next_run_at
    [run] = schedules_due_run()
    assert run.job_id is None
    assert "The job queue is full" in run.error
    schedule.refresh_from_db()
    assert schedule.next_run_at == due_at
    assert "JobQueueFull" in schedule.last_error
    assert not Job.objects.filter(kind=JobKind.PRODUCT_SYNC).exists()


def test_a_product_the_platform_does_not_know_is_recorded_and_not_retried_every_tick(
    dashboard_iot,
):
    schedule = _schedule(product_key="a1NoSuchProd")
    [run] = schedules_due_run()
    assert run.job_id is None
    schedule.refresh_from_db()
    assert "iot.prod.NotExistedProduct" in schedule.last_error
    assert schedule.next_run_at > timezone.now()


def test_configured_schedules_replace_the_dashboards_and_go_when_unconfigured(
    dashboard_iot, settings
):
    dashboard = _schedule(cron="0 5 * * *", source=ScheduleSource.DASHBOARD)
    settings.SYNC_SCHEDULES = [
        ConfiguredSchedule("default", DEMO_PRODUCT_KEY, "", "30 1 * * sun", "full"),
        ConfiguredSchedule("staging", "a1Stg0Demo1", "", "0 2 * * *", "full"),
    ]
    schedules_config_apply()
    rows = {s.product_key: s for s in SyncSchedule.objects.all()}
    assert rows[DEMO_PRODUCT_KEY].pk == dashboard.pk
    assert (rows[DEMO_PRODUCT_KEY].cron, rows[DEMO_PRODUCT_KEY].source) == (
        "30 1 * * sun",
        ScheduleSource.CONFIGURATION,
    )
    assert rows["a1Stg0Demo1"].source == ScheduleSource.CONFIGURATION
    assert rows["a1Stg0Demo1"].next_run_at is not None
    settings.SYNC_SCHEDULES = []
    schedules_config_apply()
    assert not SyncSchedule.objects.exists()
