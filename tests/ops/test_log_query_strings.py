"""No log line, in any format, carries a query string.

Django's own warnings (``django.request`` for 4xx/5xx, ``django.security.*``) pass the request
as the record's ``request`` attribute, and the JSON formatter wrote it with its full path:
``/metrics?token=…`` reached production logs. Here a whole session is logged through the
handlers the settings configure (JSON and plain), and every byte written is searched.
"""

import copy
import io
import json
import logging
import re
import runpy
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils.log import configure_logging

from certadmin.emulator import DEMO_PRODUCT_KEY
from certadmin.http.access_log import QUERY_OMITTED, QueryStringRedactingFilter
from tests.support.people import ROLE_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
DEVICE = "thermo-001"
# Text that only ever travels in a query string: none of it may be written anywhere.
SECRETS = [f"QSECRET{n}x" for n in range(14)]
# A "?" not followed by the marker, by the end of a word or by the end of a JSON string.
UNREDACTED_QUERY = re.compile(r"\?(?!\[query omitted\])[^\s\"'\\]")


@pytest.fixture
def logging_as_configured():
    """Configure logging as Django does from ``settings.LOGGING`` (with the chosen format),
    writing to a buffer instead of standard error; put every logger back afterwards."""
    loggers = [
        logging.getLogger(),
        *map(logging.getLogger, list(logging.Logger.manager.loggerDict)),
    ]
    saved = [
        (log, log.handlers[:], log.level, log.propagate, log.filters[:], log.disabled)
        for log in loggers
    ]
    real_stderr = sys.stderr

    def configure(log_format: str) -> io.StringIO:
        config = copy.deepcopy(settings.LOGGING)
        config["handlers"]["console"]["formatter"] = log_format
        config["root"]["level"] = "DEBUG"
        stream = io.StringIO()
        sys.stderr = stream  # StreamHandler() takes sys.stderr when it is made
        try:
            configure_logging(settings.LOGGING_CONFIG, config)
        finally:
            sys.stderr = real_stderr
        return stream

    yield configure
    for log, handlers, level, propagate, filters, disabled in saved:
        log.handlers[:], log.level, log.propagate = handlers, level, propagate
        log.filters[:], log.disabled = filters, disabled


def handlers_of_every_logger() -> list[logging.Handler]:
    # The loggers the project's configuration writes through: the root, every logger it names,
    # Django's and certadmin's. Libraries that only the tests import (the official SDKs add a
    # handler of their own at import) and gunicorn's loggers (configured by gunicorn from
    # gunicorn.conf.py, checked below) are not part of it.
    configured = (*settings.LOGGING.get("loggers", {}), "django", "certadmin", "py.warnings")
    loggers = [logging.getLogger()] + [
        log
        for name, log in logging.Logger.manager.loggerDict.items()
        if isinstance(log, logging.Logger)
        and any(name == root or name.startswith(root + ".") for root in configured)
    ]
    return [
        handler
        for log in loggers
        for handler in log.handlers
        # pytest's own capture, and handlers that write nothing.
        if not type(handler).__module__.startswith("_pytest")
        and not isinstance(handler, logging.NullHandler)
    ]


@pytest.mark.parametrize("debug", [False, True])
def test_every_configured_handler_filters_query_strings(logging_as_configured, settings, debug):
    settings.DEBUG = debug
    logging_as_configured("json")

    handlers = handlers_of_every_logger()

    assert handlers
    for handler in handlers:
        assert any(isinstance(f, QueryStringRedactingFilter) for f in handler.filters), handler


def test_gunicorn_json_logging_filters_query_strings_on_every_handler(
    monkeypatch, logging_as_configured
):
    from gunicorn.glogging import CONFIG_DEFAULTS

    monkeypatch.setenv("CERTADMIN_LOG_FORMAT", "json")
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    logging_as_configured("json")  # only to have every logger put back afterwards
    merged = {**CONFIG_DEFAULTS, **conf["logconfig_dict"]}  # as gunicorn merges them
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    logging.config.dictConfig(merged)
    monkeypatch.undo()

    logging.getLogger("gunicorn.error").warning("GET /x?token=%s", SECRETS[0])
    logging.getLogger("django.request").warning(
        "Forbidden: /metrics", extra={"request": "<WSGIRequest: GET '/metrics?token=QSECRET1x'>"}
    )

    text = stream.getvalue()
    assert text.count(QUERY_OMITTED) == 2
    assert "QSECRET" not in text


class FakeRequest:
    def __str__(self) -> str:
        return f"<WSGIRequest: GET '/metrics?token={SECRETS[2]}'>"


def _record(**changes) -> logging.LogRecord:
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Forbidden", (), None
    )
    record.__dict__.update(changes)
    return record


def test_the_filter_takes_query_strings_out_of_every_part_of_a_record():
    try:
        raise RuntimeError(f"upstream said: GET https://iot.example/?AccessKeyId={SECRETS[3]}")
    except RuntimeError:
        exc_info = sys.exc_info()
    records = [
        _record(msg="Not Found: %s", args=(f"/x?token={SECRETS[4]}",)),
        _record(msg="%(path)s", args={"path": f"/y?token={SECRETS[5]}"}),
        _record(request=FakeRequest(), status_code=403),
        _record(extra_paths=[f"/a?b={SECRETS[6]}", {"nested": f"/c?d={SECRETS[7]}"}]),
        _record(exc_info=exc_info),
        _record(stack_info=f'File "x", line 1, in /z?token={SECRETS[8]}'),
        _record(msg={"event": "request", "url": f"/q?token={SECRETS[9]}"}),
    ]
    formatter = logging.Formatter("%(message)s %(request)s")
    for record in records:
        assert QueryStringRedactingFilter().filter(record) is True
        # Twice, as gunicorn's logger and its handler both may: the marker stays as it is.
        QueryStringRedactingFilter().filter(record)
        record.__dict__.setdefault("request", "-")
        written = formatter.format(record) + json.dumps(record.__dict__, default=str)
        assert "QSECRET" not in written
        assert not UNREDACTED_QUERY.search(written), written
        assert "omitted] omitted]" not in written
    assert records[2].status_code == 403
    assert records[6].msg["event"] == "request"


