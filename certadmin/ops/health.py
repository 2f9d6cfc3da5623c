"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: database, cache, a task
worker and the scheduler alive; the IoT Platform's reachability reported but not required).

Both answer without login, in JSON, never cached, and say nothing about versions, hosts,
addresses or configuration: only the state of each dependency.
"""

import functools
import time

import requests
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from certadmin.ops.heartbeat import SCHEDULER, WORKER, heartbeat_is_fresh, heartbeat_latest

# A probe of the platform is a plain unsigned GET of the endpoint (it spends no API quota);
# its answer is remembered for a while so frequent probes do not become traffic.
PLATFORM_PROBE_TIMEOUT = 2.0
PLATFORM_PROBE_TTL = 30.0


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive (touches nothing else)."""
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database, the cache, a task worker and the scheduler are fine, else 503.
    Each check names its state: a process's is "none" (never seen) or "stale" (not seen for
    ``HEARTBEAT_STALE``) when it is not "ok"."""
    checks = {
        "database": _database_state(),
        "cache": _cache_state(),
        "worker": _heartbeat_state(WORKER),
        "scheduler": _heartbeat_state(SCHEDULER),
    }
    ready = all(state == "ok" for state in checks.values())
    # Every account's endpoint (one probe per distinct endpoint): reachable only if all are.
    period = int(time.monotonic() // PLATFORM_PROBE_TTL)
    endpoints = sorted({account.endpoint for account in settings.IOT_ACCOUNTS.values()})
    states = {_platform_state(endpoint, period) for endpoint in endpoints}
    checks["platform"] = "unreachable" if "unreachable" in states else "reachable"
    return JsonResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status=200 if ready else 503,
    )


def _database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return "unavailable"
    return "ok"


def _cache_state() -> str:
    key = "certadmin:readyz"
    try:
        cache.set(key, "1", timeout=30)
        return "ok" if cache.get(key) == "1" else "unavailable"
    except Exception:  # every cache backend raises its own errors
        return "unavailable"


def _heartbeat_state(role: str) -> str:
    try:
        beat = heartbeat_latest(role=role)
    except DatabaseError:
        return "unknown"
    if beat is None:
        return "none"
    return "ok" if heartbeat_is_fresh(beat) else "stale"


@functools.lru_cache(maxsize=4)
def _platform_state(endpoint: str, period: int) -> str:
    # ``period`` changes every PLATFORM_PROBE_TTL seconds: a new probe then.
    try:
        requests.get(endpoint, timeout=PLATFORM_PROBE_TIMEOUT, allow_redirects=False)
    except requests.RequestException:
        return "unreachable"
    return "reachable"
