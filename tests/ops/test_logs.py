"""Logs: a whole session (login, lookup, reveal, bundle download, failed re-auth, upstream error)
written as production writes it (JSON formatter, request ids) — every line one JSON object with
its fields, no line carrying key material, the AccessKey secret, a password or a passphrase."""

import io
import json
import logging

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from pythonjsonlogger.json import JsonFormatter

from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.support.key_material import api_answer, key_fragments
from tests.support.people import ROLE_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

PASSPHRASE = "a long p12 passphrase for the log test"
REASON = "Ticket OPS-9001: a reason is audited, never logged"
WRONG_PASSWORD = "not-my-password-at-all-77"


@pytest.fixture
def json_log():
    """Everything logged (root and the runserver/gunicorn loggers) as production formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging_config = settings.LOGGING["formatters"]["json"]
    handler.setFormatter(
        JsonFormatter(logging_config["fmt"], rename_fields=logging_config["rename_fields"])
    )
    from log_request_id.filters import RequestIDFilter

    handler.addFilter(RequestIDFilter())
    watched = [logging.getLogger(name) for name in ("", "django.server", "gunicorn.error")]
    levels = [logger.level for logger in watched]
    for logger in watched:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield stream
    for logger, level in zip(watched, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_full_session_logs_json_lines_with_request_ids_and_no_secret(
    json_log, dashboard_iot, custodian
):
    device = "thermo-001"
    key_text = api_answer(dashboard_iot, device).private_key
    dashboard_iot.reset_rate_limits()
    browser = Client()

    # Log in (the password travels in the body only), look the device up, reveal its key.
    login = browser.post(
        reverse("login"), {"username": custodian.username, "password": ROLE_PASSWORD}
    )
    assert login.status_code == 302
    lookup = browser.get(
        reverse("devices:lookup"), {"product_key": DEMO_PRODUCT_KEY, "device_name": device}
    )
    assert lookup.status_code in (200, 302)
    page = browser.get(reverse("devices:device", args=[DEMO_PRODUCT_KEY, device]))
    assert page.status_code == 200
    reveal_url = reverse("devices:key", args=[DEMO_PRODUCT_KEY, device])
    revealed = browser.post(
        reveal_url, {"action": "reveal", "reason": REASON, "password": ROLE_PASSWORD}
    )
    assert key_text.strip().splitlines()[1] in revealed.content.decode()
    bundle = browser.post(
        reverse("devices:key", args=[DEMO_PRODUCT_KEY, device]),
        {
            "action": "p12",
            "reason": REASON,
            "passphrase": PASSPHRASE,
            "passphrase_confirm": PASSPHRASE,
        },
    )
    assert bundle.status_code == 200
    # A failed re-authentication, then the platform failing.
    other = Client()
    other.post(reverse("login"), {"username": custodian.username, "password": ROLE_PASSWORD})
    refused = other.post(
        reveal_url, {"action": "reveal", "reason": REASON, "password": WRONG_PASSWORD}
    )
    assert refused.status_code in (400, 403)
    dashboard_iot.set_fault("5xx")
    failing = browser.get(reverse("devices:device", args=["a1Demo7Sh2x", "thermo-002"]))
    assert failing.status_code == 502
    dashboard_iot.set_fault(None)

    text = json_log.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines
    for line in lines:
        assert {"time", "level", "logger", "message", "request_id"} <= line.keys()

    requests = [line for line in lines if line.get("event") == "request"]
    assert {r["status"] for r in requests} >= {200, 302, 502}
    for request in requests:
        assert {"method", "path", "status", "duration_ms", "user_id", "request_id"} <= set(request)
        assert "?" not in request["path"]
        assert request["request_id"] != "-"
    assert all(r["user_id"] == custodian.pk for r in requests if r["path"] != "/login/")

    calls = [line for line in lines if line.get("event") == "platform_call"]
    assert {c["code"] for c in calls} >= {"Success"}
    assert any(c["code"] not in ("Success",) and c["retries"] >= 1 for c in calls)
    for call in calls:
        assert call["account"] == "default"
        assert {"action", "device", "platform_request_id", "duration_ms", "retries"} <= set(call)

    audits = [line for line in lines if line.get("event") == "audit"]
    assert {a["action"] for a in audits} >= {"key_reveal", "key_download"}
    assert {a["outcome"] for a in audits} >= {"success", "denied"}
    # The reveal's audit line, platform call and request line share the request id.
    reveal_audit = next(a for a in audits if a["action"] == "key_reveal")
    reveal_request = next(
        r
        for r in requests
        if r["request_id"] == reveal_audit["request_id"] and r["method"] == "POST"
    )
    assert reveal_request["path"] == reveal_url

    for fragment in key_fragments(key_text):
        assert fragment not in text
    for secret in (
        settings.IOT_ACCOUNTS[settings.IOT_DEFAULT_ACCOUNT].access_key_secret,
        ROLE_PASSWORD,
        WRONG_PASSWORD,
        PASSPHRASE,
        REASON,
    ):
        assert secret not in text


def test_a_job_run_logs_under_the_job_request_id(json_log, dashboard_iot, viewer):
    from certadmin.iot.identity import DeviceRef
    from certadmin.jobs.runner import job_work
    from certadmin.jobs.services import device_lookup_job_create

    job = device_lookup_job_create(
        owner=viewer, kind="batch_lookup", devices=[DeviceRef(DEMO_PRODUCT_KEY, "thermo-001")]
    )
    job_work(job_id=job.pk)

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    ours = [line for line in lines if line["request_id"] == f"job-{job.pk}"]
    assert {line.get("event") for line in ours} >= {"job_run", "platform_call", "job_run_end"}
