"""Fixtures for schedules: real ``manage.py crontask`` and ``manage.py task_worker`` processes
on the test database, talking to the test emulator."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.databases import database_url_for_processes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def process_env(dashboard_iot, settings):
    """``process_env(**extra)``: the environment of a process on the test database and the test
    emulator (its default account), in demo mode."""
    url = database_url_for_processes()

    def env(**extra: str) -> dict[str, str]:
        values = {
            **os.environ,
            "DATABASE_URL": url,
            "CERTADMIN_IOT_ENDPOINT": dashboard_iot.url,
            "CERTADMIN_LOG_LEVEL": "WARNING",
            **extra,
        }
        values.pop("ALIBABA_CLOUD_ACCESS_KEY_ID", None)
        return values

    return env


@pytest.fixture
def processes():
    """``processes(argv, env)``: start ``manage.py <argv>``; every one is stopped at the end."""
    started: list[subprocess.Popen] = []

    def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "manage.py", *argv],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def scheduler(processes, process_env):
    """``scheduler(**env)``: a real ``manage.py crontask`` whose tick comes every second
    (``CERTADMIN_SCHEDULER_TICK_SECONDS=1``) instead of every minute."""

    def start(**extra: str) -> subprocess.Popen:
        env = process_env(CERTADMIN_SCHEDULER_TICK_SECONDS="1", **extra)
        return processes(["crontask", "--no-heartbeat"], env)

    return start


@pytest.fixture
def task_worker(processes, process_env):
    """``task_worker(**env)``: a real ``manage.py task_worker`` polling every 0.2 s."""

    def start(**extra: str) -> subprocess.Popen:
        argv = ["task_worker", "--no-reload", "--no-startup-delay", "--interval", "0.2"]
        return processes([*argv, "--queue-name", "*", "-v", "0"], process_env(**extra))

    return start
