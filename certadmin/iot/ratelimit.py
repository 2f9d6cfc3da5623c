"""Client-side rate limiting, so the dashboard stays under QueryDeviceCert's 10 QPS per account.

A limiter spaces the calls made under one key (the client uses the AccessKeyId, since RAM users
share their account's quota) at least ``window * (1 + margin) / limit`` seconds apart: the
Generic Cell Rate Algorithm with no burst. Each ``acquire`` reserves the next free slot (the
key's "theoretical arrival time") and sleeps until it, so waiting callers are served in order
and no window of ``window`` seconds ever holds more than ``limit`` grants. ``acquire`` gives up
with ``RateLimitTimeout`` (an ``IotThrottledError``, code ``Throttling.Local``) when the slot is
more than ``max_wait`` seconds away, reserving nothing.

Why spacing and not a window of grants: the platform (and the emulator) refuse the 11th arrival
within any second. A sliding window of grants lets 10 calls go at once, so the network's jitter
between grant and arrival must be covered by lengthening the window (1.1 s: 9.1 calls/s, 9 % of
the quota lost). Spaced grants arrive spaced; ``margin`` only has to cover the difference in
transit time between a call and the tenth after it. ``SPACING_MARGIN`` (5 %: 9.5 calls/s) comes
from ``bench/quota.py`` (two processes sharing Redis against the emulator's real 1-second
window: 0 throttled from 3 % up) and from the two-host test, where two gunicorn instances on a
loaded machine brought the 11th arrival within 30 ms of the window at 3 %.

- ``GcraRateLimiter``: in-process and thread-safe; ``process_rate_limiter`` is the one
  instance every client in the process shares by default.
- ``RedisRateLimiter``: the same schedule kept in Redis (one key per limiter key, updated by an
  atomic Lua script on Redis's clock), shared by every worker process.
"""

import logging
import threading
import time
from typing import TYPE_CHECKING, Protocol

from certadmin.iot.errors import RateLimitTimeout

if TYPE_CHECKING:
    import redis

logger = logging.getLogger(__name__)

QUERY_DEVICE_CERT_QPS = 10
# The platform's quota window, in seconds.
QUOTA_WINDOW = 1.0
# Extra spacing between grants, as a fraction of the quota's interval (see the module text).
SPACING_MARGIN = 0.05


class RateLimiter(Protocol):
    """Anything that can block until one more call under ``key`` is allowed."""

    def acquire(self, key: str) -> None:
        """Block until a call under ``key`` is allowed (or raise ``RateLimitTimeout``)."""
        ...


def _interval(limit: int, window: float, margin: float) -> float:
    if limit < 1 or window <= 0 or margin < 0:
        raise ValueError("limit must be >= 1, window > 0 and margin >= 0")
    return window * (1 + margin) / limit


class GcraRateLimiter:
    """In-process limiter: grants under one key at least ``window * (1 + margin) / limit``
    seconds apart, in the order asked. Thread-safe; a waiting thread sleeps (its slot is
    reserved), it does not poll."""

    def __init__(
        self,
        *,
        limit: int = QUERY_DEVICE_CERT_QPS,
        window: float = QUOTA_WINDOW,
        margin: float = SPACING_MARGIN,
        max_wait: float | None = None,
    ) -> None:
        self.interval = _interval(limit, window, margin)
        self.limit = limit
        self.window = window
        self.margin = margin
        self.max_wait = max_wait
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(limit={self.limit}, window={self.window}, "
            f"margin={self.margin}, max_wait={self.max_wait})"
        )

    def acquire(self, key: str) -> None:
        """Reserve the next free slot under ``key`` and sleep until it."""
        with self._lock:
            now = time.monotonic()
            slot = max(self._next.get(key, now), now)
            wait = slot - now
            if self.max_wait is not None and wait > self.max_wait:
                raise RateLimitTimeout()
            self._next[key] = slot + self.interval
        if wait > 0:
            time.sleep(wait)

    def reset(self) -> None:
        """Forget every reservation (for tests)."""
        with self._lock:
            self._next.clear()


