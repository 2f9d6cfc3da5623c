"""Auditor pages: browse, filter, export and verify the audit trail."""

import csv
import logging
from collections.abc import Iterator

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from certadmin.accounts.roles import VIEW_AUDIT_TRAIL
from certadmin.audit.forms import EventFilterForm, PageForm
from certadmin.audit.models import AuditEvent
from certadmin.audit.selectors import (
    device_recent_reveals,
    events_filtered,
    events_page,
    latest_verification,
    user_history,
    verifications_recent,
)
from certadmin.audit.services import chain_verification_record
from certadmin.audit.verification import chain_verify
from certadmin.csv_safety import LineBuffer, csv_cell
from certadmin.devices.forms import DeviceLookupForm
from certadmin.htmx import HtmxHttpRequest, page_or_partial

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
EXPORT_CHUNK = 2000
EXPORT_FIELDS = ["id", *(field.name for field in AuditEvent._meta.fields if field.name != "id")]


@require_GET
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
@vary_on_headers("HX-Request")
def event_list(request: HtmxHttpRequest) -> HttpResponse:
    form = EventFilterForm(request.GET)
    rows: list[AuditEvent] = []
    next_before_id = None
    if form.is_valid():
        rows, next_before_id = events_page(
            events_filtered(**form.filters()),
            before_id=form.cleaned_data["before"],
            page_size=PAGE_SIZE,
        )
    return render(
        request,
        page_or_partial(request, "audit/events.html", "results"),
        {"form": form, "events": rows, "next_before_id": next_before_id},
    )


@require_GET
@never_cache
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
def event_export(request: HtmxHttpRequest) -> HttpResponse:
    form = EventFilterForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "audit/events.html",
            {"form": form, "events": [], "next_before_id": None},
            status=400,
        )
    events = events_filtered(**form.filters()).order_by("id")
    # The first query runs here, before any byte is sent: if it fails, the answer is a plain 500.
    first_batch = list(events[:EXPORT_CHUNK])
    response = StreamingHttpResponse(
        _csv_lines(events=events, first_batch=first_batch), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.csv"'
    return response


def _in_batches(events, first_batch: list[AuditEvent]) -> Iterator[AuditEvent]:
    """``events`` (ordered by id) in keyset batches: no cursor is held between batches."""
    batch = first_batch
    while batch:
        yield from batch
        if len(batch) < EXPORT_CHUNK:
            return
        batch = list(events.filter(id__gt=batch[-1].id)[:EXPORT_CHUNK])


def _csv_lines(*, events, first_batch: list[AuditEvent]) -> Iterator[str]:
    """The CSV rows. A failure after the first bytes re-raises: the server then cuts the
    connection without ending the chunked body, so the client sees a broken download instead of
    a clean but short file (a silently incomplete export is the worst outcome for an auditor)."""
    writer = csv.writer(LineBuffer())
    yield writer.writerow(EXPORT_FIELDS)
    try:
        for event in _in_batches(events, first_batch):
            yield writer.writerow([csv_cell(getattr(event, name)) for name in EXPORT_FIELDS])
    except Exception as exc:
        # The type only: a database error's text may quote row values.
        logger.error("audit export failed part-way (%s); the download is cut", type(exc).__name__)
        raise


@require_GET
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
@vary_on_headers("HX-Request")
def device_events(request: HtmxHttpRequest, product_key: str, device_name: str) -> HttpResponse:
    # Only a canonical device name: "\tthermo-001" would show thermo-001 with none of its events.
    if not DeviceLookupForm.from_path(product_key, device_name, "").is_valid():
        raise Http404
    form = PageForm(request.GET)
    before_id = form.cleaned_data["before"] if form.is_valid() else None
    rows, next_before_id = events_page(
        events_filtered(product_key=product_key, device_name=device_name),
        before_id=before_id,
        page_size=PAGE_SIZE,
    )
    context = {
        "product_key": product_key,
        "device_name": device_name,
        "events": rows,
        "next_before_id": next_before_id,
    }
    if not request.htmx:
        context["reveals"] = device_recent_reveals(
            product_key=product_key, device_name=device_name, iot_instance_id=None
        )
    return render(request, page_or_partial(request, "audit/device.html", "results"), context)


@require_GET
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
@vary_on_headers("HX-Request")
def user_events(request: HtmxHttpRequest, username: str) -> HttpResponse:
    form = PageForm(request.GET)
    before_id = form.cleaned_data["before"] if form.is_valid() else None
    rows, next_before_id = events_page(
        user_history(username=username), before_id=before_id, page_size=PAGE_SIZE
    )
    return render(
        request,
        page_or_partial(request, "audit/user.html", "results"),
        {"username": username, "events": rows, "next_before_id": next_before_id},
    )


@require_GET
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
def chain_status(request: HtmxHttpRequest) -> HttpResponse:
    return render(
        request,
        "audit/chain.html",
        {"verification": latest_verification(), "history": verifications_recent()},
    )


@require_POST
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
def chain_verify_now(request: HtmxHttpRequest) -> HttpResponse:
    verification = chain_verification_record(report=chain_verify(), actor=request.user)
    if request.htmx:
        return render(request, "audit/chain.html#status", {"verification": verification})
    if verification.ok:
        messages.success(request, _("The audit chain is intact."))
    else:
        messages.error(request, _("The audit chain is broken."))
    return redirect("audit:chain")
