"""``manage.py task_worker``: django-tasks-db's ``db_worker`` that also records a heartbeat
(``/readyz`` reports whether some worker beat recently). Same options as ``db_worker``."""

import os
import socket

from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from certadmin.ops.heartbeat import heartbeat_thread_start


class Command(DbWorkerCommand):
    help = "Run task workers (django-tasks-db's db_worker) with a heartbeat for /readyz."

    def handle(self, *args, **options) -> None:
        worker_id = options.get("worker_id") or f"{socket.gethostname()}-{os.getpid()}"
        stop = heartbeat_thread_start(worker_id=worker_id[:64])
        try:
            super().handle(*args, **options)
        finally:
            stop.set()
