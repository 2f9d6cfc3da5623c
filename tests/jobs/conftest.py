"""Fixtures for jobs: products of our own on the emulator, and counts taken on its side."""

import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field

import pytest

from tests.support.databases import database_url_for_processes

_products = itertools.count(1)


@dataclass
class EmulatorCounts:
    """What the emulator itself saw: QueryDeviceCert answers per device, and refusals for
    flow control (Throttling.User) per action."""

    lookups: Counter = field(default_factory=Counter)
    throttled: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def emulator_counts(dashboard_iot):
    """Count, on the emulator's side, each device's certificate answers and every throttling
    refusal, by wrapping the emulator's own store and flow-control objects for this test."""
    gateway = dashboard_iot._gateway
    counts = EmulatorCounts()
    real_info = gateway.store.certificate_info
    real_allow = gateway.limiter.allow

    def certificate_info(device):
        with counts.lock:
            counts.lookups[device.device_name] += 1
        return real_info(device)

    def allow(access_key_id, action):
        allowed = real_allow(access_key_id, action)
        if not allowed:
            with counts.lock:
                counts.throttled[action] += 1
        return allowed

    gateway.store.certificate_info = certificate_info
    gateway.limiter.allow = allow
    yield counts
    del gateway.store.certificate_info
    del gateway.limiter.allow


@pytest.fixture
def own_product(dashboard_iot):
    """``own_product(n)``: a new product on the emulator with ``n`` devices (EC keys, quick to
    issue) named ``dev-00001``...; returns its ProductKey."""

    def make(count: int, **extra) -> str:
        product_key = f"jobs{next(_products):03d}{threading.get_ident() % 1000:03d}x"
        for number in range(1, count + 1):
            dashboard_iot.add_device(
                {
                    "product_key": product_key,
                    "device_name": f"dev-{number:05d}",
                    "key_type": "ec",
                    **extra,
                }
            )
        return product_key

    return make


@pytest.fixture
def process_env(dashboard_iot, settings):
    """``process_env(**extra)``: the environment of a ``manage.py`` process on the test database
    (and quota schedule), talking to the test emulator; ``REDIS_URL=""`` runs it without Redis.

    The test database must be one another process can open: PostgreSQL (DATABASE_URL) or a
    SQLite file; the in-memory SQLite test database cannot be shared, so such tests skip."""
    import os

    url = database_url_for_processes()

    def environment(**extra_env: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "CERTADMIN_IOT_ENDPOINT": dashboard_iot.url,
            "CERTADMIN_JOB_LEASE_SECONDS": str(settings.JOB_LEASE_SECONDS),
            "CERTADMIN_JOB_QPS": str(settings.JOB_QPS),
            "CERTADMIN_JOB_RUNS": str(settings.JOB_RUNS),
            "CERTADMIN_RATE_LIMIT_DIR": str(settings.IOT_RATE_LIMIT_DIR),
            "CERTADMIN_CA_BUNDLE": settings.IOT_CA_BUNDLE,
            "CERTADMIN_LOG_LEVEL": "WARNING",
            **extra_env,
        }
        env.pop("ALIBABA_CLOUD_ACCESS_KEY_ID", None)
        return env

    return environment


# The task workers `make run` and `make serve` start (Makefile, Procfile): one that takes only
# the short jobs people wait for, and one that takes any job.
INTERACTIVE_QUEUES = "interactive"
ANY_QUEUE = "*"


@pytest.fixture
def db_worker(process_env):
    """``db_worker(queues="*", **env)``: start a real ``manage.py task_worker`` process taking
    ``queues`` (as ``make run`` starts them), on the test database, talking to the test
    emulator; every one started is killed at the end of the test."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    started: list[subprocess.Popen] = []

    def start(queues: str = ANY_QUEUE, **extra_env: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "task_worker",
                "--no-reload",
                "--no-startup-delay",
                "--interval",
                "0.2",
                "--queue-name",
                queues,
                "-v",
                "0",
            ],
            cwd=root,
            env=process_env(**extra_env),
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
