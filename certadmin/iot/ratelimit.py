"""Client-side rate limiting, so the dashboard stays within each API action's quota per account.

Every action has its own quota per Alibaba Cloud account (every AccessKey of the account, its
RAM users' included, shares it): ``ACTION_QPS``. ``QueryDevice`` has two: 50 calls/s, and 2
calls/s once ``CurrentPage × PageSize ≥ 100,000`` (``QUERY_DEVICE_DEEP``); ``call_quotas`` says
which quotas one call counts against. A quota is named by its action, and a limiter's
``acquire(key, quota=...)`` holds calls under one key (the client passes the AccessKeyId) to
that quota's rate, each quota on its own schedule.

A limiter spaces the calls made under one key and quota at least
``window * (1 + margin) / limit`` seconds apart: the Generic Cell Rate Algorithm with no burst.
Each ``acquire`` reserves the next free slot (the schedule's "theoretical arrival time") and
sleeps until it, so waiting callers are served in order and no window of ``window`` seconds
ever holds more than ``limit`` grants. ``acquire`` gives up with ``RateLimitTimeout`` (an
``IotThrottledError``, code ``Throttling.Local``) when the slot is more than ``max_wait``
seconds away, reserving nothing. A quota the limiter has no limit for is refused
(``ValueError``): a call's limit is known before it is sent, never learnt from a
``Throttling`` answer.

Why spacing and not a window of grants: the platform (and the emulator) refuse the 11th arrival
within any second. A sliding window of grants lets 10 calls go at once, so the network's jitter
between grant and arrival must be covered by lengthening the window (1.1 s: 9.1 calls/s, 9 % of
the quota lost). Spaced grants arrive spaced; ``margin`` only has to cover the difference in
transit time between a call and the tenth after it. ``SPACING_MARGIN`` (5 %: 9.5 calls/s) comes
from ``bench/quota.py`` (two processes sharing Redis against the emulator's real 1-second
window: 0 throttled from 3 % up) and from the two-host test, where two gunicorn instances on a
loaded machine brought the 11th arrival within 30 ms of the window at 3 %.

A slot is when a call may leave, not when it does: the caller sleeps until it, and on a busy
machine it wakes late (a descheduled process, a GC pause, a worker's other threads). A call
that leaves ``d`` late arrives ``d`` closer to the tenth call after it, whose slot was fixed by
the schedule; past the margin (50 ms at 5 %) that tenth call is the eleventh in the server's
window and gets ``Throttling.User`` (issue 24: one in 2 of 3 runs of a harness at 9.5/s). So
after its sleep a caller measures how late it is, and when that is more than ``LATE_GRACE``
(10 ms, under a fifth of the margin) it moves the schedule on by the excess: every slot not yet
handed out moves back by it, so the next calls keep their spacing from this call as it really
left, and the margin is kept for what happens after a call leaves (transit and the server's
own scheduling). The quota's rate is kept: only a call that was late costs its lateness once,
and a call on time costs nothing (``bench/quota.py``: ten runs at 9.5/s).

What the lateness check cannot see is the time from the wake to the server's decision (the
account's other quotas acquired after this one, signing, transit, the server's own queue),
and only the margin covers it: ``window * margin`` seconds between a call and the ``limit``-th
after it. A job's share below the quota adds its own slack (8 of
QueryDeviceCert's 10 calls/s: 250 ms per second), but jobs take all of a 2 calls/s quota (the
deep QueryDevice pages), so there the 50 ms of the margin were all: on a loaded machine two
processes' deep pages reached the server 3 in one second (``bench/sync_scale.py``, 1 in 400).
So a quota of at most ``LOW_QUOTA_QPS`` (2) calls per window is spaced with a margin of at least
``LOW_QUOTA_MARGIN`` (25 %: 250 ms per window, 1.6 calls/s at 2/s) by every limiter with a
margin (a limiter with none spaces exactly: the jobs' budget, behind the account's). It costs a
deep listing 40 s in 400 pages, and quotas above 2 keep their 5 %.

Where the schedule lives decides who shares it:

- ``GcraRateLimiter``: in one process's memory, thread-safe. ``process_rate_limiter`` is the one
  instance every client of a process shares by default (the pure client, tests, benchmarks).
- ``FileRateLimiter``: in small files under a directory, one per key and quota, each read and
  rewritten under an exclusive ``fcntl.flock``: shared by every process of one host, which is
  what the demo and a one-host deployment without Redis need (a ``cert_sync --wait`` beside a
  task worker, several gunicorn workers). Chosen over a row in the database because it is as
  cheap as the call it guards (an open, a lock, 40 bytes; no database write per call, which on
  SQLite would queue every grant behind the jobs' and the audit trail's writers on its single
  write lock), because the kernel drops a lock when its process dies (no stale lock after a
  kill -9), and because it keeps this package free of Django. The slot is a
  ``time.monotonic()`` reading, the clock every process of a host shares and that a wall-clock
  step cannot move, stored with the kernel's boot id so a schedule from before a reboot is
  ignored. It cannot be shared across hosts (nor through NFS, whose locks are not reliable):
  several hosts need Redis, and ``manage.py check`` says so.
- ``RedisRateLimiter``: in Redis (one key per key and quota, updated by an atomic Lua script on
  Redis's clock), shared by every process on every host.

``JobShareRateLimiter`` is what background jobs use: a grant from the jobs' own budget
(``JOB_QPS``, a share of each quota) and then one from the account's, so jobs always leave the
rest of every quota to people.
"""

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from certadmin.iot.errors import RateLimitTimeout

