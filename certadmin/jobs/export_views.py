"""Bulk certificate export: the ZIP of a synced product's, a filtered table's or a finished
batch's certificates (never a key). With the jobs, as it reads batches; served among the device
pages (certadmin/jobs/device_urls.py)."""

from django import forms
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from certadmin.accounts.api_accounts import accounts_for
from certadmin.accounts.roles import VIEW_CERTIFICATES
from certadmin.audit.services import AuditWriteError, request_context
from certadmin.devices.certificate_export import ExportRefused, ExportSource, certificate_export
from certadmin.devices.forms import InventoryFilterForm
from certadmin.devices.selectors import inventory_devices
from certadmin.devices.views.common import attachment, audit_unavailable_message
from certadmin.jobs.models import JobKind, JobState
from certadmin.jobs.selectors import job_records, jobs_visible
from certadmin.web.htmx import HtmxHttpRequest


class ExportFilterForm(InventoryFilterForm):
    """The device table's filters (``product_key``, ``instance``, ``q``, ``state``, ``device``,
    ``node``, ``sort``), or ``job``: a finished batch."""

    job = forms.IntegerField(required=False, min_value=1)

    def records(self):
        data = self.cleaned_data
        return inventory_devices(
            **self.scope(),
            q=data["q"],
            state=data["state"],
            sort=data["sort"],
        )

    def applied_filters(self) -> tuple[tuple[str, str], ...]:
        """The filters that narrow ``records`` (the order does not), as the export event
        records them: the search text, the expiry state and the device filters, as applied."""
        data = self.cleaned_data
        named = (
            ("search", data["q"]),
            ("expiry state", data["state"]),
            ("device status", ",".join(data["device"])),
            ("node type", data["node"]),
        )
        return tuple((name, value) for name, value in named if value)


def _source(request: HtmxHttpRequest, form: ExportFilterForm) -> ExportSource:
    data = form.cleaned_data
    if data["job"]:
        job = jobs_visible(user=request.user).filter(pk=data["job"]).first()
        if job is None or job.kind != JobKind.BATCH_LOOKUP:
            raise Http404
        if job.state != JobState.FINISHED:
            raise ExportRefused(gettext("The batch has not finished: export it once it has."))
        return ExportSource(job_records(job=job), "", "", job.account, batch=job.pk)
    product_key = data["product_key"]
    return ExportSource(
        form.records(),
        product_key,
        data["instance"] if product_key else "",
        data["account"] if product_key else "",
        filters=form.applied_filters(),
    )


def _problem(request: HtmxHttpRequest, message: str, *, status: int) -> HttpResponse:
    response = render(request, "devices/export_problem.html", {"error": message}, status=status)
    add_never_cache_headers(response)
    return response


@require_GET
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def certificate_export_view(request: HtmxHttpRequest) -> HttpResponse:
    """A ZIP of certificates, a manifest and the issuing CAs, recorded as one export event.

    ``?job=<id>`` exports a finished batch; otherwise the device table's filters
    (``product_key``, ``instance``, ``q``, ``state``) choose the devices."""
    form = ExportFilterForm(request.GET, accounts=accounts_for(user=request.user))
    if not form.is_valid():
        return _problem(request, gettext("The export's filters are not valid."), status=400)
    try:
        file = certificate_export(
            actor=request.user, source=_source(request, form), context=request_context(request)
        )
    except ExportRefused as refused:
        return _problem(request, refused.message, status=409)
    except AuditWriteError:
        return _problem(request, audit_unavailable_message(), status=503)
    return attachment(file)
