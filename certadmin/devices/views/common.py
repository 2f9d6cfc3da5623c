"""What the device views share: the device a URL names, file answers and the download problem
page."""

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.http import content_disposition_header
from django.utils.translation import gettext

from certadmin.devices import forms
from certadmin.devices.downloads import DownloadFile
from certadmin.devices.services import DeviceRef
from certadmin.htmx import HtmxHttpRequest


def device_or_404(request: HtmxHttpRequest, product_key: str, device_name: str) -> DeviceRef:
    """The device a key or download URL names (its instance posted or in the query).

    A name that is not already canonical (spaces, tabs or line breaks around it) is a 404:
    nothing of it reaches the API or the audit trail.
    """
    instance = request.POST.get("instance", request.GET.get("instance", ""))
    form = forms.DeviceLookupForm.from_path(product_key, device_name, instance)
    if not form.is_valid():
        raise Http404
    return form.device()


def attachment(file: DownloadFile) -> HttpResponse:
    """A file download that no cache keeps and no browser sniffs."""
    response = HttpResponse(file.data, content_type=file.content_type)
    response["Content-Disposition"] = content_disposition_header(True, file.filename)
    response["X-Content-Type-Options"] = "nosniff"
    add_never_cache_headers(response)
    return response


def audit_unavailable_message() -> str:
    return gettext(
        "The audit trail could not record this, so nothing was handed out. "
        "Try again in a moment; if it persists, tell an administrator."
    )


def download_problem(
    request: HtmxHttpRequest,
    device: DeviceRef,
    message: str,
    *,
    status: int,
    code: str = "",
    request_id: str = "",
) -> HttpResponse:
    """The page that says why a download was not handed out."""
    response = render(
        request,
        "devices/bundle.html",
        {
            "device": device,
            "error": message,
            "error_code": code,
            "request_id": request_id,
        },
        status=status,
    )
    add_never_cache_headers(response)
    return response
