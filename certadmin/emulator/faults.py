"""Injected faults: latency, 5xx answers, malformed bodies and dropped connections.

Faults are set globally (every request, with a probability) or per device (every successful
lookup of that device), so tests can exercise a client's timeouts, retries and parsing.
"""

import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FAULT_KINDS = ("5xx", "malformed", "drop")


@dataclass(frozen=True)
class DeviceFault:
    """Faults attached to one device: applied when that device's lookup would succeed."""

    latency: float = 0.0
    http_status: int | None = None
    malformed: bool = False
    drop: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DeviceFault":
        """Build from a devices-file ``fault`` object; raise ValueError on anything odd."""
        if not isinstance(data, Mapping):
            raise ValueError("fault must be an object")
        unknown = set(data) - {"latency", "http_status", "malformed", "drop"}
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
        latency = data.get("latency", 0.0)
        if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
            raise ValueError("fault.latency must be a number of seconds >= 0")
        status = data.get("http_status")
        if status is not None and (
            isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599
        ):
            raise ValueError("fault.http_status must be an integer from 400 to 599")
        for flag in ("malformed", "drop"):
            if not isinstance(data.get(flag, False), bool):
                raise ValueError(f"fault.{flag} must be true or false")
        return cls(
            latency=float(latency),
            http_status=status,
            malformed=data.get("malformed", False),
            drop=data.get("drop", False),
        )


class GlobalFaults:
    """The run-time fault setting for every request; safe to change from another thread."""

    def __init__(self, kind: str | None = None, rate: float = 1.0, latency: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._random = random.Random()
        self.set(kind, rate=rate, latency=latency)

    def set(
        self,
        kind: str | None,
        *,
        rate: float = 1.0,
        latency: float = 0.0,
        actions: Iterable[str] | None = None,
    ) -> None:
        """Replace the setting: ``kind`` in FAULT_KINDS or None, ``rate`` 0..1, ``latency`` s,
        ``actions``: the actions faulted (None: every request)."""
        if kind is not None and kind not in FAULT_KINDS:
            raise ValueError(f"fault must be one of {', '.join(FAULT_KINDS)} or None")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        if latency < 0:
            raise ValueError("latency must be >= 0")
        with self._lock:
            self.kind = kind
            self.rate = rate
            self.latency = latency
            self.actions = None if actions is None else frozenset(actions)

    def draw(self, action: str | None = None) -> tuple[str | None, float]:
        """The fault (or None) and the latency to apply to the next request (of ``action``)."""
        with self._lock:
            if self.actions is not None and action not in self.actions:
                return None, 0.0
            kind = self.kind if self.kind and self._random.random() < self.rate else None
            return kind, self.latency
