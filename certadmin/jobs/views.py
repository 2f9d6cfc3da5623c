"""Job pages: the list (with "Sync a product"), batch lookups from a CSV, a job's live
progress (and a batch's results and their CSV), and cancelling (after a confirmation).
Whoever may see a product may follow its jobs (``jobs_visible``); only the job's owner or a
superuser may cancel one (``job_may_cancel``)."""

from itertools import islice

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from certadmin.accounts.api_accounts import accounts_for
from certadmin.accounts.roles import VIEW_CERTIFICATES
from certadmin.certs.details import expiry_days_left
from certadmin.devices.expiry import expiry_state_label, expiry_state_of
from certadmin.devices.inventory_csv import inventory_csv_lines
from certadmin.devices.live_lookups import retry_after_add
from certadmin.jobs.forms import BatchLookupForm, JobListPagesForm, ProductSyncForm
from certadmin.jobs.list_cache import jobs_list_cached
from certadmin.jobs.models import ItemState, Job, JobKind, JobState
from certadmin.jobs.progress import job_progress, job_waiting_texts
from certadmin.jobs.rows import job_rows_html
from certadmin.jobs.selectors import (
    job_items,
    job_products,
    job_results,
    job_results_count,
    jobs_listed,
    jobs_visible,
)
from certadmin.jobs.services import (
    JOB_QUEUE_FULL,
    BatchRowsRefused,
    JobPermissionError,
    JobStartError,
    ProductSyncActive,
    batch_lookup_start,
    job_cancel,
    job_may_cancel,
    product_sync_start,
)
from certadmin.web.htmx import HtmxHttpRequest, page_or_partial, page_redirect
from certadmin.web.punctuation import items_join

# Each section of the jobs list shows this many jobs a page, newest first.
JOBS_LISTED = 50
FAILED_ITEMS_SHOWN = 100
# A batch's results table shows this many devices; its CSV has them all.
RESULTS_SHOWN = 500
# Of a refused list, this many bad rows are listed (the count says how many there are).
PROBLEMS_SHOWN = 200
DUPLICATES_NAMED = 10
# An ended batch links to the device list and expiry view of this many of its products.
PRODUCTS_LINKED = 10


def _visible_job(request: HtmxHttpRequest, job_id: int) -> Job:
    job = jobs_visible(user=request.user).filter(pk=job_id).first()
    if job is None:
        raise Http404
    return job


def _list_context(request: HtmxHttpRequest, form: ProductSyncForm) -> dict:
    # The person's own jobs first; other people's (and the command line's) on the products they
    # may see apart, so nobody mistakes them for their own.
    # Each section pages on its own; an unreadable page is left out of cleaned_data (the
    # section shows its newest jobs).
    pages = JobListPagesForm(request.GET)
    pages.is_valid()
    before = pages.cleaned_data

    def sections_made() -> dict:
        jobs, jobs_older = jobs_listed(
            user=request.user, own=True, limit=JOBS_LISTED, before=before.get("before")
        )
        other_jobs, other_jobs_older = jobs_listed(
            user=request.user, own=False, limit=JOBS_LISTED, before=before.get("others_before")
        )
        # A waiting job says what it waits for beside its state.
        listed = (*jobs, *other_jobs)
        texts = job_waiting_texts(jobs=listed, viewer=request.user)
        for job, text in zip(listed, texts, strict=True):
            job.waiting_text = text
        return {
            "jobs_count": len(jobs),
            "other_jobs_count": len(other_jobs),
            "jobs_older": jobs_older,
            "other_jobs_older": other_jobs_older,
            "jobs_rows": str(job_rows_html(jobs)),
            "other_jobs_rows": str(job_rows_html(other_jobs)),
        }

    # Written out once while no job changes (list_cache: what changes a page).
    sections = jobs_list_cached(
        user=request.user, accounts=form.account_names, pages=before, made=sections_made
    )
    return {
        **sections,
        # Escaped when written (jobs.rows).
        "jobs_rows": mark_safe(sections["jobs_rows"]),  # noqa: S308
        "other_jobs_rows": mark_safe(sections["other_jobs_rows"]),  # noqa: S308
        "form": form,
    }


def _refused_status(refused: JobStartError, *, otherwise: int) -> int:
    # A full queue, or a person whose live lookups hold every slot: come back later (429).
    if refused.code == JOB_QUEUE_FULL or refused.code.startswith("Throttling"):
        return 429
    return otherwise


@require_GET
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def job_list(request: HtmxHttpRequest) -> HttpResponse:
    """The jobs the person may see, newest first, and the form that starts a product sync."""
    form = ProductSyncForm(
        initial={"product_key": request.GET.get("product_key", "")},
        accounts=accounts_for(user=request.user),
    )
    return render(request, "jobs/list.html", _list_context(request, form))