if TYPE_CHECKING:
    import redis

logger = logging.getLogger(__name__)

QUERY_DEVICE_CERT = "QueryDeviceCert"
QUERY_DEVICE = "QueryDevice"
BATCH_QUERY_DEVICE_DETAIL = "BatchQueryDeviceDetail"
QUERY_DEVICE_DETAIL = "QueryDeviceDetail"
# QueryDevice's deep pages (CurrentPage × PageSize at or past DEEP_PAGE_ROWS) count against a
# quota of their own, besides QueryDevice's.
QUERY_DEVICE_DEEP = "QueryDevice.deep"
DEEP_PAGE_ROWS = 100_000

# Each quota's calls per second per Alibaba Cloud account (the platform's API reference).
ACTION_QPS: Mapping[str, int] = {
    QUERY_DEVICE_CERT: 10,
    QUERY_DEVICE: 50,
    QUERY_DEVICE_DEEP: 2,
    BATCH_QUERY_DEVICE_DETAIL: 5,
    QUERY_DEVICE_DETAIL: 50,
}
# Of each quota, what all background jobs of an account together may take; the rest is kept
# for people (pages, device lists, the CLI). QueryDeviceCert's share is configurable per
# account (CERTADMIN_JOB_QPS). Jobs may take every deep QueryDevice page: only a sync lists that
# far (a device list scans at most 1,000 devices).
JOB_QPS: Mapping[str, int] = {
    QUERY_DEVICE_CERT: 8,
    QUERY_DEVICE: 25,
    QUERY_DEVICE_DEEP: 2,
    BATCH_QUERY_DEVICE_DETAIL: 4,
    QUERY_DEVICE_DETAIL: 40,
}
QUERY_DEVICE_CERT_QPS = ACTION_QPS[QUERY_DEVICE_CERT]
# The platform's quota window, in seconds.
QUOTA_WINDOW = 1.0
# Extra spacing between grants, as a fraction of the quota's interval (see the module text).
SPACING_MARGIN = 0.05
# Quotas of at most LOW_QUOTA_QPS calls per window are spaced with at least LOW_QUOTA_MARGIN
# (see the module text): 0.625 s apart at 2 calls/s instead of 0.525.
LOW_QUOTA_QPS = 2
LOW_QUOTA_MARGIN = 0.25
# How late a caller may wake for its slot before the schedule is moved on by the excess.
LATE_GRACE = 0.010


def _late_excess(late: float) -> float:
    """By how much the schedule moves on after a caller woke ``late`` seconds after its slot."""
    return late - LATE_GRACE if late > LATE_GRACE else 0.0


