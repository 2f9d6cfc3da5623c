"""Task worker heartbeats in the database (django-tasks-db keeps none): every worker process
touches its row every ``HEARTBEAT_SECONDS``; readiness wants one younger than ``HEARTBEAT_STALE``.
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


def heartbeat_record(*, worker_id: str) -> None:
    """Say that ``worker_id`` is alive now."""
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id, defaults={"seen_at": timezone.now()}
    )


def heartbeat_latest() -> WorkerHeartbeat | None:
    """The most recent heartbeat of any worker, or None."""
    return WorkerHeartbeat.objects.order_by("-seen_at").first()


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
