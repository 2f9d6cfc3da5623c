"""Structured logs: one line per request, per platform call, per job run and per audit event,
each carrying the request id (django-log-request-id) that joins them; a job run's id is
``job-<id>`` (bound by certadmin/http/request_id.py). The fields travel as ``extra``: the JSON
formatter (python-json-logger, in production) writes them as keys; the plain format keeps them
readable in the message.

Nothing sensitive is ever a field: no query strings, bodies, keys, secrets or reasons.
"""

import logging

from certadmin.iot.client import CallRecord

request_logger = logging.getLogger("certadmin.requests")
platform_logger = logging.getLogger("certadmin.platform")


def request_log(
    *, method: str, path: str, status: int, duration: float, user_id: int | None, view: str
) -> None:
    """One line for one answered request (``path`` has no query string)."""
    request_logger.info(
        "%s %s %s %.1fms user=%s",
        method,
        path,
        status,
        duration * 1000,
        user_id if user_id is not None else "-",
        extra={
            "event": "request",
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(duration * 1000, 1),
            "user_id": user_id,
            "view": view,
        },
    )


def platform_call_log(record: CallRecord, *, account: str) -> None:
    """One line for one IoT Platform call (the client's ``on_call`` observer calls this)."""
    platform_logger.info(
        "iot %s %s %s/%s RequestId=%s %.1fms attempts=%d",
        record.action,
        record.outcome,
        record.product_key or "-",
        record.device_name or "-",
        record.request_id or "-",
        record.duration * 1000,
        record.attempts,
        extra={
            "event": "platform_call",
            "action": record.action,
            "account": account,
            "product_key": record.product_key,
            "device": record.device_name,
            "code": record.outcome,
            "platform_request_id": record.request_id,
            "duration_ms": round(record.duration * 1000, 1),
            "retries": max(record.attempts - 1, 0),
            "throttled": record.throttled,
        },
    )
