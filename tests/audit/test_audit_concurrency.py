"""Concurrent appends queue up and the chain never forks: threads on PostgreSQL, processes on
SQLite."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, transaction

from certadmin.audit import services
from certadmin.audit.models import AuditEvent
from certadmin.audit.services import CHAIN_LOCK_ID, AuditWriteError
from certadmin.audit.verification import chain_verify
from tests.support.audit_events import make_event

ROOT = Path(__file__).resolve().parents[2]

# The threads write the audit app's tables only: after each test just those are emptied, not the
# whole database (whose flush, and the permissions rebuilt after it, cost more than the test).
AUDIT_TABLES_ONLY = pytest.mark.django_db(transaction=True, available_apps=["certadmin.audit"])


def _needs_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "threads need a server database: the in-memory SQLite test database is shared-cache "
            "and fails instead of waiting (SQLite concurrency is tested with processes below)"
        )


@pytest.mark.postgres
@AUDIT_TABLES_ONLY
def test_concurrent_threads_never_fork_the_chain():
    _needs_postgresql()
    workers = 24
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def append(n: int) -> None:
        try:
            start.wait(timeout=30)
            make_event(detail=f"thread {n}")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert AuditEvent.objects.count() == workers
    assert len(set(AuditEvent.objects.values_list("prev_hash", flat=True))) == workers
    report = chain_verify()
    assert report.ok, report.message
    assert report.checked == workers


@pytest.mark.postgres
@AUDIT_TABLES_ONLY
def test_a_held_chain_lock_makes_recording_fail_closed(monkeypatch):
    _needs_postgresql()
    monkeypatch.setattr(services, "LOCK_TIMEOUT", "300ms")
    held, release = threading.Event(), threading.Event()

    def hold_the_chain() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])
                held.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_chain)
    holder.start()
    try:
        assert held.wait(timeout=10)
        with pytest.raises(AuditWriteError, match="could not be written"):
            make_event()
    finally:
        release.set()
        holder.join(timeout=30)
    assert not AuditEvent.objects.exists()
    make_event()  # once the lock is free, appends work again
    assert chain_verify().ok


APPEND_SCRIPT = """
import os, time
from pathlib import Path
from certadmin.audit.services import RequestContext, audit_record
from certadmin.iot.identity import DeviceRef
folder = Path(os.environ["AUDIT_TEST_DIR"])
worker = os.environ["AUDIT_TEST_WORKER"]
(folder / f"ready-{worker}").touch()
while not (folder / "go").exists():
    time.sleep(0.01)
context = RequestContext(ip_address="192.0.2.1", user_agent=f"worker {worker}")
for n in range(int(os.environ["AUDIT_TEST_EVENTS"])):
    audit_record(action="key_reveal", outcome="success", actor=None, context=context,
                 device=DeviceRef("a1B2c3D4e5F", f"dev-{worker}"), detail=str(n))
"""

TAMPER_SCRIPT = """
from django.db import connection
from certadmin.audit.append_only import triggers_lifted
with triggers_lifted(connection=connection), connection.cursor() as cursor:
    cursor.execute("UPDATE audit_auditevent SET reason = 'x' WHERE id = 2")
"""


@pytest.mark.slow
def test_concurrent_processes_never_fork_the_chain_on_a_sqlite_file(tmp_path):
    processes, events_each = 6, 10
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'audit.sqlite3'}"}

    def manage(*args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
            **kwargs,
        )

    migrated = manage("migrate", "--verbosity", "0", env=env)
    assert migrated.returncode == 0, migrated.stderr
    workers = [
        subprocess.Popen(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", APPEND_SCRIPT],
            cwd=ROOT,
            env={
                **env,
                "AUDIT_TEST_DIR": str(tmp_path),
                "AUDIT_TEST_WORKER": str(n),
                "AUDIT_TEST_EVENTS": str(events_each),
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < processes and time.monotonic() < deadline:
        if any(worker.poll() is not None for worker in workers):
            break
        time.sleep(0.05)
    (tmp_path / "go").touch()
    for worker in workers:
        _, stderr = worker.communicate(timeout=180)
        assert worker.returncode == 0, stderr

    verified = manage("audit_verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"rows checked: {processes * events_each}" in verified.stdout
    assert "audit chain OK" in verified.stdout

    # The same database, tampered with: the command now exits non-zero.
    tampered = manage("shell", "--no-imports", "-c", TAMPER_SCRIPT, env=env)
    assert tampered.returncode == 0, tampered.stderr
    broken = manage("audit_verify", env=env)
    assert broken.returncode == 1
    assert "Row 2 was edited" in broken.stderr
