"""Setting sync schedules (audited), keeping the configured ones in step, and starting the
syncs that are due (the scheduler's task, ``tasks.schedules_due``, calls ``schedules_due_run``).

A due schedule starts its product's sync as the jobs app's command line does (a job with no
owner): the same checks apply. A product whose sync is already queued or running gets no
second one (the schedule records the running one), and a full queue (``JOBS_QUEUED_TOTAL``)
leaves the schedule due, so the next tick tries again.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from certadmin.audit.models import AuditAction, AuditOutcome
from certadmin.audit.services import RequestContext, audit_record
from certadmin.iot.identity import DeviceRef
from certadmin.jobs.services import (
    JOB_QUEUE_FULL,
    JobStartError,
    ProductSyncActive,
    product_sync_start,
)
from certadmin.schedules.cron import cron_next_run, cron_normalised
from certadmin.schedules.models import ScheduleSource, SyncSchedule

logger = logging.getLogger(__name__)


class ScheduleError(Exception):
    """The schedule cannot be changed here: ``message`` says why, for the person who asked."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def schedule_time_zone() -> ZoneInfo:
    """Schedules are read in the dashboard's time zone (``CERTADMIN_TIME_ZONE``)."""
    return ZoneInfo(settings.TIME_ZONE)


def schedule_next_run(*, cron: str, after: datetime) -> datetime | None:
    return cron_next_run(cron, after=after, timezone=schedule_time_zone())


def _product(schedule_or_fields) -> DeviceRef:
    return DeviceRef(
        product_key=schedule_or_fields.product_key,
        device_name="",
        iot_instance_id=schedule_or_fields.iot_instance_id,
        account=schedule_or_fields.account,
    )


def _detail(*, cron: str, mode: str) -> str:
    # The schedule as set, shown as it is in the audit trail ("0 3 * * *; full").
    return f"{cron}; {mode}"


def schedule_save(
    *,
    actor,
    context: RequestContext,
    account: str,
    product_key: str,
    iot_instance_id: str,
    cron: str,
    mode: str,
) -> SyncSchedule:
    """Create or change a product's schedule from the dashboard, audited (``SCHEDULE_SET``).
    The caller has validated the expression and checked that ``actor`` may use ``account``.
    Raises ``ScheduleError`` for a product whose schedule is set in configuration."""
    cron = cron_normalised(cron)
    product = {"account": account, "product_key": product_key, "iot_instance_id": iot_instance_id}
    if SyncSchedule.objects.filter(source=ScheduleSource.CONFIGURATION, **product).exists():
        raise ScheduleError(_("This product's schedule is set in the configuration."))
    next_run = schedule_next_run(cron=cron, after=timezone.now())
    saved: list[SyncSchedule] = []

    def write(_event) -> None:
        schedule, _created = SyncSchedule.objects.update_or_create(
            **product,
            defaults={
                "cron": cron,
                "mode": mode,
                "next_run_at": next_run,
                "source": ScheduleSource.DASHBOARD,
                "updated_by": actor,
            },
        )
        saved.append(schedule)

    audit_record(
        action=AuditAction.SCHEDULE_SET,
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        context=context,
        device=DeviceRef(
            product_key=product_key,
            device_name="",
            iot_instance_id=iot_instance_id,
            account=account,
        ),
        detail=_detail(cron=cron, mode=mode),
        then=write,
    )
    return saved[0]


def schedule_delete(*, actor, context: RequestContext, schedule: SyncSchedule) -> None:
    """Remove a dashboard schedule, audited (``SCHEDULE_DELETE``). Raises ``ScheduleError``
    for one set in configuration."""
    if schedule.source == ScheduleSource.CONFIGURATION:
        raise ScheduleError(_("This product's schedule is set in the configuration."))
    audit_record(
        action=AuditAction.SCHEDULE_DELETE,
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        context=context,
        device=_product(schedule),
        detail=_detail(cron=schedule.cron, mode=schedule.mode),
        then=lambda _event: SyncSchedule.objects.filter(pk=schedule.pk).delete(),
    )


