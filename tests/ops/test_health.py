"""/healthz and /readyz: no login, JSON, no-store, nothing sensitive, 503 when not ready."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from certadmin.ops.heartbeat import SCHEDULER, heartbeat_record
from certadmin.ops.models import WorkerHeartbeat
from tests.support.iot_accounts import account_on

pytestmark = pytest.mark.django_db


def _body(response) -> dict:
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    return json.loads(response.content)


def test_healthz_answers_anyone_with_ok(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert _body(response) == {"status": "ok"}


def _live_worker_and_scheduler() -> None:
    heartbeat_record(worker_id="worker-1")
    heartbeat_record(worker_id="scheduler-1", role=SCHEDULER)


def test_readyz_is_ready_with_database_cache_a_live_worker_and_scheduler(client, dashboard_iot):
    _live_worker_and_scheduler()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert _body(response) == {
        "status": "ready",
        "checks": {
            "database": "ok",
            "cache": "ok",
            "worker": "ok",
            "scheduler": "ok",
            "platform": "reachable",
        },
    }


def test_readyz_is_not_ready_without_a_scheduler_and_a_worker_beat_does_not_count(client):
    heartbeat_record(worker_id="worker-1")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert _body(response)["checks"] == {
        "database": "ok",
        "cache": "ok",
        "worker": "ok",
        "scheduler": "none",
        "platform": _body(response)["checks"]["platform"],
    }


def test_readyz_is_not_ready_when_the_schedulers_last_heartbeat_is_stale(client):
    heartbeat_record(worker_id="worker-1")
    WorkerHeartbeat.objects.create(
        worker_id="scheduler-1", role=SCHEDULER, seen_at=timezone.now() - timedelta(minutes=5)
    )
    response = client.get("/readyz")
    assert response.status_code == 503
    assert _body(response)["checks"]["scheduler"] == "stale"


def test_a_scheduler_beat_does_not_stand_in_for_a_worker(client):
    heartbeat_record(worker_id="scheduler-1", role=SCHEDULER)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert _body(response)["checks"]["worker"] == "none"


def test_readyz_is_not_ready_without_a_worker_heartbeat(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert _body(response)["checks"]["worker"] == "none"


def test_readyz_is_not_ready_when_the_last_heartbeat_is_stale(client):
    WorkerHeartbeat.objects.create(
        worker_id="worker-1", seen_at=timezone.now() - timedelta(minutes=5)
    )
    response = client.get("/readyz")
    assert response.status_code == 503
    assert _body(response)["checks"]["worker"] == "stale"


def test_an_unreachable_platform_is_reported_but_does_not_fail_readiness(client, settings):
    account_on(settings, endpoint="http://127.0.0.1:9")  # discard port: nothing listens
    _live_worker_and_scheduler()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert _body(response)["checks"]["platform"] == "unreachable"


def test_health_answers_reveal_no_host_version_or_worker_name(client, settings):
    heartbeat_record(worker_id="db-host-7-4242")
    text = client.get("/readyz").content.decode() + client.get("/healthz").content.decode()
    endpoint = settings.IOT_ACCOUNTS[settings.IOT_DEFAULT_ACCOUNT].endpoint
    for secret in ("db-host-7-4242", endpoint, "django", "python", "6.1"):
        assert secret.lower() not in text.lower()


# A real worker run closes its database connections when it stops: on PostgreSQL that would
# break a test transaction, so this test commits for real.
@pytest.mark.django_db(transaction=True)
def test_the_task_worker_records_a_heartbeat_that_makes_readyz_ready(client):
    from django.core.management import call_command

    call_command("task_worker", "--batch", "--queue-name", "*", "--worker-id", "w-test")

    assert WorkerHeartbeat.objects.filter(worker_id="w-test").exists()
    assert _body(client.get("/readyz"))["checks"]["worker"] == "ok"
