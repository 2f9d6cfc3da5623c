"""The fleet-health page: findings counted per account, product, code and severity, the
riskiest devices first, filters and CSV; and the suppressions, for fleet managers."""

import csv

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from certadmin.accounts.api_accounts import accounts_for
from certadmin.accounts.roles import MANAGE_FLEET, VIEW_CERTIFICATES
from certadmin.audit.services import AuditWriteError, request_context
from certadmin.findings.codes import finding_title
from certadmin.findings.counts_cache import FindingsPageCache
from certadmin.findings.csv_rows import FINDINGS_CSV_HEADER, findings_csv_rows
from certadmin.findings.forms import FindingFilterForm, SuppressionForm
from certadmin.findings.rows import finding_rows_html
from certadmin.findings.selectors import (
    findings_filtered,
    findings_visible,
    suppressions_visible,
)
from certadmin.findings.severity import SEVERITY_BY_NAME, SEVERITY_NAMES, Severity
from certadmin.findings.suppressions import (
    SuppressionRefused,
    suppression_create,
    suppression_withdraw,
)
from certadmin.web.csv_safety import LineBuffer
from certadmin.web.htmx import HtmxHttpRequest, page_or_partial, partial_wanted
from certadmin.web.pagination import CountedPaginator

FINDINGS_PAGE_SIZE = 50
CSV_CHUNK = 2000


def _filters(form: FindingFilterForm) -> dict:
    data = form.cleaned_data
    severity = SEVERITY_BY_NAME.get(data["severity"])
    return {
        "account": data["account"],
        "product_key": data["product_key"],
        "code": data["code"],
        "severities": [severity] if severity else [],
        "state": data["state"],
    }


def _filtered(request: HtmxHttpRequest, form: FindingFilterForm, now):
    return findings_filtered(findings_visible(user=request.user), now=now, **_filters(form))


def _filter_form(request: HtmxHttpRequest) -> FindingFilterForm:
    return FindingFilterForm(request.GET, accounts=accounts_for(user=request.user))


@require_GET
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def fleet(request: HtmxHttpRequest) -> HttpResponse:
    """Counts of the findings the filters select, and the findings, the riskiest first."""
    form = _filter_form(request)
    template = page_or_partial(request, "findings/fleet.html", "results")
    if not form.is_valid():
        return render(request, template, {"filter_form": form, "invalid": True}, status=400)
    now = timezone.now()
    accounts = form.accounts
    cached = FindingsPageCache(
        accounts=[account.name for account in accounts], now=now, **_filters(form)
    )
    may_suppress = request.user.has_perm(MANAGE_FLEET)
    show_accounts = len(accounts) > 1

    def results_made() -> str:
        counts = cached.counts()
        # The counts cover exactly the findings listed: their sum is the list's total.
        paginator = CountedPaginator(
            _filtered(request, form, now),
            FINDINGS_PAGE_SIZE,
            count=sum(row["count"] for row in counts),
        )
        page = paginator.get_page(form.cleaned_data["page"])
        results = {
            "counts": [
                {
                    **row,
                    "title": finding_title(row["code"]),
                    "severity_name": SEVERITY_NAMES[row["severity"]],
                    "severity_label": Severity(row["severity"]).label,
                }
                for row in counts
            ],
            "page_obj": page,
            "finding_rows": finding_rows_html(
                page.object_list, now=now, may_suppress=may_suppress, show_accounts=show_accounts
            ),
            "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
            "may_suppress": may_suppress,
            "show_accounts": show_accounts,
        }
        return render_to_string("findings/fleet.html#results", results, request=request)

    # Written out once while the findings do not change: the counts, the page's rows and its
    # links (the query's filters and page number).
    results_html = cached.results_html(
        query=request.GET.urlencode(),
        may_suppress=may_suppress,
        show_accounts=show_accounts,
        made=results_made,
    )
    if partial_wanted(request):
        return HttpResponse(results_html)
    return render(
        request, "findings/fleet.html", {"filter_form": form, "results_html": results_html}
    )


@require_GET
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def fleet_csv(request: HtmxHttpRequest) -> HttpResponse:
    """Exactly the findings the page's filters select (every page), as CSV, streamed."""
    form = _filter_form(request)
    if not form.is_valid():
        return HttpResponse(
            " ".join(str(e) for errors in form.errors.values() for e in errors),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    now = timezone.now()
    findings = _filtered(request, form, now)

    def lines():
        writer = csv.writer(LineBuffer())
        yield writer.writerow(FINDINGS_CSV_HEADER)
        for row in findings_csv_rows(findings.iterator(chunk_size=CSV_CHUNK), now=now):
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, "findings.csv")
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _suppression_initial(request: HtmxHttpRequest) -> dict:
    """The form's values for suppressing one finding (``?finding=<id>``) the person may see."""
    finding_id = request.GET.get("finding", "")
    finding = (
        findings_visible(user=request.user).filter(pk=finding_id).first()
        if finding_id.isdigit()
        else None
    )
    if finding is None:
        return {}
    return {
        "code": finding.code,
        "account": finding.account,
        "product_key": finding.product_key,
        "instance": finding.iot_instance_id,
        "device_name": finding.device_name,
        "subject": finding.subject,
    }


@require_http_methods(["GET", "POST"])
@permission_required(MANAGE_FLEET, raise_exception=True)
def suppressions(request: HtmxHttpRequest) -> HttpResponse:
    """The active suppressions, and the form that adds one."""
    accounts = accounts_for(user=request.user)
    status = 200
    if request.method == "POST":
        form = SuppressionForm(request.POST, accounts=accounts)
        if form.is_valid():
            data = form.cleaned_data
            try:
                suppression_create(
                    actor=request.user,
                    context=request_context(request),
                    code=data["code"],
                    account=data["account"],
                    product_key=data["product_key"],
                    iot_instance_id=data["instance"],
                    device_name=data["device_name"],
                    subject=data["subject"],
                    reason=data["reason"],
                    ends_at=form.ends_at(),
                )
            except SuppressionRefused as refused:
                form.add_error(None, refused.message)
            except AuditWriteError:
                form.add_error(
                    None, _("The audit trail cannot be written now, so nothing was suppressed.")
                )
                status = 503
            else:
                messages.success(request, _("The findings are suppressed until the end date."))
                return redirect("findings:suppressions")
        if status == 200:
            status = 400
    else:
        form = SuppressionForm(initial=_suppression_initial(request), accounts=accounts)
    context = {
        "form": form,
        "suppressions": suppressions_visible(user=request.user, now=timezone.now()),
    }
    return render(request, "findings/suppressions.html", context, status=status)


@require_POST
@permission_required(MANAGE_FLEET, raise_exception=True)
def suppression_end(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Withdraw one active suppression now."""
    suppression = get_object_or_404(
        suppressions_visible(user=request.user, now=timezone.now()), pk=pk
    )
    try:
        suppression_withdraw(
            actor=request.user, context=request_context(request), suppression=suppression
        )
    except SuppressionRefused as refused:
        messages.error(request, refused.message)
    except AuditWriteError:
        messages.error(
            request, _("The audit trail cannot be written now, so the suppression goes on.")
        )
    else:
        messages.success(request, _("The suppression has ended."))
    return redirect("findings:suppressions")
