"""Query strings stay out of the servers' access logs: runserver and gunicorn,
each started for real on a free port."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hunter2-in-the-url"
PATHS = [f"/login/?password={SECRET}", f"/devices/?passphrase={SECRET}&reason=x"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_and_read_log(command: list[str], port: int, tmp_path: Path) -> str:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ALIBABA_CLOUD_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    env["PYTHONPATH"] = str(ROOT)
    log_file = tmp_path / "server.log"
    with log_file.open("w") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    requests.get(f"http://127.0.0.1:{port}/static/", timeout=2)
                    break
                except (requests.ConnectionError, requests.Timeout):
                    # Refused, or accepted by the master before a worker has booted.
                    assert time.monotonic() < deadline, log_file.read_text()
                    time.sleep(0.2)
            for path in PATHS:
                requests.get(
                    f"http://127.0.0.1:{port}{path}",
                    headers={"Referer": f"http://127.0.0.1:{port}/login/?password={SECRET}"},
                    allow_redirects=False,
                    timeout=10,
                )
            time.sleep(0.5)
        finally:
            server.terminate()
            server.wait(timeout=10)
    return log_file.read_text()


@pytest.mark.parametrize("server", ["runserver", "gunicorn"])
def test_query_strings_never_reach_the_access_log(tmp_path, server):
    port = free_port()
    if server == "runserver":
        command = [
            sys.executable,
            "manage.py",
            "runserver",
            "--noreload",
            "--skip-checks",
            f"127.0.0.1:{port}",
        ]
    else:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        command = [str(gunicorn), "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}", "-w", "1"]

    log = serve_and_read_log(command, port, tmp_path)

    assert "/login/?[query omitted]" in log  # the request was logged, without its query
    assert SECRET not in log
    assert "passphrase" not in log