def call_quotas(action: str, params: Mapping[str, str]) -> tuple[str, ...]:
    """The quotas one call of ``action`` with ``params`` counts against, scarcest first: its
    action's, and for a ``QueryDevice`` page at or past row 100,000 (``CurrentPage ×
    PageSize``, defaults 1 and 10) the deep-page quota before it."""
    if action == QUERY_DEVICE:
        try:
            rows = int(params.get("CurrentPage") or 1) * int(params.get("PageSize") or 10)
        except ValueError:
            rows = 0
        if rows >= DEEP_PAGE_ROWS:
            return (QUERY_DEVICE_DEEP, QUERY_DEVICE)
    return (action,)


class RateLimiter(Protocol):
    """Anything that can block until one more call under ``key`` is within ``quota``."""

    def acquire(self, key: str, *, quota: str) -> None:
        """Block until a call under ``key`` is within ``quota`` (or raise
        ``RateLimitTimeout``)."""
        ...


def _interval(limit: int, window: float, margin: float) -> float:
    if limit < 1 or window <= 0 or margin < 0:
        raise ValueError("limit must be >= 1, window > 0 and margin >= 0")
    if margin and limit <= LOW_QUOTA_QPS:
        # Margin 0 is exact spacing: a budget behind a limiter that keeps the window.
        margin = max(margin, LOW_QUOTA_MARGIN)
    return window * (1 + margin) / limit


def _intervals(limits: Mapping[str, int], window: float, margin: float) -> dict[str, float]:
    return {quota: _interval(limit, window, margin) for quota, limit in limits.items()}


def _quota_interval(intervals: Mapping[str, float], quota: str) -> float:
    try:
        return intervals[quota]
    except KeyError:
        raise ValueError(f"no rate limit is known for {quota!r}") from None


class GcraRateLimiter:
    """In-process limiter: grants under one key and quota at least
    ``window * (1 + margin) / limits[quota]`` seconds apart, in the order asked. Thread-safe; a
    waiting thread sleeps (its slot is reserved), it does not poll."""

    def __init__(
        self,
        *,
        limits: Mapping[str, int] = ACTION_QPS,
        window: float = QUOTA_WINDOW,
        margin: float = SPACING_MARGIN,
        max_wait: float | None = None,
    ) -> None:
        self.intervals = _intervals(limits, window, margin)
        self.limits = dict(limits)
        self.window = window
        self.margin = margin
        self.max_wait = max_wait
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(limits={self.limits}, window={self.window}, "
            f"margin={self.margin}, max_wait={self.max_wait})"
        )

    def acquire(self, key: str, *, quota: str) -> None:
        """Reserve the next free slot under ``key`` and ``quota`` and sleep until it."""
        interval = _quota_interval(self.intervals, quota)
        schedule = f"{quota}:{key}"
        with self._lock:
            now = time.monotonic()
            slot = max(self._next.get(schedule, now), now)
            wait = slot - now
            if self.max_wait is not None and wait > self.max_wait:
                raise RateLimitTimeout()
            self._next[schedule] = slot + interval
        if wait > 0:
            time.sleep(wait)
        excess = _late_excess(time.monotonic() - slot)
        if excess:
            with self._lock:
                self._next[schedule] = self._next[schedule] + excess

    def reset(self) -> None:
        """Forget every reservation (for tests)."""
        with self._lock:
            self._next.clear()


# The one in-process limiter every client shares unless given another.
process_rate_limiter = GcraRateLimiter(max_wait=10.0)


def _boot_id() -> str:
    # Linux names each boot; elsewhere "" (a slot far ahead is then caught by STALE_AHEAD).
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


_BOOT_ID = _boot_id()
# A stored slot further ahead than this was not reserved by this boot's clock: ignored.
STALE_AHEAD = 3600.0


