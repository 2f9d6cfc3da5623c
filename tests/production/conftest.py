"""The production setup as processes: its environment, ``manage.py`` runs, gunicorn instances
and task workers, each killed when its test (or module) ends.

``production_environment`` is what ``make serve`` would see on a host: an AccessKey pair (the
emulator's demo pair, pointed at the test emulator), fresh Django and audit secrets, JSON logs;
nothing inherited from the developer's own configuration."""

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.conf import settings

from certadmin.emulator.server import RunningEmulator

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_environment(*, emulator: RunningEmulator, folder: Path) -> dict[str, str]:
    """The environment of a production host (state under ``folder``) talking to ``emulator``;
    a fresh audit key (``CERTADMIN_AUDIT_KEYS``), signing key and metrics token each time."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALIBABA_CLOUD_", "CERTADMIN_", "DJANGO_", "PROMETHEUS_"))
        and k not in ("DATABASE_URL", "REDIS_URL")
    }
    metrics_dir = folder / "prometheus"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    (folder / "var").mkdir(exist_ok=True)
    ca_file = folder / "emulator-ca.pem"
    ca_file.write_text(emulator.ca_certificate_pem, encoding="utf-8")
    return {
        **clean,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": settings.DEMO_ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": settings.DEMO_ACCESS_KEY_SECRET,
        "CERTADMIN_IOT_ENDPOINT": emulator.url,
        "CERTADMIN_CA_BUNDLE": str(ca_file),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "CERTADMIN_AUDIT_KEYS": "prod1:" + secrets.token_hex(32),
        "CERTADMIN_AUDIT_SIGNING_KEY": "sign1:" + secrets.token_hex(32),
        "CERTADMIN_SSL_REDIRECT": "0",
        "CERTADMIN_VAR_DIR": str(folder / "var"),
        "CERTADMIN_METRICS_TOKEN": secrets.token_urlsafe(24),
        "CERTADMIN_WEB_WORKERS": "2",
        "CERTADMIN_BIND": f"127.0.0.1:{free_port()}",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }


@pytest.fixture
def production_env(tmp_path, emulator) -> dict[str, str]:
    return production_environment(emulator=emulator, folder=tmp_path)


def manage(*args: str, env: dict[str, str]) -> None:
    """Run ``manage.py`` with ``args`` in ``env``; fail the test with its stderr if it fails."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def wait_for(condition, *, timeout: float, what: str, every: float = 0.2):
    """The first truthy ``condition()`` within ``timeout`` seconds, else fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


class Processes:
    """Processes started for a test: gunicorn instances and task workers, their output in files
    under ``folder``; ``stop()`` terminates them all (then kills what is left)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[subprocess.Popen] = []
        self.logs: dict[str, Path] = {}

    def _start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        log_path = self.folder / f"{name}.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.started.append(process)
        self.logs[name] = log_path
        return process

    def gunicorn(self, name: str, env: dict[str, str]) -> str:
        """Start gunicorn with gunicorn.conf.py in ``env``; its base URL once /healthz answers."""
        process = self._start(name, [str(GUNICORN), "-c", "gunicorn.conf.py"], env)
        base = "http://" + env["CERTADMIN_BIND"]

        def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"gunicorn {name} exited:\n{self.tail(name)}")
            try:
                return requests.get(f"{base}/healthz", timeout=5).status_code == 200
            except (requests.ConnectionError, requests.Timeout):
                # Listening, but its workers may still be importing Django: ask again.
                return False

        wait_for(healthy, timeout=60, what=f"gunicorn {name} to answer /healthz")
        return base

    def task_worker(self, name: str, env: dict[str, str]) -> subprocess.Popen:
        """Start ``manage.py task_worker`` (every queue, polling every 0.2 s) in ``env``."""
        command = [
            sys.executable, "manage.py", "task_worker", "--no-reload", "--no-startup-delay",
            "--interval", "0.2", "--queue-name", "*", "--worker-id", name, "-v", "0",
        ]  # fmt: skip
        return self._start(name, command, env)

    def scheduler(self, name: str, env: dict[str, str]) -> subprocess.Popen:
        """Start ``manage.py crontask`` (the scheduler; with Redis, one holds the lock)."""
        command = [sys.executable, "manage.py", "crontask", "--no-heartbeat"]
        return self._start(name, command, env)

    def tail(self, name: str, lines: int = 40) -> str:
        return "\n".join(self.logs[name].read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def processes(tmp_path) -> Iterator[Processes]:
    """Start gunicorn instances and task workers for one test; all stopped at its end."""
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.stop()
