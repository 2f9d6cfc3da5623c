"""Per-account flow control, like the platform's per-account QPS quotas."""

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

# Documented quotas per Alibaba Cloud account (every AccessKey of the account, its RAM users'
# included, counts against them).
ACTION_QPS = {
    "QueryDeviceCert": 10,
    "QueryDevice": 50,
    "BatchQueryDeviceDetail": 5,
    "QueryDeviceDetail": 50,
    # QueryDevice calls that reach ``DEEP_PAGE_ROWS`` rows count against this as well.
    "QueryDevice.DeepPage": 2,
}
DEEP_PAGE_ROWS = 100_000


def quota_names(action: str, params: Mapping[str, str]) -> tuple[str, ...]:
    """The quotas a call counts against: its action's, and for a QueryDevice page at
    ``CurrentPage × PageSize ≥ 100,000`` also the deep pages' 2 calls/s (checked first)."""
    if action == "QueryDevice":
        page, size = params.get("CurrentPage") or "1", params.get("PageSize") or "10"
        if page.isdigit() and size.isdigit() and int(page) * int(size) >= DEEP_PAGE_ROWS:
            return ("QueryDevice.DeepPage", action)
    return (action,)


class SlidingWindowLimiter:
    """Allow at most ``limits[action]`` calls per account in any ``window``-second span.

    Refused calls do not use up quota.
    """

    def __init__(
        self,
        limits: Mapping[str, int] = ACTION_QPS,
        *,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = dict(limits)
        self._window = window
        self._clock = clock
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, account: str, action: str) -> bool:
        """Record a call of ``account`` and say whether it is within quota."""
        limit = self._limits.get(action)
        if limit is None:
            return True
        now = self._clock()
        with self._lock:
            calls = self._calls.setdefault((account, action), deque())
            while calls and now - calls[0] >= self._window:
                calls.popleft()
            if len(calls) >= limit:
                return False
            calls.append(now)
            return True

    def limit_set(self, action: str, qps: int) -> None:
        """Change one quota from now on (tests raise them to go at full speed)."""
        with self._lock:
            self._limits[action] = qps

    def reset(self) -> None:
        """Forget every recorded call."""
        with self._lock:
            self._calls.clear()
