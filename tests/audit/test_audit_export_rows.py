"""The export writes each batch of plain tuples at once; its CSV is exactly what writing one
model instance per row (the former way) gave."""

import csv
import io
import random
import threading
import zipfile

import pytest
from django.urls import reverse
from django.utils import timezone

from certadmin.audit import evidence_export as audit_exports
from certadmin.audit.evidence_export import EXPORT_FIELDS
from certadmin.audit.models import REDACTABLE_FIELDS, AuditEvent, AuditOutcome
from certadmin.web.csv_safety import csv_cell
from tests.support.audit_events import make_event, tamper

pytestmark = pytest.mark.django_db


def _reference_csv(events: list[AuditEvent]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(EXPORT_FIELDS)
    for event in events:
        writer.writerow(
            [
                csv_cell(timezone.localtime(value) if name == "created_at" else value)
                for name in EXPORT_FIELDS
                for value in [_shown(event, name)]
            ]
        )
    return text.getvalue().encode()


def _shown(event: AuditEvent, name: str):
    redacted_by = getattr(event, f"{name}_redacted_by", None) if name in REDACTABLE_FIELDS else None
    return getattr(event, name) if redacted_by is None else f"[redacted by event #{redacted_by}]"


@pytest.mark.parametrize("batch", [2, 3, 2000])
def test_the_csv_is_what_one_model_instance_per_row_gave(auditor, client_for, monkeypatch, batch):
    monkeypatch.setattr(audit_exports, "EXPORT_BATCH", batch)
    make_event(reason='=HYPERLINK("x")', detail="+1", device_name="-dev")
    make_event(actor=auditor, reason='工单 "7",\r\nsecond line', detail="@sum", product_key="")
    make_event(outcome=AuditOutcome.REFUSED, reason="\tindented", platform_request_id="REQ,1")
    make_event(reason="", detail="", cert_sn="")
    with timezone.override("America/St_Johns"):
        content = client_for(auditor).get(reverse("audit:export")).getvalue()
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            exported = archive.read("events.csv")
        # The export's own event comes after the head it covers.
        events = list(AuditEvent.objects.order_by("-id"))[1:]
        assert exported == _reference_csv(events)


def test_an_empty_export_holds_the_header_alone(auditor, client_for):
    content = client_for(auditor).get(reverse("audit:export") + "?user=nobody").getvalue()
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.read("events.csv") == _reference_csv([])


# What a spreadsheet or a CSV reader could trip on: formula starts, separators, quotes, line
# breaks, non-ASCII and astral characters (PostgreSQL text holds no NUL).
TRICKY = "=+-@\t\r\n,\"' ;\\a1é中🔑\x0b\x1f\u2028"
TEXT_COLUMNS = [
    field.name
    for field in AuditEvent._meta.fields
    if field.get_internal_type() in ("CharField", "TextField")
]


def _tricky(rng: random.Random) -> str:
    return "".join(rng.choice(TRICKY) for _ in range(rng.randrange(8)))


@pytest.mark.parametrize("batch", [1, 7, 5000])
def test_generated_tricky_rows_are_exported_as_one_model_instance_per_row_gives(
    auditor, client_for, monkeypatch, batch
):
    """Every text column of many rows (forged past the service, as an attacker with the
    serving role could), IPv6 addresses, redactions; batches full and not, so that both ways
    of reading them (PostgreSQL reads the next batch while one is written) are compared."""
    monkeypatch.setattr(audit_exports, "EXPORT_BATCH", batch)
    rng = random.Random(24)
    for n in range(36):
        event = make_event(reason=_tricky(rng), detail=_tricky(rng))
        values = {name: _tricky(rng) for name in TEXT_COLUMNS if rng.random() < 0.5}
        if "entry_hash" in values:  # unique
            values["entry_hash"] += f"#{n}"
        values["ip_address"] = rng.choice([None, "2001:db8::1", "::ffff:192.0.2.1", "10.0.0.1"])
        for name in REDACTABLE_FIELDS:
            values[f"{name}_redacted_by"] = event.pk if n % 5 == 0 else None
        assignments = ", ".join(f"{name} = %s" for name in values)
        update = f"UPDATE audit_auditevent SET {assignments} WHERE id = %s"  # noqa: S608 - model's names
        tamper(update, [*values.values(), event.pk])
    with timezone.override("Asia/Shanghai"):
        content = client_for(auditor).get(reverse("audit:export")).getvalue()
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            exported = archive.read("events.csv")
        events = list(AuditEvent.objects.order_by("-id"))[1:]
        assert len(events) == 36
        assert exported == _reference_csv(events)


@pytest.mark.parametrize(
    "query",
    [
        "device_name=sor-0&action=key_reveal&outcome=refused",
        f"user=auditor&date_from={timezone.now():%Y-%m-%d}&outcome=success",
    ],
)
def test_filtered_exports_in_small_batches_hold_what_the_filters_match(
    auditor, client_for, monkeypatch, query
):
    monkeypatch.setattr(audit_exports, "EXPORT_BATCH", 2)
    for n in range(9):
        make_event(actor=auditor if n % 2 else None, device_name=f"sensor-{n:02d}")
        make_event(outcome=AuditOutcome.REFUSED, device_name=f"sensor-{n:02d}")
    client = client_for(auditor)
    expected = client.get(reverse("audit:events") + "?" + query).context["events"]
    content = client.get(reverse("audit:export") + "?" + query).getvalue()
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        rows = list(csv.reader(io.StringIO(archive.read("events.csv").decode(), newline="")))
    assert [int(row[0]) for row in rows[1:]] == [event.pk for event in expected]
    assert len(rows) >= 5  # two full batches at least


def _export_threads() -> list[threading.Thread]:
    return [
        thread for thread in threading.enumerate() if thread.name.startswith("certadmin-export")
    ]


def test_an_export_cut_short_leaves_no_thread_or_query_in_flight(auditor):
    """As when the browser goes away: the archive's generator is closed part-way, while one
    batch is being deflated and (on PostgreSQL) the next one read."""
    for _ in range(12):  # a reason that does not compress: each batch gives bytes at once
        make_event(reason=random.Random(_).randbytes(20_000).hex())
    events = AuditEvent.objects.order_by("-id")
    export = audit_exports.TrailExport(
        events=events,
        filters={},
        exported_by="auditor",
        exported_at=timezone.now(),
        head_id=events[0].pk,
        head_hash=events[0].entry_hash,
        export_event_id=events[0].pk,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit_exports, "EXPORT_BATCH", 2)
        stream = audit_exports.export_zip_stream(
            export, first_batch=audit_exports.export_first_batch(export)
        )
        assert next(stream)
        assert next(stream)
        stream.close()
    assert _export_threads() == []
    assert AuditEvent.objects.count() == 12  # the connection is free for the next statement
