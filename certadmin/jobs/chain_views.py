"""The audit chain's verification pages: the chain's status, starting a verification (a
background job) and following its run. They live with the jobs, which run the verifications;
the results they show come from the audit app. Paths under /audit/chain/ (certadmin/urls.py)."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from certadmin.accounts.roles import VIEW_AUDIT_TRAIL
from certadmin.audit.forms import ChainVerifyForm
from certadmin.audit.selectors import latest_verification, verifications_recent
from certadmin.audit.services import request_context
from certadmin.jobs.selectors import chain_verification_job, chain_verification_running
from certadmin.jobs.services import JobStartError, chain_verification_start
from certadmin.web.htmx import HtmxHttpRequest, page_or_partial, page_redirect, partial_wanted


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
            "running": chain_verification_running(),
        },
    )


@require_POST
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
def chain_verify_now(request: HtmxHttpRequest) -> HttpResponse:
    """Start a verification as a background job (or find the one under way) and go to its
    progress: the walk is proportional to the trail, so it never runs in the request."""
    form = ChainVerifyForm(request.POST)
    if not form.is_valid():
        context = {
            "verification": latest_verification(),
            "form": form,
            "running": chain_verification_running(),
        }
        if not partial_wanted(request):
            context["history"] = verifications_recent()
        template = page_or_partial(request, "audit/chain.html", "status")
        return render(request, template, context, status=400)
    try:
        job, started = chain_verification_start(
            owner=request.user,
            context=request_context(request),
            expect_head=form.cleaned_data["expect_head"],
        )
    except JobStartError as refused:
        messages.error(request, refused.message)
        url = reverse("audit:chain")
    else:
        if not started:
            messages.info(
                request,
                _("A verification is already under way: this is its progress."),
            )
        url = reverse("audit:verify-run", args=[job.pk])
    return page_redirect(request, url)


@require_GET
@vary_on_headers("HX-Request")
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
def chain_verify_run(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    """One verification's progress (htmx polls the partial until it ends), then its result."""
    job = chain_verification_job(job_id=job_id)
    if job is None:
        raise Http404
    return render(
        request,
        page_or_partial(request, "audit/chain_run.html", "progress"),
        {"job": job, "total": max(job.total, job.done), "form": ChainVerifyForm()},
    )
