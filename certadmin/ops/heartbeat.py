"""Heartbeats in the database (django-tasks-db and django-crontask keep none): every task
worker and the scheduler touch their row every ``HEARTBEAT_SECONDS``; readiness wants one of
each role younger than ``HEARTBEAT_STALE``.
"""

import logging
import threading
from datetime import timedelta

from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from certadmin.ops.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15
HEARTBEAT_STALE = timedelta(seconds=60)
# Roles: a task worker (manage.py task_worker), the scheduler (manage.py crontask).
WORKER = "worker"
SCHEDULER = "scheduler"


def heartbeat_record(*, worker_id: str, role: str = WORKER) -> None:
    """Say that ``worker_id`` is alive now."""
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id, defaults={"seen_at": timezone.now(), "role": role}
    )


def heartbeat_beat(*, worker_id: str, role: str) -> None:
    """``heartbeat_record`` from a thread of its own (the scheduler's): a database that fails
    is logged, not raised, and the next beat tries again on a fresh connection."""
    try:
        close_old_connections()
        heartbeat_record(worker_id=worker_id, role=role)
    except DatabaseError as exc:
        logger.warning("%s heartbeat failed (%s)", role, type(exc).__name__)


def heartbeat_latest(*, role: str = WORKER) -> WorkerHeartbeat | None:
    """The most recent heartbeat of any process of ``role``, or None."""
    return WorkerHeartbeat.objects.filter(role=role).order_by("-seen_at").first()


def heartbeat_is_fresh(beat: WorkerHeartbeat | None) -> bool:
    return beat is not None and timezone.now() - beat.seen_at <= HEARTBEAT_STALE


def heartbeat_thread_start(*, worker_id: str) -> threading.Event:
    """Beat from a daemon thread until the returned event is set (or the process ends)."""
    stop = threading.Event()
    heartbeat_record(worker_id=worker_id)  # at once: ready as soon as the worker is

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                close_old_connections()
                heartbeat_record(worker_id=worker_id)
            except DatabaseError as exc:
                logger.warning("worker heartbeat failed (%s)", type(exc).__name__)
        connection.close()

    threading.Thread(target=beat, name="certadmin-heartbeat", daemon=True).start()
    return stop
