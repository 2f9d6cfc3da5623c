"""What the checks read and say: one record's facts, one observed problem, the policy and
what a run shares."""

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple


class RecordFacts(NamedTuple):
    """The inventory columns the checks read (``RECORD_FIELDS``, in this order)."""

    device_name: str
    device_status: str
    status: int | None
    not_before: datetime | None
    not_after: datetime | None
    chain_status: str
    last_checked: datetime | None
    sha256_fingerprint: str
    public_key_sha256: str
    key_algorithm: str
    key_size: int | None
    key_curve: str
    signature_hash: str
    # 0 device, 1 gateway (``devices.models.NodeType``); None until a sync asked the details.
    node_type: int | None = None


RECORD_FIELDS = RecordFacts._fields


# Not frozen: ``record_findings`` sets ``device_rank`` on the ones it just made, a million times
# in a large run, instead of copying them (a frozen dataclass's init is slower too).
@dataclass(slots=True)
class Observed:
    """One problem a check found on one device (``device_name`` "" for none)."""

    code: str
    severity: int
    device_name: str = ""
    subject: str = ""
    detail: str = ""
    device_rank: int = 0
    window_days: int | None = None
    not_after: datetime | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies the finding within one product."""
        return (self.code, self.device_name, self.subject)


@dataclass(frozen=True)
class CheckPolicy:
    """The checks' settings (``policy_from_settings`` in ``runs`` reads them)."""

    # cert.expiring's windows in days, widest first (default 30, 14, 7, 1).
    expiring_windows: Sequence[int] = (30, 14, 7, 1)
    ca_expiring_days: int = 90
    generating_after: timedelta = timedelta(hours=24)
    # None: cert.too_old is off.
    max_age: timedelta | None = timedelta(days=1825)
    freshness: timedelta = timedelta(days=7)
    lint_warnings: bool = False


# Never activated, and disabled, on the platform's device list.
INACTIVE_STATUSES = {"UNACTIVE": "never activated", "DISABLE": "disabled"}


@dataclass(frozen=True)
class RunContext:
    """What the checks of one product's records share: now, the policy, and what was worked out
    once for the run (keys on more than one device, generation start times, lint results)."""

    now: datetime
    policy: CheckPolicy
    # public_key_sha256 -> on how many devices of the whole inventory (only those on 2+).
    shared_keys: Mapping[str, int]
    # device_name -> since when its certificate is being generated (status 0).
    generating_since: Mapping[str, datetime]
    # sha256_fingerprint -> [(severity, code), ...] from pkilint (absent: not linted yet).
    lint_problems: Mapping[str, Sequence[Sequence[str]]]

    # The policy's bounds as moments, worked out once for the run's million comparisons.
    @functools.cached_property
    def expiring_until(self) -> datetime:
        """The widest expiring window's end: a notAfter later is in no window."""
        return self.now + timedelta(days=max(self.policy.expiring_windows, default=0))

    @functools.cached_property
    def issued_before(self) -> datetime | None:
        """A certificate issued before this is older than the maximum age (None: no limit)."""
        return None if self.policy.max_age is None else self.now - self.policy.max_age

    @functools.cached_property
    def checked_before(self) -> datetime:
        """A record last checked before this is stale."""
        return self.now - self.policy.freshness


def ready(record: RecordFacts) -> bool:
    """A certificate the platform issued (status 2) and that was read (it has a notAfter)."""
    return record.status == 2 and record.not_after is not None
