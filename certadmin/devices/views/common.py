"""What the device views share: the device a URL names, file answers and the download problem
page."""

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.http import content_disposition_header
from django.utils.translation import gettext

from certadmin.accounts.api_accounts import account_allowed
from certadmin.audit.models import AuditAction
from certadmin.audit.services import request_context
from certadmin.devices import forms
from certadmin.devices.downloads import DownloadFile
from certadmin.devices.key_release import key_access_denied
from certadmin.iot.identity import DeviceRef
from certadmin.web.htmx import HtmxHttpRequest


class DeviceNotCanonical(Http404):
    """The URL's names (or its instance or account) are not exactly a device's: a 404, unless
    the view answers otherwise (the certificate page shows the search form with ``form``'s
    errors, 400)."""

    def __init__(self, form: forms.DeviceLookupForm) -> None:
        super().__init__()
        self.form = form


def device_for_request(
    request: HtmxHttpRequest,
    product_key: str,
    device_name: str,
    *,
    key_action: AuditAction | None = None,
    query_only: bool = False,
) -> DeviceRef:
    """The device a URL names, on an API account the user may use: the one lookup and access
    check of every view that names a device (certificate page, downloads, key access).

    The names come from the path, the instance and account from the posted form or else the
    query (``query_only``: the query alone, so that a refused oversize body is never read).
    A name that is not already canonical (spaces, tabs or line breaks around it) raises
    ``DeviceNotCanonical`` (a 404): nothing of it reaches the API or the audit trail. An API
    account the user may not use is a plain 404 (not a 403: whether it exists is not
    confirmed), also when the names are not canonical; an attempt at a key (``key_action``)
    on such an account is recorded as denied first. The role a view needs is the view's.
    """
    if query_only:
        instance = request.GET.get("instance", "")
        account = request.GET.get("account", "")
    else:
        instance = request.POST.get("instance", request.GET.get("instance", ""))
        account = request.POST.get("account", request.GET.get("account", ""))
    form = forms.DeviceLookupForm.from_path(product_key, device_name, instance, account)
    if not form.is_valid():
        if account and not account_allowed(user=request.user, account=account):
            raise Http404
        raise DeviceNotCanonical(form)
    device = form.device()
    if not account_allowed(user=request.user, account=device.account):
        if key_action is not None and request.user.is_authenticated:
            key_access_denied(
                actor=request.user,
                device=device,
                context=request_context(request),
                action=key_action,
                why="API account not permitted",
            )
        raise Http404
    return device


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
