"""How many IoT Platform calls one person may have in flight at once.

A live lookup is a platform call made while a person waits for the page: a certificate page
or download that the inventory cannot serve, a product's live device list, a key reveal or
key download, the product check that starts a job. Against a slow platform each one holds a
server thread for up to ``IOT_DEADLINE_SECONDS``, so one person opening many pages at once
could hold every thread. Each live lookup takes one of the person's
``LIVE_LOOKUPS_PER_USER`` slots for as long as it runs; a lookup that finds none free is
refused at once (``LiveLookupsBusy``, answered 429 with ``Retry-After``) instead of waiting.

Slots are keys in Django's cache: in Redis when ``REDIS_URL`` is set, so the cap holds across
processes and hosts; otherwise in the process's memory, so it holds per process. Each slot
expires after ``LIVE_LOOKUP_LEASE_SECONDS``: one held by a process that died frees itself.
Background jobs take no slot (their share of the quota is the rate limiter's business).
"""

import logging
import math
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from redis.exceptions import RedisError

from certadmin.iot.errors import IotThrottledError

logger = logging.getLogger(__name__)

# A code of certadmin's own, in the Throttling family: pages answer it 429 like the platform's
# flow control, and nothing retries it.
LIVE_LOOKUPS_BUSY = "Throttling.LiveLookups"


class LiveLookupsBusy(IotThrottledError):
    """The person already has ``limit`` live lookups in flight: refused without calling the
    platform. ``retry_after``: seconds until one of them has surely ended."""

    def __init__(self, *, limit: int, retry_after: int) -> None:
        super().__init__(
            LIVE_LOOKUPS_BUSY,
            f"{limit} lookups already waiting for the IoT Platform for this person",
            retryable=False,
        )
        self.limit = limit
        self.retry_after = retry_after


def live_lookup_retry_after() -> int:
    """Seconds after which a refused person may try again: every live lookup ends within the
    platform deadline of a page."""
    return max(1, math.ceil(settings.IOT_DEADLINE_SECONDS))


def _slot_key(user_pk, index: int) -> str:
    return f"live-lookup:{user_pk}:{index}"


@contextmanager
def live_lookup_slot(*, user) -> Iterator[None]:
    """Hold one of ``user``'s live lookup slots while the body calls the platform.

    Raises ``LiveLookupsBusy`` at once when all ``LIVE_LOOKUPS_PER_USER`` are held. The slot
    is given back however the body ends (answer, platform error, timeout, any exception).
    No person (a management command, cron: ``user`` None or anonymous) takes no slot. A cache
    that cannot be reached lets the lookup through: the cap protects the server's threads, and
    refusing every page while Redis is down would not.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        yield
        return
    limit = settings.LIVE_LOOKUPS_PER_USER
    lease = math.ceil(settings.LIVE_LOOKUP_LEASE_SECONDS)
    token = secrets.token_hex(8)
    held = None
    try:
        # cache.add is atomic (Redis SET NX; the local-memory cache takes a lock): of several
        # requests racing for the last slot, exactly one gets it.
        for index in range(limit):
            if cache.add(_slot_key(user.pk, index), token, timeout=lease):
                held = _slot_key(user.pk, index)
                break
        else:
            raise LiveLookupsBusy(limit=limit, retry_after=live_lookup_retry_after())
    except RedisError as error:
        logger.warning("live lookup slots unavailable (%s): not capped", type(error).__name__)
    try:
        yield
    finally:
        if held is not None:
            _slot_release(held, token)


def _slot_release(key: str, token: str) -> None:
    try:
        # Only our own slot: one that outlived its lease may have been taken by another lookup.
        if cache.get(key) == token:
            cache.delete(key)
    except RedisError as error:
        # It expires on its own after its lease.
        logger.warning("a live lookup slot was not released (%s)", type(error).__name__)


def retry_after_add(response: HttpResponse) -> HttpResponse:
    """Say in a 429 answer when to try again (``Retry-After``); other answers are unchanged."""
    if response.status_code == 429 and not response.has_header("Retry-After"):
        response["Retry-After"] = str(live_lookup_retry_after())
    return response
