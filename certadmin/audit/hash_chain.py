"""The audit chain itself: what a row's hash covers, how it is computed, and what a walk finds.

Each row's ``entry_hash`` is the HMAC-SHA-256, under the audit key named by the row's ``key_id``,
of its canonical serialization, which includes the ``prev_hash`` of the row before it; changing,
removing or reordering any row therefore breaks every link after it, and without the key nobody
can compute a valid hash for a forged row. Rows written before the chain was keyed have an empty
``key_id`` and a plain SHA-256 (hash version 1); they still verify, but only up to the id that
``CERTADMIN_AUDIT_UNKEYED_UP_TO`` names and before the first keyed row. The writer
(``certadmin.audit.services``) and the verifier (``certadmin.audit.verification``) both import
this module and nothing else of each other.

``canonical_bytes`` is the one serialization: the writer feeds it a model's attributes, the
verifier the tuples of ``values_list(*CHAIN_FIELDS)``, in the same order.

From hash version 4 the free-text fields of ``REDACTABLE_FIELDS`` (reason, CertSN) are covered
through a keyed digest of each (``field_digest``) instead of the text itself, as Vault's audit
devices HMAC values: the text can then be redacted (blanked, as an audited event) and the row
still verifies, while the verifier checks every text that is still there against its digest.
"""

import hashlib
import hmac
import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter

from django.conf import settings
from django.db.models import CharField, TextField

from certadmin.audit.models import (
    REDACTABLE_FIELDS,
    AuditEvent,
    ChainProblem,
    chain_problem_message,
)

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
# Hash version 2 adds the key id (so a row cannot be re-attributed to another key); version 3
# adds the API account. Each is a member only when it is not empty, so version 1 rows (no key)
# and version 2 rows (no account) hash exactly as they always did, while blanking either field
# of a newer row changes its bytes.
# Version 4 adds a digest of each redactable text, a member instead of the text when it is not
# empty: older rows (no digests) hash as they always did; the writer gives every new row both
# digests, and blanking a digest brings its text back into the bytes, so the hash breaks.
DIGEST_FIELDS = tuple(f"{name}_digest" for name in REDACTABLE_FIELDS)
CHAIN_FIELDS = (*HASHED_FIELDS, "key_id", "account", *DIGEST_FIELDS)
_OPTIONAL = ("key_id", "account", *DIGEST_FIELDS)
# What a walk reads of each row: the chain fields, then which event redacted each redactable
# text (not covered by the hash: checked against the redaction event it names).
REDACTED_BY_FIELDS = tuple(f"{name}_redacted_by" for name in REDACTABLE_FIELDS)
WALK_FIELDS = (*CHAIN_FIELDS, *REDACTED_BY_FIELDS)
_KEY_ID = CHAIN_FIELDS.index("key_id")
_ACCOUNT = CHAIN_FIELDS.index("account")
_CREATED_AT = CHAIN_FIELDS.index("created_at")
_DIGESTS = tuple(CHAIN_FIELDS.index(name) for name in DIGEST_FIELDS)
# Keeps each redactable text apart from any other field's, and a field digest apart from any
# row hash (canonical bytes start with "{"), checkpoint or export signature.
_FIELD_DOMAIN = b"certadmin audit field v1\n"


_escape = json.encoder.encode_basestring  # a str as JSON text, ensure_ascii=False


def _always_text(name: str) -> bool:
    field = AuditEvent._meta.get_field(name)
    return isinstance(field, CharField | TextField) and not field.null


def _picker(indices: list[int]):
    """What picks these positions of a row, always as a tuple."""
    if len(indices) == 1:
        (only,) = indices
        return lambda row: (row[only],)
    return itemgetter(*indices) if indices else lambda row: ()


class _RowFormat:
    """One set of members (which optional fields a row has): the compact sorted-key JSON of
    such a row as one ``str.format`` template, and what picks the row's values into it.

    Text fields (never NULL; ``created_at`` as its text) are escaped all at once with json's
    own C string encoder; the others (the nullable ``actor_id`` and ``ip_address``) one by
    one, as json would encode them."""

    def __init__(self, present: tuple[bool, ...]) -> None:
        left_out = {n for n, kept in zip(_OPTIONAL, present, strict=True) if not kept}
        # A text whose digest is a member is left out: the digest stands for it.
        left_out.update(
            name.removesuffix("_digest") for name in DIGEST_FIELDS if name not in left_out
        )
        names = sorted(name for name in CHAIN_FIELDS if name not in left_out)
        text = [n for n in names if n == "created_at" or _always_text(n)]
        other = [n for n in names if n not in text]
        slot = {name: n for n, name in enumerate([*text, *other])}
        members = ",".join(f"{_escape(name)}:{{{slot[name]}}}" for name in names)
        self.template = "{{" + members + "}}"
        self.text = _picker([CHAIN_FIELDS.index(n) for n in text])
        self.other = _picker([CHAIN_FIELDS.index(n) for n in other])


class _NotPlain(Exception):
    """A value json would encode otherwise than a plain text, number or null: the reference
    serialization decides."""


