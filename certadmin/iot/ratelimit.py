"""Client-side rate limiting, so the dashboard stays under QueryDeviceCert's 10 QPS per account.

A limiter grants calls per key (the client uses the AccessKeyId, since RAM users share their
account's quota) so that no window of ``window`` seconds holds more than ``limit`` grants.
``acquire`` blocks until a call is allowed; with ``max_wait`` it gives up with
``RateLimitTimeout`` (an ``IotThrottledError``, code ``Throttling.Local``).

- ``SlidingWindowRateLimiter``: in-process and thread-safe; ``process_rate_limiter`` is the one
  instance every client in the process shares by default.
- ``RedisRateLimiter``: the same window kept in Redis, shared by every worker process.
"""

import logging
import threading
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Protocol

from certadmin.iot.errors import RateLimitTimeout

if TYPE_CHECKING:
    import redis

logger = logging.getLogger(__name__)

QUERY_DEVICE_CERT_QPS = 10
# A little over a second: the emulator and the platform count arrivals, and thread scheduling
# plus network jitter between acquiring and arriving must not put 11 calls in one server second.
SAFE_WINDOW = 1.1


class RateLimiter(Protocol):
    """Anything that can block until one more call under ``key`` is allowed."""

    def acquire(self, key: str) -> None:
        """Block until a call under ``key`` is allowed (or raise ``RateLimitTimeout``)."""
        ...


class SlidingWindowRateLimiter:
    """In-process sliding-window limiter: at most ``limit`` grants per key in any ``window``.

    Thread-safe; waiting threads sleep on a condition variable rather than spin.
    """

    def __init__(
        self,
        *,
        limit: int = QUERY_DEVICE_CERT_QPS,
        window: float = 1.0,
        max_wait: float | None = None,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.max_wait = max_wait
        self._grants: dict[str, deque[float]] = {}
        self._condition = threading.Condition()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(limit={self.limit}, window={self.window}, "
            f"max_wait={self.max_wait})"
        )

    def acquire(self, key: str) -> None:
        """Block until fewer than ``limit`` grants under ``key`` lie in the last ``window``."""
        deadline = None if self.max_wait is None else time.monotonic() + self.max_wait
        with self._condition:
            grants = self._grants.setdefault(key, deque())
            while True:
                now = time.monotonic()
                while grants and grants[0] <= now - self.window:
                    grants.popleft()
                if len(grants) < self.limit:
                    grants.append(now)
                    return
                wait = grants[0] + self.window - now
                if deadline is not None and now + wait > deadline:
                    raise RateLimitTimeout()
                self._condition.wait(timeout=wait)

    def reset(self) -> None:
        """Forget every grant (for tests)."""
        with self._condition:
            self._grants.clear()
            self._condition.notify_all()


# The one in-process limiter every client shares unless given another.
process_rate_limiter = SlidingWindowRateLimiter(
    limit=QUERY_DEVICE_CERT_QPS, window=SAFE_WINDOW, max_wait=10.0
)


# Lua keeps the check-and-add atomic across processes. Redis's own clock (TIME) is the one
# clock every worker agrees on. Returns 0 when granted, else microseconds until a slot frees.
_REDIS_SCRIPT = """
local key = KEYS[1]
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local member = ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, math.ceil(window / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class RedisRateLimiter:
    """Sliding-window limiter in a Redis sorted set, shared by every process using the server.

    Each grant is a member scored by Redis's clock in microseconds; an atomic Lua script drops
    grants older than the window and adds one if fewer than ``limit`` remain. The default window
    has the same safety margin as ``process_rate_limiter``. While Redis cannot be reached, calls
    are limited by ``fallback`` (this process's limiter) instead of failing, and Redis is not
    asked again for ``retry_redis_after`` seconds, so an outage does not slow every call.
    """

    def __init__(
        self,
        client: "redis.Redis",
        *,
        limit: int = QUERY_DEVICE_CERT_QPS,
        window: float = SAFE_WINDOW,
        max_wait: float | None = None,
        prefix: str = "certadmin:iot:ratelimit:",
        fallback: RateLimiter | None = process_rate_limiter,
        retry_redis_after: float = 30.0,
    ) -> None:
        import redis

        self._redis_error = redis.RedisError
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.max_wait = max_wait
        self.prefix = prefix
        self.fallback = fallback
        self.retry_redis_after = retry_redis_after
        self._redis_down_until = 0.0
        self._script = client.register_script(_REDIS_SCRIPT)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(limit={self.limit}, window={self.window}, "
            f"max_wait={self.max_wait}, prefix={self.prefix!r})"
        )

    def acquire(self, key: str) -> None:
        """Block until Redis grants a call under ``key`` (or raise ``RateLimitTimeout``)."""
        deadline = None if self.max_wait is None else time.monotonic() + self.max_wait
        window_us = int(self.window * 1_000_000)
        while True:
            if self.fallback is not None and time.monotonic() < self._redis_down_until:
                self.fallback.acquire(key)
                return
            try:
                wait_us = int(
                    self._script(
                        keys=[self.prefix + key], args=[window_us, self.limit, uuid.uuid4().hex]
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
            if wait_us <= 0:
                return
            wait = wait_us / 1_000_000
            if deadline is not None and time.monotonic() + wait > deadline:
                raise RateLimitTimeout()
            time.sleep(wait)


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