def schedules_config_apply(*, now: datetime | None = None) -> None:
    """Make the configured schedules' rows match ``SYNC_SCHEDULES``: a configured product takes
    its configured schedule (over one set in the dashboard), and a product no longer
    configured loses its configured schedule. A changed expression gets a new next run."""
    now = now or timezone.now()
    configured = {(s.account, s.product_key, s.iot_instance_id): s for s in settings.SYNC_SCHEDULES}
    with transaction.atomic():
        for schedule in SyncSchedule.objects.select_for_update().filter(
            source=ScheduleSource.CONFIGURATION
        ):
            key = (schedule.account, schedule.product_key, schedule.iot_instance_id)
            if key not in configured:
                schedule.delete()
        for (account, product_key, instance), entry in configured.items():
            schedule = SyncSchedule.objects.filter(
                account=account, product_key=product_key, iot_instance_id=instance
            ).first()
            unchanged = (
                schedule is not None
                and schedule.source == ScheduleSource.CONFIGURATION
                and (schedule.cron, schedule.mode) == (entry.cron, entry.mode)
            )
            if unchanged:
                continue
            SyncSchedule.objects.update_or_create(
                account=account,
                product_key=product_key,
                iot_instance_id=instance,
                defaults={
                    "cron": entry.cron,
                    "mode": entry.mode,
                    "source": ScheduleSource.CONFIGURATION,
                    "next_run_at": schedule_next_run(cron=entry.cron, after=now),
                    "updated_by": None,
                },
            )


@dataclass(frozen=True)
class ScheduledRun:
    """What one due schedule did: the sync it started or found, or why it started none."""

    schedule_id: int
    job_id: int | None
    error: str


def schedules_due_run(*, now: datetime | None = None) -> list[ScheduledRun]:
    """Start the sync of every product whose next run is due. Each due schedule is claimed
    (its next run moved on) by one caller only, so ticks that overlap, on one host or several,
    start each run once."""
    now = now or timezone.now()
    schedules_config_apply(now=now)
    runs: list[ScheduledRun] = []
    due = SyncSchedule.objects.filter(next_run_at__lte=now).order_by("next_run_at", "pk")
    for schedule in due:
        following = schedule_next_run(cron=schedule.cron, after=now)
        claimed = SyncSchedule.objects.filter(
            pk=schedule.pk, next_run_at=schedule.next_run_at
        ).update(next_run_at=following, last_run_at=now)
        if not claimed:
            continue
        runs.append(_scheduled_sync_start(schedule, due_at=schedule.next_run_at))
    return runs


def _scheduled_sync_start(schedule: SyncSchedule, *, due_at: datetime) -> ScheduledRun:
    job = None
    error = ""
    try:
        job = product_sync_start(
            owner=None,
            product_key=schedule.product_key,
            iot_instance_id=schedule.iot_instance_id,
            account=schedule.account,
            mode=schedule.mode,
        )
    except ProductSyncActive as active:
        # Nothing queued twice: this run is the one already queued or running.
        job = active.job
    except JobStartError as refused:
        error = f"{refused.message} ({refused.code})"
        if refused.code == JOB_QUEUE_FULL:
            # Still due: the next tick tries again, once the queue has room.
            SyncSchedule.objects.filter(pk=schedule.pk).update(next_run_at=due_at)
    SyncSchedule.objects.filter(pk=schedule.pk).update(last_job=job, last_error=error[:500])
    if job is not None:
        logger.info(
            "scheduled sync of %s/%s: job %d",
            schedule.account,
            schedule.product_key,
            job.pk,
        )
    else:
        logger.warning(
            "scheduled sync of %s/%s not started: %s", schedule.account, schedule.product_key, error
        )
    return ScheduledRun(schedule_id=schedule.pk, job_id=job.pk if job else None, error=error)