def _scalar(value) -> str:
    if value is None:
        return "null"
    if value.__class__ is int:
        return int.__repr__(value)
    if isinstance(value, str):
        return _escape(value)
    raise _NotPlain


# By which of ``_OPTIONAL`` the row has (key id, account, each digest).
_FORMATS = {
    present: _RowFormat(present)
    for present in itertools.product((False, True), repeat=len(_OPTIONAL))
}


class AuditKeyUnknownError(Exception):
    """A row names an audit key that is not configured (its kid only, never key material)."""


def created_at_text(moment: datetime) -> str:
    """A row's time as its canonical bytes hold it: UTC, ISO 8601, with microseconds."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_bytes(values: Sequence) -> bytes:
    """The bytes a row's hash covers, from its values in ``CHAIN_FIELDS`` order: sorted-key
    compact JSON, an empty ``key_id`` or ``account`` left out.

    Byte for byte what ``canonical_bytes_reference`` gives (json's own C string encoder for
    every text, ``int.__repr__`` for numbers, as json.dumps does), without building a dict and
    walking it per row: the verifier runs this once per row of the whole trail. A value of any
    other type goes to the reference."""
    if len(values) != len(CHAIN_FIELDS):
        raise ValueError(f"expected {len(CHAIN_FIELDS)} values, got {len(values)}")
    row = list(values)
    row[_CREATED_AT] = created_at_text(row[_CREATED_AT])
    return _canonical(row)


def _canonical(values: Sequence) -> bytes:
    # Also given WALK_FIELDS tuples: the templates pick only the chain fields.
    form = _FORMATS[
        bool(values[_KEY_ID]), bool(values[_ACCOUNT]), *(bool(values[n]) for n in _DIGESTS)
    ]
    try:
        return form.template.format(
            *map(_escape, form.text(values)), *map(_scalar, form.other(values))
        ).encode()
    except (TypeError, _NotPlain):
        row = list(values[: len(CHAIN_FIELDS)])
        row[_CREATED_AT] = datetime.fromisoformat(row[_CREATED_AT])
        return canonical_bytes_reference(row)


def canonical_bytes_reference(values: Sequence) -> bytes:
    """The definition of a row's canonical bytes (what every existing hash was computed over):
    the values as a dict, ``created_at`` in UTC with microseconds, ``key_id``, ``account`` and
    each digest left out when empty, each text left out when its digest is there, then
    ``json.dumps`` with sorted keys, compact separators and no ASCII escaping."""
    record = dict(zip(CHAIN_FIELDS, values, strict=True))
    record["created_at"] = record["created_at"].astimezone(UTC).isoformat(timespec="microseconds")
    for name in _OPTIONAL:
        if not record[name]:
            del record[name]
        elif name in DIGEST_FIELDS:
            del record[name.removesuffix("_digest")]
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_event_bytes(event: AuditEvent) -> bytes:
    """``canonical_bytes`` of a model instance."""
    return canonical_bytes([getattr(event, name) for name in CHAIN_FIELDS])


def row_hash(values: Sequence, *, keys: Mapping[str, bytes]) -> str:
    """The ``entry_hash`` a row with these ``CHAIN_FIELDS`` values must have."""
    return _digest(canonical_bytes(values), key_id=values[_KEY_ID], keys=keys)


class TextRowHasher:
    """``row_hash`` for a walk over many rows (``WALK_FIELDS`` tuples) whose ``created_at`` is
    already its ``created_at_text``: each key's HMAC state is prepared once per walk, then
    copied per row (cheaper than a one-shot HMAC, which sets the key up every time)."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        self._keys = keys
        self._macs: dict[str, hmac.HMAC] = {}

    def __call__(self, values: Sequence) -> str:
        if len(values) != len(WALK_FIELDS):
            raise ValueError(f"expected {len(WALK_FIELDS)} values, got {len(values)}")
        data = _canonical(values)
        key_id = values[_KEY_ID]
        if not key_id:
            return hashlib.sha256(data).hexdigest()
        mac = self._macs.get(key_id)
        if mac is None:
            mac = self._macs[key_id] = hmac.new(_key(key_id, self._keys), digestmod="sha256")
        mac = mac.copy()
        mac.update(data)
        return mac.hexdigest()


def event_hash(event: AuditEvent, *, keys: Mapping[str, bytes] | None = None) -> str:
    """The ``entry_hash`` of ``event``, under the configured keys unless others are given."""
    return _digest(
        canonical_event_bytes(event),
        key_id=event.key_id,
        keys=settings.AUDIT_KEYS if keys is None else keys,
    )


def _digest(data: bytes, *, key_id: str, keys: Mapping[str, bytes]) -> str:
    if not key_id:
        return hashlib.sha256(data).hexdigest()
    return hmac.digest(_key(key_id, keys), data, "sha256").hex()


def _key(key_id: str, keys: Mapping[str, bytes]) -> bytes:
    try:
        return keys[key_id]
    except KeyError:
        raise AuditKeyUnknownError(f"audit key {key_id!r} is not configured") from None


