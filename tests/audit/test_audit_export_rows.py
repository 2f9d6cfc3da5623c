"""The export writes each batch of plain tuples at once; its CSV is exactly what writing one
model instance per row (the former way) gave."""

import csv
import io
import zipfile

import pytest
from django.urls import reverse
from django.utils import timezone

from certadmin.audit import evidence_export as audit_exports
from certadmin.audit.evidence_export import EXPORT_FIELDS
from certadmin.audit.models import AuditEvent, AuditOutcome
from certadmin.web.csv_safety import csv_cell
from tests.support.audit_events import make_event

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
                for value in [getattr(event, name)]
            ]
        )
    return text.getvalue().encode()


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
