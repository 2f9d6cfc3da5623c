"""The scheduler's one task. ``manage.py crontask`` (django-crontask) enqueues it every minute
(every ``SCHEDULER_TICK_SECONDS`` when set); a task worker runs it and starts the syncs that
are due. Schedules are rows, so one task covers them all."""

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from crontask import cron
from django.conf import settings
from django.tasks import task

from certadmin.schedules.services import schedules_due_run


def _tick() -> str | BaseTrigger:
    if settings.SCHEDULER_TICK_SECONDS > 0:
        return IntervalTrigger(seconds=settings.SCHEDULER_TICK_SECONDS)
    return "* * * * *"


@cron(_tick(), sentry_monitor_config=None)
@task
def schedules_due() -> int:
    """Start the sync of every product whose schedule is due; returns how many ran."""
    return len(schedules_due_run())