def field_digest(*, name: str, text: str, key: bytes) -> str:
    """The digest a version 4 row keeps of its redactable text ``name``: HMAC-SHA-256 under
    the row's audit key, separated by a domain and the field's name (so one field's digest
    never stands for another's, nor for a row hash)."""
    return hmac.digest(key, _field_message(name, text), "sha256").hex()


def _field_message(name: str, text: str) -> bytes:
    return _FIELD_DOMAIN + name.encode() + b"\n" + text.encode()


# The detail of a FIELD_REDACT event: which text of which event it blanked. The verifier (and
# the database's UPDATE trigger) read it back, so it has exactly this form, the id last.
REDACTION_DETAIL = "redacted {field} of event {event_id}"
_REDACTION_DETAIL = re.compile(
    r"redacted (" + "|".join(map(re.escape, REDACTABLE_FIELDS)) + r") of event ([1-9][0-9]{0,18})"
)


def redaction_detail(*, event_id: int, field: str) -> str:
    """The detail of the FIELD_REDACT event that blanks ``field`` of event ``event_id``."""
    if field not in REDACTABLE_FIELDS:
        raise ValueError(f"{field!r} cannot be redacted")
    return REDACTION_DETAIL.format(field=field, event_id=event_id)


def redaction_target(detail: str) -> tuple[int, str] | None:
    """``(event id, field)`` a FIELD_REDACT event's detail names, or None if it names none."""
    match = _REDACTION_DETAIL.fullmatch(detail)
    return (int(match[2]), match[1]) if match else None


_TEXTS = tuple(CHAIN_FIELDS.index(name) for name in REDACTABLE_FIELDS)
_REDACTED_BY = tuple(WALK_FIELDS.index(name) for name in REDACTED_BY_FIELDS)


class RedactableTextCheck:
    """For a walk over ``WALK_FIELDS`` tuples: whether a row's redactable texts are what its
    hash (through their digests) says they were, or were redacted as recorded in the chain.

    Per version 4 row and field: a text with no redaction mark must match its digest (one
    HMAC, each key's state prepared once per walk; an empty text is compared with the
    digest of "" worked out once); a blanked text with no mark, a mark on a text that is still
    there, or a mark that ``recorded(row_id, field, redaction_id)`` does not confirm, is an
    unrecorded redaction. Older rows (no digests) may carry no mark: their hash covers the
    texts themselves."""

    def __init__(
        self, keys: Mapping[str, bytes], *, recorded: Callable[[int, str, int], bool]
    ) -> None:
        self._keys = keys
        self._recorded = recorded
        # Per key id: per field, (its prepared HMAC, the digest of an empty text).
        self._macs: dict[str, list[tuple[hmac.HMAC, str]]] = {}

    def __call__(self, row_id: int, values: Sequence) -> str:
        """Empty when the row's texts are accounted for, else the ``ChainProblem``."""
        macs = None
        for n, name in enumerate(REDACTABLE_FIELDS):
            digest = values[_DIGESTS[n]]
            redacted_by = values[_REDACTED_BY[n]]
            if not digest:
                if redacted_by is not None:
                    return ChainProblem.REDACTION_UNRECORDED
                continue
            text = values[_TEXTS[n]]
            if redacted_by is not None:
                if text != "" or not self._recorded(row_id, name, redacted_by):
                    return ChainProblem.REDACTION_UNRECORDED
                continue
            if macs is None:
                key_id = values[_KEY_ID]
                if not key_id:
                    return ChainProblem.EDITED  # digests are keyed: an unkeyed row has none
                macs = self._macs.get(key_id) or self._prepare(key_id)
            mac, empty = macs[n]
            if text == "":
                if empty != digest:
                    return ChainProblem.REDACTION_UNRECORDED
                continue
            mac = mac.copy()
            mac.update(text.encode())
            if mac.hexdigest() != digest:
                return ChainProblem.EDITED
        return ""

    def _prepare(self, key_id: str) -> list[tuple[hmac.HMAC, str]]:
        key = _key(key_id, self._keys)
        macs = []
        for name in REDACTABLE_FIELDS:
            mac = hmac.new(key, _field_message(name, ""), digestmod="sha256")
            macs.append((mac, mac.hexdigest()))
        self._macs[key_id] = macs
        return macs


@dataclass(frozen=True)
class ChainReport:
    """What one walk over the chain found.

    ``head_id``/``head_hash`` name the last row that verified: the chain head when ``ok``.
    ``problem`` (a ``ChainProblem``) is empty when ``ok``. ``checkpoints`` counts the signed
    checkpoints the walk was checked against.
    """

    ok: bool
    checked: int
    head_id: int | None
    head_hash: str
    expected_head: str = ""
    problem: str = ""
    first_broken_id: int | None = None
    previous_id: int | None = None
    checkpoints: int = 0

    @property
    def message(self) -> str:
        return chain_problem_message(
            problem=self.problem,
            first_broken_id=self.first_broken_id,
            previous_id=self.previous_id,
        )
