"""The audit chain itself: what a row's hash covers, how it is computed, and what a walk finds.

Each row's ``entry_hash`` is the SHA-256 of its canonical serialization, which includes the
``prev_hash`` of the row before it; changing, removing or reordering any row therefore breaks
every link after it. The writer (``certadmin.audit.services``) and the verifier
(``certadmin.audit.verification``) both import this module and nothing else of each other.

How a digest is taken is decided in ``_digest`` alone, so that keying the chain (HMAC with a key
id stored per row) changes that function and what feeds it, not its callers' logic.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC

from certadmin.audit.models import AuditEvent, chain_problem_message

GENESIS_HASH = "0" * 64

# Every stored field except the id (assigned by the database; prev_hash orders the chain) and
# entry_hash itself. Adding a field to AuditEvent means adding it here, in a new hash version.
HASHED_FIELDS = (
    "created_at",
    "actor_id",
    "actor_username",
    "action",
    "outcome",
    "product_key",
    "device_name",
    "iot_instance_id",
    "cert_sn",
    "certificate_sha256",
    "key_fingerprint",
    "reason",
    "detail",
    "ip_address",
    "user_agent",
    "platform_code",
    "platform_request_id",
    "prev_hash",
)


def canonical_event_bytes(event: AuditEvent) -> bytes:
    """The bytes an event's hash covers: sorted-key compact JSON of ``HASHED_FIELDS``."""
    values = {}
    for name in HASHED_FIELDS:
        value = getattr(event, name)
        if name == "created_at":
            value = value.astimezone(UTC).isoformat(timespec="microseconds")
        values[name] = value
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: AuditEvent) -> str:
    """Lowercase hex digest of ``canonical_event_bytes(event)``: the value ``entry_hash`` holds."""
    return _digest(canonical_event_bytes(event))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """What one walk over the chain found.

    ``head_id``/``head_hash`` name the last row that verified: the chain head when ``ok``.
    ``problem`` (a ``ChainProblem``) is empty when ``ok``.
    """

    ok: bool
    checked: int
    head_id: int | None
    head_hash: str
    expected_head: str = ""
    problem: str = ""
    first_broken_id: int | None = None
    previous_id: int | None = None

    @property
    def message(self) -> str:
        return chain_problem_message(
            problem=self.problem,
            first_broken_id=self.first_broken_id,
            previous_id=self.previous_id,
        )
