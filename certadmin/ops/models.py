"""The task workers' heartbeats: what ``/readyz`` reads to know a worker is alive."""

from django.db import models


class WorkerHeartbeat(models.Model):
    """One row per task worker, touched every ``HEARTBEAT_SECONDS`` while it runs."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.worker_id} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
