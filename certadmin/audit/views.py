"""Auditor pages: browse, filter, export and verify the audit trail."""

import logging

from django.conf import settings
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
from certadmin.audit.exports import TrailExport, export_first_batch, export_zip_stream
from certadmin.audit.forms import ChainVerifyForm, EventFilterForm, PageForm, quick_ranges
from certadmin.audit.models import AuditEvent
from certadmin.audit.rows import event_table
from certadmin.audit.selectors import (
    chain_head,
    device_history,
    device_recent_reveals,
    events_filtered,
    events_page,
    latest_verification,
    user_history,
    verifications_recent,
)
from certadmin.audit.services import (
    AuditWriteError,
    chain_verification_record,
    request_context,
    trail_export_record,
)
from certadmin.audit.verification import chain_verify
from certadmin.devices.forms import DeviceLookupForm
from certadmin.htmx import HtmxHttpRequest, page_or_partial

logger = logging.getLogger(__name__)

PAGE_SIZE = 50


def _events_context(form: EventFilterForm) -> dict:
    rows: list[AuditEvent] = []
    next_before_id = None
    if form.is_valid():
        rows, next_before_id = events_page(
            events_filtered(**form.filters()),
            before_id=form.cleaned_data["before"],
            page_size=PAGE_SIZE,
        )
    return {
        "form": form,
        "events": rows,
        "table": event_table(events=rows),
        "next_before_id": next_before_id,
        "quick_ranges": quick_ranges(today=timezone.localdate()),
    }


@require_GET
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
@vary_on_headers("HX-Request")
def event_list(request: HtmxHttpRequest) -> HttpResponse:
    form = EventFilterForm(request.GET)
    return render(
        request, page_or_partial(request, "audit/events.html", "results"), _events_context(form)
    )


@require_GET
@never_cache
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
def event_export(request: HtmxHttpRequest) -> HttpResponse:
    form = EventFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "audit/events.html", _events_context(form), status=400)
    if settings.AUDIT_SIGNING_KEY is None:
        # Without the key the manifest cannot be signed: say so before anything is recorded.
        messages.error(
            request,
            _("Exports cannot be signed: no audit signing key is configured on this server."),
        )
        return render(request, "audit/events.html", _events_context(form), status=503)
    filters = form.filters()
    # As the manifest states them: dates in ISO 8601, the actions that "any key access" means.
    filters_stated = {**filters, **_dates(filters)}
    # The export covers the chain up to its head now; the export's own event comes after it.
    head_id, head_hash = chain_head()
    try:
        event = trail_export_record(
            actor=request.user,
            context=request_context(request),
            filters=filters_stated,
            head_id=head_id,
            head_hash=head_hash,
        )
    except AuditWriteError:
        messages.error(
            request,
            _("The export could not be recorded in the audit trail, so it was not made."),
        )
        return render(request, "audit/events.html", _events_context(form), status=503)
    events = events_filtered(**filters)
    export = TrailExport(
        events=events.filter(id__lte=head_id) if head_id is not None else events.none(),
        filters=filters_stated,
        exported_by=request.user.get_username(),
        exported_at=event.created_at,
        head_id=head_id,
        head_hash=head_hash,
        export_event_id=event.pk,
    )
    # The first query runs here, before any byte is sent: if it fails, the answer is a plain 500.
    first_batch = export_first_batch(export)
    response = StreamingHttpResponse(
        export_zip_stream(export, first_batch=first_batch), content_type="application/zip"
    )
    stamp = timezone.localtime(event.created_at).strftime("%Y%m%dT%H%M%S%z")
    response["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.zip"'
    return response


def _dates(filters: dict) -> dict:
    return {
        name: filters[name].isoformat() if filters[name] else ""
        for name in ("date_from", "date_to")
    }


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
        device_history(product_key=product_key, device_name=device_name),
        before_id=before_id,
        page_size=PAGE_SIZE,
    )
    context = {
        "product_key": product_key,
        "device_name": device_name,
        "events": rows,
        "table": event_table(events=rows),
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
        {
            "username": username,
            "events": rows,
            "table": event_table(events=rows),
            "next_before_id": next_before_id,
        },
    )


@require_GET
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
def chain_status(request: HtmxHttpRequest) -> HttpResponse:
    return render(
        request,
        "audit/chain.html",
        {
            "verification": latest_verification(),
            "history": verifications_recent(),
            "form": ChainVerifyForm(),
        },
    )


@require_POST
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
def chain_verify_now(request: HtmxHttpRequest) -> HttpResponse:
    form = ChainVerifyForm(request.POST)
    if not form.is_valid():
        context = {"verification": latest_verification(), "form": form}
        if request.htmx:
            return render(request, "audit/chain.html#status", context, status=400)
        return render(
            request, "audit/chain.html", {**context, "history": verifications_recent()}, status=400
        )
    verification = chain_verification_record(
        report=chain_verify(expect_head=form.cleaned_data["expect_head"]),
        actor=request.user,
        context=request_context(request),
    )
    if request.htmx:
        return render(
            request,
            "audit/chain.html#status",
            {"verification": verification, "form": ChainVerifyForm()},
        )
    if verification.ok:
        messages.success(request, _("The audit chain is intact."))
    else:
        messages.error(request, _("The audit chain is broken."))
    return redirect("audit:chain")
