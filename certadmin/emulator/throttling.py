"""Per-account flow control, like the platform's per-account QPS quotas."""

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

# Documented quotas: QueryDeviceCert 10 QPS per Alibaba Cloud account, QueryDevice 50 QPS
# (every AccessKey of the account, its RAM users' included, counts against them).
ACTION_QPS = {"QueryDeviceCert": 10, "QueryDevice": 50}


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

    def reset(self) -> None:
        """Forget every recorded call."""
        with self._lock:
            self._calls.clear()