class FileRateLimiter:
    """GCRA limiter whose schedule lives in files under ``directory`` (one per key and quota,
    read and rewritten under ``fcntl.flock``): shared by every process of this host.

    Same spacing as ``GcraRateLimiter``. When the directory cannot be used (missing rights, a
    full disk), calls are limited by ``fallback`` (this process's limiter) instead of failing,
    and logged once per ``retry_files_after`` seconds.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        limits: Mapping[str, int] = ACTION_QPS,
        window: float = QUOTA_WINDOW,
        margin: float = SPACING_MARGIN,
        max_wait: float | None = None,
        fallback: RateLimiter | None = process_rate_limiter,
        retry_files_after: float = 30.0,
    ) -> None:
        self.directory = Path(directory)
        self.intervals = _intervals(limits, window, margin)
        self.limits = dict(limits)
        self.window = window
        self.margin = margin
        self.max_wait = max_wait
        self.fallback = fallback
        self.retry_files_after = retry_files_after
        self._files_down_until = 0.0

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self.directory)!r}, limits={self.limits}, "
            f"window={self.window}, margin={self.margin}, max_wait={self.max_wait})"
        )

    def _path(self, key: str, quota: str) -> Path:
        # The key (an AccessKeyId, maybe with a prefix) as a digest: a safe, fixed-size name.
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self.directory / f"{quota}-{digest}"

    def acquire(self, key: str, *, quota: str) -> None:
        """Reserve the next free slot under ``key`` and ``quota`` in its file and sleep until
        it."""
        interval = _quota_interval(self.intervals, quota)
        if self.fallback is not None and time.monotonic() < self._files_down_until:
            self.fallback.acquire(key, quota=quota)
            return
        path = self._path(key, quota)
        try:
            wait = self._reserve(path, interval)
        except OSError as exc:
            if self.fallback is None:
                raise
            logger.warning(
                "rate limiter: %s unusable (%s); limiting in-process for %.0fs",
                self.directory,
                type(exc).__name__,
                self.retry_files_after,
            )
            self._files_down_until = time.monotonic() + self.retry_files_after
            self.fallback.acquire(key, quota=quota)
            return
        slot = time.monotonic() + wait
        if wait > 0:
            time.sleep(wait)
        excess = _late_excess(time.monotonic() - slot)
        if excess:
            with contextlib.suppress(OSError):  # the next reservation still spaces calls
                self._reserve(path, excess, reserve=False)

    def _reserve(self, path: Path, interval: float, *, reserve: bool = True) -> float:
        """Reserve the next free slot in ``path`` and move it on by ``interval``; without
        ``reserve``, only move the next free slot on by ``interval`` (a late caller's excess)."""
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # Closing the descriptor releases the lock, as does the process's death.
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            now = time.monotonic()
            boot, _, stored = os.pread(descriptor, 64, 0).decode("ascii", "replace").partition(" ")
            try:
                slot = float(stored) if boot == _BOOT_ID else now
            except ValueError:
                slot = now
            if not reserve:
                # A late caller's excess moves the stored slot on, even one already past, as
                # the in-process limiter does; a stale or unreadable one is left to the next.
                if now - STALE_AHEAD <= slot <= now + STALE_AHEAD:
                    record = f"{_BOOT_ID} {slot + interval:.6f}".encode("ascii").ljust(64)
                    os.pwrite(descriptor, record, 0)
                return 0.0
            if not now <= slot <= now + STALE_AHEAD:
                slot = now
            wait = slot - now
            if self.max_wait is not None and wait > self.max_wait:
                raise RateLimitTimeout()
            record = f"{_BOOT_ID} {slot + interval:.6f}".encode("ascii").ljust(64)
            os.pwrite(descriptor, record, 0)
        finally:
            os.close(descriptor)
        return wait


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
# A late caller's excess (ARGV[1], microseconds): the next free slot moves on by it, so the calls
# after keep their spacing from the late one. No slot stored: the schedule is idle, nothing to do.
_REDIS_LATE_SCRIPT = """
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local moved = tonumber(stored) + tonumber(ARGV[1])
local ahead = moved - now
if ahead < 0 then ahead = 0 end
redis.call('SET', KEYS[1], string.format('%.0f', moved), 'PX', math.ceil(ahead / 1000) + 1000)
return 1
"""


class RedisRateLimiter:
    """GCRA limiter whose schedule lives in Redis, shared by every process using the server.

    Same spacing as ``GcraRateLimiter``. While Redis cannot be reached, calls are limited by
    ``fallback`` instead of failing (the dashboard passes this host's ``FileRateLimiter``), and
    Redis is not asked again for ``retry_redis_after`` seconds, so an outage does not slow
    every call.
    """

    def __init__(
        self,
        client: "redis.Redis",
        *,
        limits: Mapping[str, int] = ACTION_QPS,
        window: float = QUOTA_WINDOW,
        margin: float = SPACING_MARGIN,
        max_wait: float | None = None,
        prefix: str = "certadmin:iot:ratelimit:",
        fallback: RateLimiter | None = process_rate_limiter,
        retry_redis_after: float = 30.0,
    ) -> None:
        import redis

        self._redis_error = redis.RedisError
        self.intervals = _intervals(limits, window, margin)
        self.limits = dict(limits)
        self.window = window
        self.margin = margin
        self.max_wait = max_wait
        self.prefix = prefix
        self.fallback = fallback
        self.retry_redis_after = retry_redis_after
        self._redis_down_until = 0.0
        self._script = client.register_script(_REDIS_SCRIPT)
        self._late_script = client.register_script(_REDIS_LATE_SCRIPT)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(limits={self.limits}, window={self.window}, "
            f"margin={self.margin}, max_wait={self.max_wait}, prefix={self.prefix!r})"
        )

    def acquire(self, key: str, *, quota: str) -> None:
        """Reserve the next free slot under ``key`` and ``quota`` in Redis and sleep until it."""
        interval = _quota_interval(self.intervals, quota)
        if self.fallback is not None and time.monotonic() < self._redis_down_until:
            self.fallback.acquire(key, quota=quota)
            return
        max_wait_us = -1 if self.max_wait is None else int(self.max_wait * 1_000_000)
        schedule = f"{self.prefix}{quota}:{key}"
        asked = time.monotonic()
        try:
            wait_us = int(
                self._script(keys=[schedule], args=[round(interval * 1_000_000), max_wait_us])
            )
        except self._redis_error as exc:
            if self.fallback is None:
                raise
            # Only the class name: a Redis error's text can name the server's address.
            logger.warning(
                "rate limiter: Redis unavailable (%s); limiting on this host for %.0fs",
                type(exc).__name__,
                self.retry_redis_after,
            )
            self._redis_down_until = time.monotonic() + self.retry_redis_after
            self.fallback.acquire(key, quota=quota)
            return
        if wait_us < 0:
            raise RateLimitTimeout()
        # The slot on this host's clock, as early as it can be (Redis read its clock after
        # ``asked``): a stall on the way back from Redis counts as lateness too, and the way
        # there (a fraction of a millisecond) with it.
        slot = asked + wait_us / 1_000_000
        if wait_us > 0:
            time.sleep(wait_us / 1_000_000)
        excess = _late_excess(time.monotonic() - slot)
        if excess:
            with contextlib.suppress(self._redis_error):  # the next grant still spaces calls
                self._late_script(keys=[schedule], args=[round(excess * 1_000_000)])


# The jobs' budget's keys sit beside the account's: "batch:<AccessKeyId>".
BATCH_KEY_PREFIX = "batch:"


class JobShareRateLimiter:
    """A job's limiter: a grant from the shared jobs' budget, then one from the account's.

    ``batch`` grants at most the jobs' share of each quota (e.g. 8 of QueryDeviceCert's 10 per
    window) across all jobs; ``account`` is the very limiter the dashboard's interactive calls
    use, so a job never pushes the account over a quota and always leaves the rest of it to
    people.
    """

    def __init__(self, *, batch: RateLimiter, account: RateLimiter) -> None:
        self.batch = batch
        self.account = account

    def __repr__(self) -> str:
        return f"{type(self).__name__}(batch={self.batch!r}, account={self.account!r})"

    def acquire(self, key: str, *, quota: str) -> None:
        """Block until both the jobs' budget and the account's allow a call within ``quota``."""
        self.batch.acquire(BATCH_KEY_PREFIX + key, quota=quota)
        self.account.acquire(key, quota=quota)
