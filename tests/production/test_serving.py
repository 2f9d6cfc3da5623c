"""The production setup, served for real: gunicorn with gunicorn.conf.py (several gthread
workers, multiprocess metrics), static files through WhiteNoise after collectstatic, JSON logs."""

import json

import pytest
import requests

from tests.production.conftest import manage


@pytest.mark.slow
def test_gunicorn_serves_health_static_files_and_metrics_with_json_logs(production_env, processes):
    env = production_env
    manage("migrate", "--noinput", "-v", "0", env=env)
    manage("collectstatic", "--noinput", "-v", "0", env=env)
    base = processes.gunicorn("web", env)
    metrics_token = env["CERTADMIN_METRICS_TOKEN"]
    try:
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
            f"{base}/metrics", headers={"Authorization": f"Bearer {metrics_token}"}, timeout=5
        )
        assert metrics.status_code == 200
        assert 'certadmin_http_request_duration_seconds_count{method="GET"' in metrics.text
        assert 'view="healthz"' in metrics.text
    finally:
        processes.stop()
    lines = [line for line in processes.logs["web"].read_text().splitlines() if line.strip()]
    assert lines
    parsed = [json.loads(line) for line in lines]
    requests_logged = [line for line in parsed if line.get("event") == "request"]
    assert any(line["path"] == "/login/" for line in requests_logged)
    assert not any("next=" in line for line in lines)