@require_POST
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def product_sync(request: HtmxHttpRequest) -> HttpResponse:
    """Start a product sync; refused input (or an unknown product) starts nothing."""
    form = ProductSyncForm(request.POST, accounts=accounts_for(user=request.user))
    status = 200 if request.htmx else 400
    if form.is_valid():
        try:
            job = product_sync_start(
                owner=request.user,
                product_key=form.cleaned_data["product_key"],
                iot_instance_id=form.cleaned_data["instance"],
                account=form.cleaned_data["account"],
                mode=form.cleaned_data["mode"],
            )
        except ProductSyncActive as active:
            # Nothing queued twice: the person is shown the sync that will do the work.
            messages.info(request, active.message)
            visible = jobs_visible(user=request.user).filter(pk=active.job.pk).exists()
            url = reverse("jobs:detail", args=[active.job.pk]) if visible else reverse("jobs:list")
            return page_redirect(request, url)
        except JobStartError as refused:
            form.add_error("product_key", f"{refused.message} ({refused.code})")
            status = _refused_status(refused, otherwise=status)
        else:
            url = reverse("jobs:detail", args=[job.pk])
            return page_redirect(request, url)
    template = page_or_partial(request, "jobs/list.html", "sync-form")
    return retry_after_add(render(request, template, _list_context(request, form), status=status))


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def batch_lookup(request: HtmxHttpRequest) -> HttpResponse:
    """Look up a pasted or uploaded list of devices as a job. A list with bad rows starts
    nothing: every bad row is listed at once, with its line number, its text and why, and an
    uploaded file's rows stay in the text box to be fixed there."""
    form = BatchLookupForm(
        request.POST or None, request.FILES or None, accounts=accounts_for(user=request.user)
    )
    status = 400 if request.method == "POST" else 200
    refused_rows = None
    problems = []
    if request.method == "POST" and form.is_valid():
        try:
            job = batch_lookup_start(
                owner=request.user, batch=form.batch, account=form.cleaned_data["account"]
            )
        except BatchRowsRefused as refused:
            refused_rows, problems = refused, refused.problems
        except JobStartError as refused:
            form.add_error(None, f"{refused.message} ({refused.code})")
            status = _refused_status(refused, otherwise=status)
            # The products could not be checked, but the rows' own faults can be fixed now.
            problems = form.batch.problems
        else:
            _duplicates_note(request, form)
            return page_redirect(request, reverse("jobs:detail", args=[job.pk]))
    if request.method == "POST":
        form.upload_keep()
    context = {
        "form": form,
        "refused_rows": refused_rows,
        "problems": problems[:PROBLEMS_SHOWN],
        "problem_count": len(problems),
    }
    template = page_or_partial(request, "jobs/batch.html", "batch")
    return retry_after_add(render(request, template, context, status=status))


def _duplicates_note(request: HtmxHttpRequest, form: BatchLookupForm) -> None:
    duplicates = form.batch.duplicates
    if not duplicates:
        return
    named = [
        f"{duplicate.line} (= {duplicate.first_line})"
        for duplicate in duplicates[:DUPLICATES_NAMED]
    ]
    if len(duplicates) > DUPLICATES_NAMED:
        named.append("…")
    lines = items_join(named)
    messages.info(
        request,
        ngettext(
            "%(count)d row repeats a device listed before; it is looked up once. Line: %(lines)s.",
            "%(count)d rows repeat devices listed before; each is looked up once. "
            "Lines: %(lines)s.",
            len(duplicates),
        )
        % {"count": len(duplicates), "lines": lines},
    )


@require_GET
@vary_on_headers("HX-Request")
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def job_detail(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    """A job's progress; htmx polls the progress partial until the job ends. A batch lookup
    that has ended also shows its results."""
    job = _visible_job(request, job_id)
    context = {
        "job": job,
        "progress": job_progress(job=job, viewer=request.user),
        "may_cancel": job.is_active and job_may_cancel(job=job, user=request.user),
        "failed_items": job_items(job=job).filter(state=ItemState.FAILED)[:FAILED_ITEMS_SHOWN],
        "is_batch": job.kind == JobKind.BATCH_LOOKUP,
    }
    if not job.is_active:
        context["products"] = job_products(job=job, limit=PRODUCTS_LINKED)
    if context["is_batch"] and not job.is_active:
        context.update(_batch_results(job))
    return render(request, page_or_partial(request, "jobs/detail.html", "progress"), context)


def _batch_results(job: Job) -> dict:
    now = timezone.now()
    rows = []
    for record in islice(job_results(job=job), RESULTS_SHOWN):
        state = expiry_state_of(record, now=now)
        rows.append(
            {
                "record": record,
                "state": state,
                "state_label": expiry_state_label(state=state, status=record.status),
                "days_left": None
                if record.not_after is None
                else expiry_days_left(not_after=record.not_after, now=now),
            }
        )
    return {
        "results": rows,
        "results_total": job_results_count(job=job),
        "results_shown": RESULTS_SHOWN,
    }


@require_GET
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def job_results_csv(request: HtmxHttpRequest, job_id: int) -> StreamingHttpResponse:
    """A batch's results as CSV: the expiry overview's columns, one row per device."""
    job = _visible_job(request, job_id)
    if job.kind != JobKind.BATCH_LOOKUP:
        raise Http404
    records = job_results(job=job)
    response = StreamingHttpResponse(
        inventory_csv_lines(records, now=timezone.now()), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = content_disposition_header(
        True, f"batch-{job.pk}-results.csv"
    )
    response["X-Content-Type-Options"] = "nosniff"
    add_never_cache_headers(response)
    return response


@require_http_methods(["GET", "POST"])
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def job_cancel_view(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    """Cancel a job (its owner or a superuser): GET asks to confirm (the Cancel button leads
    here without JavaScript; htmx asks with ``hx-confirm`` and posts), POST cancels."""
    job = _visible_job(request, job_id)
    url = reverse("jobs:detail", args=[job.pk])
    if request.method == "GET":
        if not job_may_cancel(job=job, user=request.user):
            raise PermissionDenied
        if not job.is_active or job.state == JobState.CANCELLING:
            # Nothing left to confirm: the job page says where it stands.
            return redirect(url)
        return render(request, "jobs/cancel.html", {"job": job})
    try:
        job_cancel(job=job, actor=request.user)
    except JobPermissionError as refused:
        raise PermissionDenied(str(refused)) from None
    return page_redirect(request, url)
