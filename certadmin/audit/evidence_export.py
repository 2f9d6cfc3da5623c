"""The audit trail as evidence: a ZIP holding ``events.csv`` and a signed ``manifest.json``.

A CSV alone says nothing about itself, and comment lines above its header confuse spreadsheets;
so the rows stay a plain CSV (newest first, as the page shows them, times in ISO 8601 with their
UTC offset) and a sidecar manifest in the same archive states what the file is: the filters used,
who exported it and when, the row count, the chain head at the time of export (the export covers
rows up to it), the SHA-256 of the CSV bytes, and an Ed25519 signature over all of that under the
audit signing key (``certadmin.audit.signing``), whose kid it names.

``export_manifest_verify`` checks an archive with the public keys alone (``manage.py
audit_export_verify`` runs it): exactly the two members, each once, nothing before them; a
manifest without a repeated key at any level, in this format, validly signed; the CSV's bytes
and row count as it states. Format 1 manifests were HMAC'd with an audit chain key, which every
verifier holds, so they prove nothing and are refused.

The custody report's CSV (``certadmin.audit.custody_report``) travels the same way: a ZIP of
``custody-report.csv`` and a ``manifest.json`` in format ``certadmin-custody-report/1``, signed
alike (under its own domain, so neither manifest can pass for the other), and checked by the
same function and command.
"""

import csv
import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import DateTimeField, QuerySet
from django.utils import timezone

from certadmin.audit.hmac_keys import KEY_ID
from certadmin.audit.models import REDACTABLE_FIELDS, AuditEvent
from certadmin.audit.selectors import events_before, utc_time_text
from certadmin.audit.signing import SigningKey, signature_make, signature_ok
from certadmin.web.csv_safety import csv_text

EXPORT_FORMAT = "certadmin-audit-export/2"
LEGACY_EXPORT_FORMAT = "certadmin-audit-export/1"  # HMAC'd with a chain key: refused
EVENTS_NAME = "events.csv"
MANIFEST_NAME = "manifest.json"
MEMBERS = (EVENTS_NAME, MANIFEST_NAME)
SIGNATURE_FIELD = "ed25519_signature"
# Rows per query and per CSV chunk. While one batch is written, the last one's bytes are being
# deflated and (PostgreSQL) the next one read: 2,500 rows keep the export near 20 MiB (5,000: 35).
EXPORT_BATCH = 2500
EXPORT_FIELDS = ["id", *(field.name for field in AuditEvent._meta.fields if field.name != "id")]
# An export signature is never a row hash, nor a checkpoint's signature.
_DOMAIN = b"certadmin audit export v2\n"
REPORT_FORMAT = "certadmin-custody-report/1"
REPORT_NAME = "custody-report.csv"


@dataclass(frozen=True)
class SignedArchive:
    """One kind of signed archive: its CSV member, the manifest format and the manifest member
    describing the CSV, and the domain its signature is made under."""

    csv_name: str
    format: str
    csv_field: str
    domain: bytes


TRAIL_ARCHIVE = SignedArchive(EVENTS_NAME, EXPORT_FORMAT, "events_csv", _DOMAIN)
REPORT_ARCHIVE = SignedArchive(
    REPORT_NAME, REPORT_FORMAT, "report_csv", b"certadmin custody report v1\n"
)


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
    if connection.vendor == "postgresql" and len(first_batch) == EXPORT_BATCH:
        yield from _batches_pipelined(export, first_batch=first_batch)
        return
    batch = first_batch
    while batch:
        yield batch
        if len(batch) < EXPORT_BATCH:
            return
        batch = _batch(events_before(export.events, before_id=batch[-1][_ID]))


def _batches_pipelined(export: TrailExport, *, first_batch: list[tuple]) -> Iterator[list[tuple]]:
    # The next batch's query goes to the server before this batch is handed on (psycopg's
    # pipeline mode), so PostgreSQL reads and formats it while this one is written as CSV: a
    # third of the time went waiting for each batch in turn. The same statements, parameter
    # binding and rows as ``_batch``: the cursor class and loaders are those Django gave the
    # connection.
    connection.ensure_connection()
    raw = connection.connection
    batch = first_batch
    with raw.pipeline(), raw.cursor() as cursor:
        while len(batch) == EXPORT_BATCH:
            statement = _batch_statement(events_before(export.events, before_id=batch[-1][_ID]))
            if statement is None:
                break
            cursor.execute(*statement)
            yield batch
            batch = cursor.fetchall()
    if batch:
        yield batch


def export_first_batch(export: TrailExport) -> list[tuple]:
    return _batch(export.events)


