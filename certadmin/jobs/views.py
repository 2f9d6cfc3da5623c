"""Job pages: the list (with "Sync a product"), a job's live progress, and cancelling."""

from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from certadmin.accounts.roles import VIEW_CERTIFICATES
from certadmin.htmx import HtmxHttpRequest, page_or_partial
from certadmin.jobs.forms import ProductSyncForm
from certadmin.jobs.models import ItemState, Job
from certadmin.jobs.selectors import job_items, job_progress, jobs_visible
from certadmin.jobs.services import (
    JobPermissionError,
    JobStartError,
    job_cancel,
    job_may_cancel,
    product_sync_start,
)

JOBS_LISTED = 100
FAILED_ITEMS_SHOWN = 100


def _visible_job(request: HtmxHttpRequest, job_id: int) -> Job:
    job = jobs_visible(user=request.user).filter(pk=job_id).first()
    if job is None:
        raise Http404
    return job


def _list_context(request: HtmxHttpRequest, form: ProductSyncForm) -> dict:
    return {"jobs": jobs_visible(user=request.user)[:JOBS_LISTED], "form": form}


@require_GET
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def job_list(request: HtmxHttpRequest) -> HttpResponse:
    """The jobs the person may see, newest first, and the form that starts a product sync."""
    form = ProductSyncForm(initial={"product_key": request.GET.get("product_key", "")})
    return render(request, "jobs/list.html", _list_context(request, form))


@require_POST
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def product_sync(request: HtmxHttpRequest) -> HttpResponse:
    """Start a product sync; refused input (or an unknown product) starts nothing."""
    form = ProductSyncForm(request.POST)
    if form.is_valid():
        try:
            job = product_sync_start(
                owner=request.user,
                product_key=form.cleaned_data["product_key"],
                iot_instance_id=form.cleaned_data["instance"],
            )
        except JobStartError as refused:
            form.add_error("product_key", f"{refused.message} ({refused.code})")
        else:
            url = reverse("jobs:detail", args=[job.pk])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    status = 200 if request.htmx else 400
    template = page_or_partial(request, "jobs/list.html", "sync-form")
    return render(request, template, _list_context(request, form), status=status)


@require_GET
@vary_on_headers("HX-Request")
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def job_detail(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    """A job's progress; htmx polls the progress partial until the job ends."""
    job = _visible_job(request, job_id)
    context = {
        "job": job,
        "progress": job_progress(job=job),
        "may_cancel": job.is_active and job_may_cancel(job=job, user=request.user),
        "failed_items": job_items(job=job).filter(state=ItemState.FAILED)[:FAILED_ITEMS_SHOWN],
    }
    return render(request, page_or_partial(request, "jobs/detail.html", "progress"), context)


@require_POST
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def job_cancel_view(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    """Cancel a job (its owner or a superuser)."""
    job = _visible_job(request, job_id)
    try:
        job_cancel(job=job, actor=request.user)
    except JobPermissionError as refused:
        raise PermissionDenied(str(refused)) from None
    url = reverse("jobs:detail", args=[job.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
