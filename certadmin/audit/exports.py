"""The audit trail as evidence: a ZIP holding ``events.csv`` and a signed ``manifest.json``.

A CSV alone says nothing about itself, and comment lines above its header confuse spreadsheets;
so the rows stay a plain CSV (newest first, as the page shows them, times in ISO 8601 with their
UTC offset) and a sidecar manifest in the same archive states what the file is: the filters used,
who exported it and when, the row count, the chain head at the time of export (the export covers
rows up to it), the SHA-256 of the CSV bytes, and an HMAC-SHA-256 under the audit key over all of
that. ``export_manifest_verify`` checks an archive; ``manage.py audit_export_verify`` runs it.
"""

import csv
import hashlib
import hmac
import io
import json
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from django.conf import settings
from django.db.models import DateTimeField, QuerySet
from django.utils import timezone

from certadmin.audit.models import REDACTABLE_FIELDS, AuditEvent
from certadmin.audit.selectors import events_before, utc_time_text
from certadmin.csv_safety import csv_text

EXPORT_FORMAT = "certadmin-audit-export/1"
EVENTS_NAME = "events.csv"
MANIFEST_NAME = "manifest.json"
EXPORT_BATCH = 5000  # rows per query and per CSV chunk
EXPORT_FIELDS = ["id", *(field.name for field in AuditEvent._meta.fields if field.name != "id")]
_DOMAIN = b"certadmin audit export v1\n"  # an export signature is never a row hash


@dataclass(frozen=True)
class TrailExport:
    """What one export holds: the events (id <= the head at the time), and the facts the
    manifest states about them."""

    events: QuerySet[AuditEvent]
    filters: dict
    exported_by: str
    exported_at: datetime
    head_id: int | None
    head_hash: str
    export_event_id: int


_ID = EXPORT_FIELDS.index("id")
# The times in the active zone (the offset labels the zone in every cell: the same wall-clock
# time the pages show); every other column as ``csv_cell`` has it.
_TIMES = [
    n
    for n, name in enumerate(EXPORT_FIELDS)
    if isinstance(AuditEvent._meta.get_field(name), DateTimeField)
]


def export_batches(export: TrailExport, *, first_batch: list[tuple]) -> Iterator[list[tuple]]:
    """The events as ``EXPORT_FIELDS`` tuples, newest first, in keyset batches (no cursor held
    between batches, no model instance per row)."""
    batch = first_batch
    while batch:
        yield batch
        if len(batch) < EXPORT_BATCH:
            return
        batch = _batch(events_before(export.events, before_id=batch[-1][_ID]))


def export_first_batch(export: TrailExport) -> list[tuple]:
    return _batch(export.events)


def _batch(events: QuerySet[AuditEvent]) -> list[tuple]:
    # Times as text written out by the database where it can (no datetime made per row by the
    # driver and Django): made local below.
    fields = [
        (utc_time_text(name) or name) if n in _TIMES else name
        for n, name in enumerate(EXPORT_FIELDS)
    ]
    return list(events.values_list(*fields)[:EXPORT_BATCH])


# Each redactable text's column and the column naming the event that redacted it.
_REDACTED = [
    (EXPORT_FIELDS.index(name), EXPORT_FIELDS.index(f"{name}_redacted_by"))
    for name in REDACTABLE_FIELDS
]


def _csv_text(rows: list[tuple], *, local_time: Callable[[str | None], str | None]) -> str:
    """One batch of rows as CSV text, converted and written a column at a time. A redacted
    text reads ``[redacted by event #N]`` (its ``<field>_redacted_by`` column says N too, so
    a reason typed to look like that is told apart)."""
    columns = list(zip(*rows, strict=True))
    for n in _TIMES:
        columns[n] = list(map(local_time, columns[n]))
    for text, redacted_by in _REDACTED:
        if any(by is not None for by in columns[redacted_by]):
            columns[text] = [
                value if by is None else f"[redacted by event #{by}]"
                for value, by in zip(columns[text], columns[redacted_by], strict=True)
            ]
    return csv_text(columns)


class LocalTimes:
    """``_local_time`` for many UTC texts as the database writes them
    (``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``), without a datetime per value.

    A zone's offset changes at most once in an hour: for each UTC hour whose offset is the same
    at its first and last microsecond and a whole number of hours, the local hour and the offset
    text are worked out once, and each value keeps its own minutes, seconds and fraction (the
    fraction left out when zero, as ``isoformat`` does). Other hours and values take
    ``_local_time``."""

    _MAX_HOURS = 10_000  # remembered at once: memory stays flat over a trail of any age

    def __init__(self, zone: tzinfo) -> None:
        self._zone = zone
        self._hours: dict[str, tuple[str, str] | None] = {}

    def __call__(self, value: str | datetime | None) -> str | None:
        if value.__class__ is not str or len(value) != 32 or value[26:] != "+00:00":
            return _local_time(value, self._zone)
        hour = value[:13]
        try:
            local = self._hours[hour]
        except KeyError:
            if len(self._hours) >= self._MAX_HOURS:
                self._hours.clear()
            local = self._hours[hour] = self._local_hour(hour)
        if local is None:
            return _local_time(value, self._zone)
        local_hour, offset = local
        if value[20:26] == "000000":
            return local_hour + value[13:19] + offset
        return local_hour + value[13:26] + offset

    def _local_hour(self, hour: str) -> tuple[str, str] | None:
        start = datetime.fromisoformat(f"{hour}:00:00+00:00")
        first = start.astimezone(self._zone)
        last = (start + timedelta(hours=1, microseconds=-1)).astimezone(self._zone)
        offset = first.utcoffset()
        if offset is None or last.utcoffset() != offset or offset % timedelta(hours=1):
            return None
        text = first.isoformat()  # YYYY-MM-DDTHH:00:00+HH:MM
        return text[:13], text[19:]