def _batch(events: QuerySet[AuditEvent]) -> list[tuple]:
    # The statement values_list would run, on a plain cursor: values_list fetches 100 rows at a
    # time and copies each row into a new tuple, a fifth of reading a batch on SQLite.
    statement = _batch_statement(events)
    if statement is None:
        return []
    with connection.cursor() as cursor:
        cursor.execute(*statement)
        return cursor.fetchall()


def _batch_statement(events: QuerySet[AuditEvent]) -> tuple[str, tuple] | None:
    """The SQL and parameters reading one batch of ``events`` as ``EXPORT_FIELDS`` tuples; None
    when it can match no row. None of these columns has a converter in Django."""
    # Times as text written out by the database where it can (no datetime made per row by the
    # driver and Django): made local below.
    fields = [
        (utc_time_text(name) or name) if n in _TIMES else name
        for n, name in enumerate(EXPORT_FIELDS)
    ]
    try:
        return events.values_list(*fields)[:EXPORT_BATCH].query.sql_with_params()
    except EmptyResultSet:
        return None


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

            def member_write(data: bytes) -> None:
                member.write(data)
                digest.update(data)

            # Deflate, its CRC and the SHA-256 run in a thread of their own while the next
            # batch is read and written as CSV: zlib and hashlib let go of the GIL on large
            # buffers, so the two overlap (a fifth to a third of the export's time). One batch
            # at a time, in order; the thread is done before the member is closed.
            with ThreadPoolExecutor(1, thread_name_prefix="certadmin-export") as deflater:
                header = io.StringIO()
                csv.writer(header).writerow(EXPORT_FIELDS)
                data = header.getvalue()
                writing = None
                local_time = LocalTimes(timezone.get_current_timezone())
                for batch in export_batches(export, first_batch=first_batch):
                    rows += len(batch)
                    data = (data + _csv_text(batch, local_time=local_time)).encode()
                    chunk = _written(writing, sink)
                    writing = deflater.submit(member_write, data)
                    size += len(data)
                    data = ""
                    if chunk:
                        yield chunk
                if data:  # no events: the header line alone
                    data = data.encode()
                    member_write(data)
                    size += len(data)
                elif writing is not None:
                    writing.result()  # its bytes stay in the sink for the last chunk
        manifest = export_manifest(export, rows=rows, csv_sha256=digest.hexdigest(), size=size)
        archive.writestr(MANIFEST_NAME, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    yield sink.take()


def _written(writing: Future | None, sink: _Sink) -> bytes:
    """What the sink holds once ``writing`` is done (its error raised)."""
    if writing is None:
        return b""
    writing.result()
    return sink.take()


def export_manifest(
    export: TrailExport,
    *,
    rows: int,
    csv_sha256: str,
    size: int,
    signing_key: SigningKey | None = None,
) -> dict:
    """The signed statement about one export (signed with the ``AUDIT_SIGNING_KEY`` setting
    unless ``signing_key`` is given)."""
    signing_key = settings.AUDIT_SIGNING_KEY if signing_key is None else signing_key
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
    }
    return manifest_sign(manifest, signing_key=signing_key)


def manifest_sign(manifest: dict, *, signing_key: SigningKey) -> dict:
    """``manifest`` with the signing key's id and its Ed25519 signature added."""
    manifest = {**manifest, "key_id": signing_key.key_id}
    manifest[SIGNATURE_FIELD] = signature_make(manifest_signed_bytes(manifest), key=signing_key)
    return manifest


def manifest_signed_bytes(manifest: Mapping) -> bytes:
    """What a manifest's signature covers: its kind's domain, then every other member, as
    sorted-key compact JSON."""
    domain = REPORT_ARCHIVE.domain if manifest.get("format") == REPORT_FORMAT else _DOMAIN
    fields = {name: value for name, value in manifest.items() if name != SIGNATURE_FIELD}
    return domain + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


class _Refused(Exception):
    """Why an archive is not verified (English, names no key material)."""


def export_manifest_verify(
    archive_bytes: bytes, *, public_keys: Mapping[str, Ed25519PublicKey] | None = None
) -> tuple[bool, str]:
    """``(True, "")`` when the archive holds exactly its CSV (``events.csv``, or a custody
    report's ``custody-report.csv``) and ``manifest.json``, the manifest is validly signed under
    a trusted public key (default: the ``AUDIT_PUBLIC_KEYS`` setting) and the CSV is as it
    states; otherwise ``(False, why)`` in English."""
    public_keys = settings.AUDIT_PUBLIC_KEYS if public_keys is None else public_keys
    try:
        kind, events_csv, manifest_bytes = _members_read(archive_bytes)
        manifest = _manifest_parse(manifest_bytes)
        _manifest_check(manifest, kind=kind, public_keys=public_keys)
        _events_check(events_csv, kind=kind, manifest=manifest)
    except _Refused as refused:
        return False, str(refused)
    return True, ""


