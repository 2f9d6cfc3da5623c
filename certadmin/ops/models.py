"""The heartbeats of task workers and of the scheduler: what ``/readyz`` reads to know they
are alive."""

from django.db import models


class WorkerHeartbeat(models.Model):
    """One row per task worker (or scheduler), touched every ``HEARTBEAT_SECONDS`` while it
    runs."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    seen_at = models.DateTimeField()
    # "worker" (manage.py task_worker) or "scheduler" (manage.py crontask).
    role = models.CharField(max_length=16, default="worker", db_index=True)

    def __str__(self) -> str:
        return f"{self.worker_id} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