# The one in-process limiter every client shares unless given another.
process_rate_limiter = GcraRateLimiter(limit=QUERY_DEVICE_CERT_QPS, max_wait=10.0)


# GCRA in one atomic step on Redis's clock (TIME: the one clock every worker agrees on), in
# microseconds. KEYS[1] holds the next free slot. Returns the wait before the reserved slot, or
# -1 (nothing reserved) when that is beyond ARGV[2] (negative: no limit). string.format keeps
# the stored number exact (tostring would round it to 14 digits).
_REDIS_SCRIPT = """
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local wait = slot - now
if max_wait >= 0 and wait > max_wait then
  return -1
end
redis.call('SET', KEYS[1], string.format('%.0f', slot + interval),
           'PX', math.ceil((wait + interval) / 1000) + 1000)
return wait
"""


class RedisRateLimiter:
    """GCRA limiter whose schedule lives in Redis, shared by every process using the server.

    Same spacing as ``GcraRateLimiter``. While Redis cannot be reached, calls are limited by
    ``fallback`` (this process's limiter) instead of failing, and Redis is not asked again for
    ``retry_redis_after`` seconds, so an outage does not slow every call.
    """

    def __init__(
        self,
        client: "redis.Redis",
        *,
        limit: int = QUERY_DEVICE_CERT_QPS,
        window: float = QUOTA_WINDOW,
        margin: float = SPACING_MARGIN,
        max_wait: float | None = None,
        prefix: str = "certadmin:iot:ratelimit:",
        fallback: RateLimiter | None = process_rate_limiter,
        retry_redis_after: float = 30.0,
    ) -> None:
        import redis

        self._redis_error = redis.RedisError
        self.interval = _interval(limit, window, margin)
        self.limit = limit
        self.window = window
        self.margin = margin
        self.max_wait = max_wait
        self.prefix = prefix
        self.fallback = fallback
        self.retry_redis_after = retry_redis_after
        self._redis_down_until = 0.0
        self._script = client.register_script(_REDIS_SCRIPT)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(limit={self.limit}, window={self.window}, "
            f"margin={self.margin}, max_wait={self.max_wait}, prefix={self.prefix!r})"
        )

    def acquire(self, key: str) -> None:
        """Reserve the next free slot under ``key`` in Redis and sleep until it."""
        if self.fallback is not None and time.monotonic() < self._redis_down_until:
            self.fallback.acquire(key)
            return
        max_wait_us = -1 if self.max_wait is None else int(self.max_wait * 1_000_000)
        try:
            wait_us = int(
                self._script(
                    keys=[self.prefix + key],
                    args=[round(self.interval * 1_000_000), max_wait_us],
                )
            )
        except self._redis_error as exc:
            if self.fallback is None:
                raise
            # Only the class name: a Redis error's text can name the server's address.
            logger.warning(
                "rate limiter: Redis unavailable (%s); limiting in-process for %.0fs",
                type(exc).__name__,
                self.retry_redis_after,
            )
            self._redis_down_until = time.monotonic() + self.retry_redis_after
            self.fallback.acquire(key)
            return
        if wait_us < 0:
            raise RateLimitTimeout()
        if wait_us > 0:
            time.sleep(wait_us / 1_000_000)


# The batch budget's keys sit beside the account's: "batch:<AccessKeyId>".
BATCH_KEY_PREFIX = "batch:"


class JobShareRateLimiter:
    """A job's limiter: a grant from the shared batch budget, then one from the account's.

    ``batch`` grants at most the jobs' share of the quota (e.g. 8 of 10 per window) across all
    jobs; ``account`` is the very limiter the dashboard's interactive calls use, so a job never
    pushes the account over its quota and always leaves the rest of it to people.
    """

    def __init__(self, *, batch: RateLimiter, account: RateLimiter) -> None:
        self.batch = batch
        self.account = account

    def __repr__(self) -> str:
        return f"{type(self).__name__}(batch={self.batch!r}, account={self.account!r})"

    def acquire(self, key: str) -> None:
        """Block until both the batch budget and the account budget allow a call."""
        self.batch.acquire(BATCH_KEY_PREFIX + key)
        self.account.acquire(key)