def test_a_question_in_a_message_is_left_alone():
    record = _record(msg="Is the CA bundle configured? %s", args=("no",))
    QueryStringRedactingFilter().filter(record)
    assert record.getMessage() == "Is the CA bundle configured? no"


def session(dashboard_iot, custodian, viewer, monkeypatch) -> dict[str, int]:
    """Every kind of request whose log lines once could carry its query string."""
    settings.METRICS_TOKEN = "the-real-metrics-token-for-this-test"
    statuses = {}
    anonymous = Client(raise_request_exception=False)
    statuses["anonymous page"] = anonymous.get(f"/devices/?next={SECRETS[0]}").status_code
    statuses["login"] = anonymous.post(
        f"/login/?next=/&token={SECRETS[1]}",
        {"username": custodian.username, "password": ROLE_PASSWORD},
    ).status_code
    failed = Client(raise_request_exception=False)
    statuses["failed login"] = failed.post(
        f"/login/?token={SECRETS[2]}", {"username": viewer.username, "password": "wrong-password"}
    ).status_code
    statuses["search"] = anonymous.get(
        reverse("devices:lookup") + f"?product_key={DEMO_PRODUCT_KEY}&device_name={DEVICE}"
        f"&t={SECRETS[3]}"
    ).status_code
    device_url = reverse("devices:device", args=[DEMO_PRODUCT_KEY, DEVICE])
    statuses["certificate page"] = anonymous.get(
        device_url + f"?refresh=1&t={SECRETS[4]}"
    ).status_code
    statuses["reveal"] = anonymous.post(
        reverse("devices:key", args=[DEMO_PRODUCT_KEY, DEVICE]) + f"?t={SECRETS[5]}",
        {"action": "reveal", "reason": "Ticket OPS-1 log test", "password": ROLE_PASSWORD},
    ).status_code
    statuses["404"] = anonymous.get(f"/no-such-page/?token={SECRETS[6]}").status_code
    statuses["404 with an encoded ?"] = anonymous.get(
        f"/devices/x%3Ftoken%3D{SECRETS[7]}/"
    ).status_code
    viewer_client = Client(raise_request_exception=False)
    viewer_client.force_login(viewer)
    statuses["403"] = viewer_client.post(
        reverse("devices:key", args=[DEMO_PRODUCT_KEY, DEVICE]) + f"?token={SECRETS[8]}",
        {"action": "reveal", "reason": "not allowed to", "password": ROLE_PASSWORD},
    ).status_code
    statuses["metrics with a wrong token"] = (
        Client(REMOTE_ADDR="203.0.113.9")
        .get(f"/metrics?token={SECRETS[9]}", headers={"authorization": "Bearer wrong"})
        .status_code
    )
    strict = Client(enforce_csrf_checks=True, raise_request_exception=False)
    statuses["CSRF failure"] = strict.post(f"/login/?token={SECRETS[10]}", {}).status_code
    statuses["bad host"] = anonymous.get(
        f"/login/?token={SECRETS[11]}", headers={"host": "evil.example"}
    ).status_code
    statuses["bad charset"] = anonymous.generic(
        "POST",
        f"/login/?token={SECRETS[12]}",
        b"a=b",
        content_type="application/x-www-form-urlencoded; charset=latin-1",
    ).status_code

    def failing_lookup(*args, **kwargs):
        raise RuntimeError(f"upstream said: GET https://iot.example/?AccessKeyId={SECRETS[13]}")

    monkeypatch.setattr("certadmin.devices.views.certificate.certificate_lookup", failing_lookup)
    statuses["500"] = anonymous.get(device_url + f"?refresh=1&t={SECRETS[13]}").status_code
    return statuses


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("log_format", ["json", "plain"])
def test_no_line_of_a_whole_session_carries_a_query_string(
    logging_as_configured, log_format, dashboard_iot, custodian, viewer, monkeypatch
):
    stream = logging_as_configured(log_format)

    statuses = session(dashboard_iot, custodian, viewer, monkeypatch)

    assert statuses["reveal"] == 200
    assert {statuses[k] for k in ("404", "404 with an encoded ?")} == {404}
    assert statuses["403"] == 403
    assert statuses["metrics with a wrong token"] in (401, 403)
    assert statuses["CSRF failure"] == statuses["403"]
    assert statuses["bad host"] == statuses["bad charset"] == 400
    assert statuses["500"] == 500
    text = stream.getvalue()
    for logger_name in ("django.request", "django.security", "certadmin.requests", "axes"):
        assert logger_name in text, logger_name
    assert "Traceback" in text  # the 500's exception is logged, without its query
    if log_format == "json":
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert any("request" in line for line in lines)
    for secret in SECRETS:
        assert secret not in text, secret
    assert not UNREDACTED_QUERY.search(text), UNREDACTED_QUERY.search(text)
