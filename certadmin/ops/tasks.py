"""The scheduler's heartbeat. ``manage.py crontask`` imports every app's ``tasks`` module; this
one adds a job to its scheduler that records, from the scheduler process itself, that it runs
(``/readyz`` reports it). It beats only once the scheduler holds its lock and has started."""

import os
import socket

from apscheduler.triggers.interval import IntervalTrigger
from crontask import scheduler
from django.utils import timezone

from certadmin.ops.heartbeat import HEARTBEAT_SECONDS, SCHEDULER, heartbeat_beat

scheduler.add_job(
    heartbeat_beat,
    IntervalTrigger(seconds=HEARTBEAT_SECONDS),
    kwargs={"worker_id": f"scheduler-{socket.gethostname()}-{os.getpid()}"[:64], "role": SCHEDULER},
    name="certadmin.ops.scheduler_heartbeat",
    # At once, even after a wait for the lock (APScheduler would skip a late first run).
    next_run_time=timezone.now(),
    misfire_grace_time=None,
    coalesce=True,
)
