"""Auditor pages: browse, filter, export and verify the audit trail.

Every page reads the trail through ``selectors.events_visible``: an auditor sees the events
of the API accounts they may use (and of none), a superuser every event."""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from certadmin.accounts.reauth import reauth_confirm, reauth_is_fresh
from certadmin.accounts.roles import VIEW_AUDIT_TRAIL
from certadmin.audit.evidence_export import TrailExport, export_first_batch, export_zip_stream
from certadmin.audit.forms import (
    EventFilterForm,
    FieldRedactForm,
    PageForm,
    quick_ranges,
)
from certadmin.audit.models import AuditEvent
from certadmin.audit.rows import event_table
from certadmin.audit.selectors import (
    accounts_visible,
    chain_head,
    device_history,
    device_recent_reveals,
    events_filtered,
    events_page,
    user_history,
)
from certadmin.audit.services import (
    AuditRedactionDenied,
    AuditRedactionError,
    AuditWriteError,
    audit_field_redact,
    request_context,
    trail_export_record,
)
from certadmin.iot.identity import DeviceRef, is_device_name, is_product_key
from certadmin.web.htmx import HtmxHttpRequest, page_or_partial, partial_wanted

logger = logging.getLogger(__name__)

PAGE_SIZE = 50


def _filter_form(request: HtmxHttpRequest) -> EventFilterForm:
    """The filter form, offering the API accounts whose events the person may read."""
    names = accounts_visible(viewer=request.user)
    accounts = [a for a in settings.IOT_ACCOUNTS.values() if names is None or a.name in names]
    return EventFilterForm(request.GET, accounts=accounts)


def _events_context(request: HtmxHttpRequest, form: EventFilterForm) -> dict:
    rows: list[AuditEvent] = []
    next_before_id = None
    if form.is_valid():
        rows, next_before_id = events_page(
            events_filtered(viewer=request.user, **form.filters()),
            before_id=form.cleaned_data["before"],
            page_size=PAGE_SIZE,
        )
    return {
        "form": form,
        "events": rows,
        "table": event_table(events=rows, redact=request.user.is_superuser),
        "next_before_id": next_before_id,
        "quick_ranges": quick_ranges(today=timezone.localdate()),
    }


@require_GET
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
@vary_on_headers("HX-Request")
def event_list(request: HtmxHttpRequest) -> HttpResponse:
    form = _filter_form(request)
    return render(
        request,
        page_or_partial(request, "audit/events.html", "results"),
        _events_context(request, form),
    )


@require_GET
@never_cache
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
def event_export(request: HtmxHttpRequest) -> HttpResponse:
    form = _filter_form(request)
    if not form.is_valid():
        return render(request, "audit/events.html", _events_context(request, form), status=400)
    if settings.AUDIT_SIGNING_KEY is None:
        # Without the key the manifest cannot be signed: say so before anything is recorded.
        messages.error(
            request,
            _("Exports cannot be signed: no audit signing key is configured on this server."),
        )
        return render(request, "audit/events.html", _events_context(request, form), status=503)
    filters = form.filters()
    # As the manifest states them: dates in ISO 8601, the actions that "any key access" means,
    # and which accounts' events the exporter may read (what the export leaves out).
    visible = accounts_visible(viewer=request.user)
    filters_stated = {
        **filters,
        **_dates(filters),
        "account_scope": "all" if visible is None else sorted(visible),
    }
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
        return render(request, "audit/events.html", _events_context(request, form), status=503)
    events = events_filtered(viewer=request.user, **filters)
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
    if not (is_product_key(product_key) and is_device_name(device_name)):
        raise Http404
    form = PageForm(request.GET)
    before_id = form.cleaned_data["before"] if form.is_valid() else None
    rows, next_before_id = events_page(
        device_history(viewer=request.user, product_key=product_key, device_name=device_name),
        before_id=before_id,
        page_size=PAGE_SIZE,
    )
    context = {
        "product_key": product_key,
        "device_name": device_name,
        "events": rows,
        "table": event_table(events=rows, redact=request.user.is_superuser),
        "next_before_id": next_before_id,
    }
    if not partial_wanted(request):
        context["reveals"] = device_recent_reveals(
            device=DeviceRef(product_key, device_name), every_scope=True, viewer=request.user
        )
    return render(request, page_or_partial(request, "audit/device.html", "results"), context)


@require_GET
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
@vary_on_headers("HX-Request")
def user_events(request: HtmxHttpRequest, username: str) -> HttpResponse:
    form = PageForm(request.GET)
    before_id = form.cleaned_data["before"] if form.is_valid() else None
    rows, next_before_id = events_page(
        user_history(viewer=request.user, username=username),
        before_id=before_id,
        page_size=PAGE_SIZE,
    )
    return render(
        request,
        page_or_partial(request, "audit/user.html", "results"),
        {
            "username": username,
            "events": rows,
            "table": event_table(events=rows, redact=request.user.is_superuser),
            "next_before_id": next_before_id,
        },
    )


@require_http_methods(["GET", "POST"])
@never_cache
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
def event_redact(request: HtmxHttpRequest, event_id: int) -> HttpResponse:
    """A superuser redacts one text of one event (the redaction is itself an event)."""
    event = get_object_or_404(AuditEvent, pk=event_id)
    if not request.user.is_superuser and request.method == "GET":
        raise PermissionDenied
    form = FieldRedactForm(request.POST or None, event=event)
    status = 200
    if request.method == "POST":
        status = 400
        try:
            if not request.user.is_superuser:
                # The service records the attempt, then refuses it.
                audit_field_redact(
                    actor=request.user,
                    event_id=event.pk,
                    field=request.POST.get("field", ""),
                    reason="",
                    context=request_context(request),
                )
            if form.is_valid() and _reauthenticated(request, form):
                audit_field_redact(
                    actor=request.user,
                    event_id=event.pk,
                    field=form.cleaned_data["field"],
                    reason=form.cleaned_data["reason"],
                    context=request_context(request),
                )
                messages.success(request, _("The text was redacted; the redaction is recorded."))
                return redirect("audit:redact", event_id=event.pk)
        except AuditRedactionDenied as error:
            raise PermissionDenied(str(error)) from None
        except AuditRedactionError as error:
            form.add_error(None, str(error))
        except AuditWriteError:
            messages.error(request, _("The redaction could not be recorded, so it was not made."))
            status = 503
    context = {
        "event": event,
        "table": event_table(events=[event]),
        "form": form,
        "reauth_fresh": reauth_is_fresh(request),
    }
    return render(request, "audit/redact.html", context, status=status)


def _reauthenticated(request: HtmxHttpRequest, form: FieldRedactForm) -> bool:
    """Whether the password was entered in the last minutes (or is given, and right, now)."""
    if reauth_is_fresh(request):
        return True
    password = form.cleaned_data.get("password", "")
    if not password:
        form.add_error("password", _("Enter your password to confirm it is you."))
        return False
    if not reauth_confirm(request=request, password=password):
        form.add_error("password", _("That password is not correct."))
        return False
    return True
