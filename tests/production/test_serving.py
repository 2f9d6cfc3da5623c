"""The production setup, served for real: gunicorn with gunicorn.conf.py (several gthread
workers, multiprocess metrics), static files through WhiteNoise after collectstatic, JSON logs."""

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
METRICS_TOKEN = secrets.token_urlsafe(24)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def production_env(tmp_path, emulator) -> dict[str, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALIBABA_CLOUD_", "CERTADMIN_", "DJANGO_", "PROMETHEUS_"))
        and k not in ("DATABASE_URL", "REDIS_URL")
    }
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (tmp_path / "var").mkdir()
    return {
        **clean,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": settings.DEMO_ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": settings.DEMO_ACCESS_KEY_SECRET,
        "CERTADMIN_IOT_ENDPOINT": emulator.url,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "CERTADMIN_AUDIT_KEYS": "prod1:" + secrets.token_hex(32),
        "CERTADMIN_SSL_REDIRECT": "0",
        "CERTADMIN_VAR_DIR": str(tmp_path / "var"),
        "CERTADMIN_METRICS_TOKEN": METRICS_TOKEN,
        "CERTADMIN_WEB_WORKERS": "2",
        "CERTADMIN_BIND": f"127.0.0.1:{_free_port()}",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }


def _manage(*args: str, env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_gunicorn_serves_health_static_files_and_metrics_with_json_logs(production_env, tmp_path):
    env = production_env
    _manage("migrate", "--noinput", "-v", "0", env=env)
    _manage("collectstatic", "--noinput", "-v", "0", env=env)
    base = "http://" + env["CERTADMIN_BIND"]
    log = (tmp_path / "gunicorn.log").open("w+")
    server = subprocess.Popen(
        [str(GUNICORN), "-c", "gunicorn.conf.py"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not answer /healthz")

        health = requests.get(f"{base}/healthz", timeout=5)
        assert health.json() == {"status": "ok"}
        ready = requests.get(f"{base}/readyz", timeout=5)
        # No task worker runs here: not ready, and says why.
        assert ready.status_code == 503
        assert ready.json()["checks"]["worker"] == "none"
        login = requests.get(f"{base}/login/?next=/", timeout=5)
        assert login.status_code == 200
        stylesheet = requests.get(f"{base}/static/certadmin/app.css", timeout=5)
        assert stylesheet.status_code == 200
        assert stylesheet.headers["Content-Type"].startswith("text/css")
        assert requests.get(f"{base}/metrics", timeout=5).status_code == 401
        for _ in range(4):  # reach both workers
            requests.get(f"{base}/healthz", timeout=5)
        metrics = requests.get(
            f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=5
        )
        assert metrics.status_code == 200
        assert 'certadmin_http_request_duration_seconds_count{method="GET"' in metrics.text
        assert 'view="healthz"' in metrics.text
    finally:
        server.terminate()
        server.wait(timeout=30)
    log.seek(0)
    lines = [line for line in log.read().splitlines() if line.strip()]
    assert lines
    parsed = [json.loads(line) for line in lines]
    requests_logged = [line for line in parsed if line.get("event") == "request"]
    assert any(line["path"] == "/login/" for line in requests_logged)
    assert not any("next=" in line for line in lines)