def _local_time(value: str | datetime | None, zone: tzinfo) -> str | None:
    # ISO 8601 in the active zone, its offset labelling the zone: the wall-clock time the pages
    # show. A value is UTC text from the database, or a datetime where it cannot write one.
    if value is None:
        return None
    if value.__class__ is str:
        value = datetime.fromisoformat(value)
    return value.astimezone(zone).isoformat()


class _Sink:
    """Where ``zipfile`` writes: collects bytes until the stream takes them (not seekable, so
    zipfile writes data descriptors and never seeks back)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def export_zip_stream(export: TrailExport, *, first_batch: list[tuple]) -> Iterator[bytes]:
    """The archive, as it is written. A failure part-way raises: the download is then cut rather
    than ending as a clean but incomplete file."""
    sink = _Sink()
    digest = hashlib.sha256()
    size = rows = 0
    # Deflate's fastest level: level 6 (zlib's default) cost more than writing the CSV itself,
    # for a file about 15 % smaller.
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open(EVENTS_NAME, "w", force_zip64=True) as member:
            header = io.StringIO()
            csv.writer(header).writerow(EXPORT_FIELDS)
            pending = header.getvalue()
            local_time = LocalTimes(timezone.get_current_timezone())
            for batch in export_batches(export, first_batch=first_batch):
                rows += len(batch)
                data = (pending + _csv_text(batch, local_time=local_time)).encode()
                pending = ""
                member.write(data)
                digest.update(data)
                size += len(data)
                yield sink.take()
            if pending:  # no events: the header line alone
                data = pending.encode()
                member.write(data)
                digest.update(data)
                size += len(data)
        manifest = export_manifest(export, rows=rows, csv_sha256=digest.hexdigest(), size=size)
        archive.writestr(MANIFEST_NAME, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    yield sink.take()


def export_manifest(export: TrailExport, *, rows: int, csv_sha256: str, size: int) -> dict:
    """The signed statement about one export."""
    manifest = {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.localtime(export.exported_at).isoformat(timespec="seconds"),
        "exported_by": export.exported_by,
        "time_zone": str(timezone.get_current_timezone()),
        "filters": export.filters,
        "order": "newest first (id descending)",
        "rows": rows,
        "chain_head": {"id": export.head_id, "hash": export.head_hash},
        "export_event_id": export.export_event_id,
        "events_csv": {"name": EVENTS_NAME, "bytes": size, "sha256": csv_sha256},
        "key_id": settings.AUDIT_KEY_ID,
    }
    manifest["hmac_sha256"] = _signature(manifest, key=settings.AUDIT_KEYS[settings.AUDIT_KEY_ID])
    return manifest


def _signature(manifest: Mapping, *, key: bytes) -> str:
    fields = {name: value for name, value in manifest.items() if name != "hmac_sha256"}
    signed = _DOMAIN + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, signed, hashlib.sha256).hexdigest()


def export_manifest_verify(
    archive_bytes: bytes, *, keys: Mapping[str, bytes] | None = None
) -> tuple[bool, str]:
    """``(True, "")`` when the archive's CSV matches its manifest and the manifest's HMAC
    verifies under the audit key it names; otherwise ``(False, why)`` in English."""
    keys = settings.AUDIT_KEYS if keys is None else keys
    try:
        with zipfile.ZipFile(io.BytesIO(archive_bytes)) as archive:
            manifest = json.loads(archive.read(MANIFEST_NAME))
            events_csv = archive.read(EVENTS_NAME)
    except (zipfile.BadZipFile, KeyError, ValueError):
        return False, "not an audit export archive"
    key = keys.get(manifest.get("key_id", ""))
    if key is None:
        return False, "the manifest names an audit key that is not configured here"
    if not hmac.compare_digest(_signature(manifest, key=key), manifest.get("hmac_sha256", "")):
        return False, "the manifest's signature does not verify"
    if hashlib.sha256(events_csv).hexdigest() != manifest["events_csv"]["sha256"]:
        return False, "events.csv does not match the SHA-256 in the manifest"
    return True, ""