def _members_read(archive_bytes: bytes) -> tuple[SignedArchive, bytes, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(archive_bytes))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _Refused("not a ZIP archive") from None
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        # Which kind it is, by the CSV it holds: the trail's unless it holds a custody report.
        kind = REPORT_ARCHIVE if REPORT_NAME in names else TRAIL_ARCHIVE
        members = (kind.csv_name, MANIFEST_NAME)
        for name in members:
            if names.count(name) > 1:
                raise _Refused(f"the archive holds {name} {names.count(name)} times")
            if name not in names:
                raise _Refused(f"the archive holds no {name}")
        if len(names) != len(members):
            others = ", ".join(sorted(json.dumps(n) for n in set(names) - set(members)))
            raise _Refused(
                f"the archive holds other members than {kind.csv_name} and manifest.json: {others}"
            )
        # What a reader that scans from the start (rather than from the central directory at
        # the end) would find first must be these members too.
        if min(info.header_offset for info in infos) != 0:
            raise _Refused("the archive has data before its first member")
        try:
            return kind, archive.read(kind.csv_name), archive.read(MANIFEST_NAME)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, zlib.error, EOFError):
            raise _Refused("a member of the archive is damaged or cannot be read") from None


class _RepeatedKey(Exception):
    pass


def _object_without_repeats(pairs: list[tuple[str, object]]) -> dict:
    result: dict = {}
    for name, value in pairs:
        if name in result:
            raise _RepeatedKey(name)
        result[name] = value
    return result


def _constant_refuse(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _manifest_parse(data: bytes) -> dict:
    try:
        manifest = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_object_without_repeats,
            parse_constant=_constant_refuse,
        )
    except _RepeatedKey as repeated:
        name = json.dumps(repeated.args[0])[:80]
        raise _Refused(f"manifest.json names the key {name} more than once") from None
    except ValueError:  # not UTF-8, not JSON
        raise _Refused("manifest.json is not UTF-8 JSON") from None
    if not isinstance(manifest, dict):
        raise _Refused("manifest.json is not a JSON object")
    return manifest


def _manifest_check(
    manifest: dict, *, kind: SignedArchive, public_keys: Mapping[str, Ed25519PublicKey]
) -> None:
    given = manifest.get("format")
    if given == LEGACY_EXPORT_FORMAT:
        raise _Refused(
            f"the manifest is in format {LEGACY_EXPORT_FORMAT}, HMAC'd with an audit chain key "
            "that every verifier holds: it proves nothing, so it is not verified"
        )
    if given != kind.format:
        raise _Refused(f"manifest.json is not a {kind.format} manifest")
    key_id = manifest.get("key_id")
    if not isinstance(key_id, str) or not KEY_ID.fullmatch(key_id):
        raise _Refused("the manifest names no valid signing key id")
    if key_id not in public_keys:
        raise _Refused(
            f"the manifest is signed with key {key_id!r}, which is not among the trusted public "
            "keys (CERTADMIN_AUDIT_PUBLIC_KEYS)"
        )
    if not signature_ok(
        manifest_signed_bytes(manifest),
        signature=manifest.get(SIGNATURE_FIELD),
        key_id=key_id,
        public_keys=public_keys,
    ):
        raise _Refused("the manifest's signature does not verify")


def _events_check(events_csv: bytes, *, kind: SignedArchive, manifest: dict) -> None:
    # The manifest is signed: what it states is what certadmin wrote.
    name = kind.csv_name
    stated = manifest.get(kind.csv_field)
    if not isinstance(stated, dict) or hashlib.sha256(events_csv).hexdigest() != stated.get(
        "sha256"
    ):
        raise _Refused(f"{name} does not match the SHA-256 in the manifest")
    try:
        records = sum(1 for _ in csv.reader(io.StringIO(events_csv.decode("utf-8"), newline="")))
    except (UnicodeDecodeError, csv.Error):
        raise _Refused(f"{name} is not a UTF-8 CSV file") from None
    rows = max(records - 1, 0)  # the header line is no row
    stated_rows = manifest.get("rows")
    if type(stated_rows) is not int or rows != stated_rows:
        raise _Refused(f"{name} holds {rows} rows but the manifest states {stated_rows!r}")
