"""The auditor's custody pages: "who has seen this key?" asked with the key or certificate
itself, and the custody report of a period (a page, and a signed CSV).

Both read the trail through ``selectors.events_visible`` (the auditor's account scope)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from certadmin.accounts.roles import VIEW_AUDIT_TRAIL
from certadmin.audit.custody_report import custody_report, custody_report_export
from certadmin.audit.forms import CustodyReportForm, KeyLookupForm, report_quick_periods
from certadmin.audit.key_lookup import key_lookup, key_lookup_refused
from certadmin.audit.rows import event_table
from certadmin.audit.selectors import accounts_visible
from certadmin.audit.services import AuditWriteError, request_context
from certadmin.web.htmx import HtmxHttpRequest, page_or_partial


@require_http_methods(["GET", "POST"])
@never_cache
@sensitive_post_parameters("material")
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
def key_lookup_page(request: HtmxHttpRequest) -> HttpResponse:
    """Paste a certificate or key; see its devices and every release of the key. Nothing pasted
    is kept: the form keeps the key pair's fingerprints only and never shows the text again."""
    form = KeyLookupForm(request.POST if request.method == "POST" else None)
    context = {"form": form, "lookup": None}
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                lookup = key_lookup(
                    viewer=request.user,
                    identity=form.identity,
                    context=request_context(request),
                )
            except AuditWriteError:
                messages.error(
                    request,
                    _("The lookup could not be recorded in the audit trail, so it was not made."),
                )
                status = 503
            else:
                context["lookup"] = lookup
                context["releases"] = event_table(
                    events=lookup.releases, redact=request.user.is_superuser
                )
                context["downloads"] = event_table(
                    events=lookup.certificate_downloads, redact=request.user.is_superuser
                )
        else:
            status = 400
            if form.refusal and form.refusal != "empty":
                try:
                    key_lookup_refused(
                        actor=request.user, context=request_context(request), code=form.refusal
                    )
                except AuditWriteError:
                    status = 503
    return render(
        request, page_or_partial(request, "audit/key_lookup.html", "lookup"), context, status=status
    )


def _report_form(request: HtmxHttpRequest) -> CustodyReportForm:
    names = accounts_visible(viewer=request.user)
    accounts = [a for a in settings.IOT_ACCOUNTS.values() if names is None or a.name in names]
    return CustodyReportForm(request.GET, today=timezone.localdate(), accounts=accounts)


@require_GET
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
@vary_on_headers("HX-Request")
def custody_report_page(request: HtmxHttpRequest) -> HttpResponse:
    form = _report_form(request)
    context = {
        "form": form,
        "report": None,
        "quick_periods": report_quick_periods(today=timezone.localdate()),
    }
    status = 200
    if form.is_valid():
        context["report"] = custody_report(
            viewer=request.user, period=form.report_period(), account=form.account_chosen()
        )
    else:
        status = 400
    return render(
        request,
        page_or_partial(request, "audit/custody_report.html", "report"),
        context,
        status=status,
    )


@require_GET
@never_cache
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
def custody_report_download(request: HtmxHttpRequest) -> HttpResponse:
    form = _report_form(request)
    context = {
        "form": form,
        "report": None,
        "quick_periods": report_quick_periods(today=timezone.localdate()),
    }
    if not form.is_valid():
        return render(request, "audit/custody_report.html", context, status=400)
    if settings.AUDIT_SIGNING_KEY is None:
        messages.error(
            request,
            _("Exports cannot be signed: no audit signing key is configured on this server."),
        )
        return render(request, "audit/custody_report.html", context, status=503)
    try:
        filename, data = custody_report_export(
            viewer=request.user,
            period=form.report_period(),
            account=form.account_chosen(),
            context=request_context(request),
        )
    except AuditWriteError:
        messages.error(
            request,
            _("The export could not be recorded in the audit trail, so it was not made."),
        )
        return render(request, "audit/custody_report.html", context, status=503)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
