"""Device search, product device lists and the certificate page (thin: parse, call, render)."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import content_disposition_header
from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from certadmin.accounts.reauth import reauth_confirm, reauth_is_fresh
from certadmin.accounts.roles import REVEAL_PRIVATE_KEY, VIEW_AUDIT_TRAIL, VIEW_CERTIFICATES
from certadmin.audit.models import AuditAction
from certadmin.audit.selectors import device_recent_reveals
from certadmin.audit.services import AuditWriteError, request_context
from certadmin.devices import downloads, forms
from certadmin.devices.downloads import CERTIFICATE_FORMATS, DownloadFile, DownloadUnavailable
from certadmin.devices.keys import (
    KeyReleaseError,
    key_access_denied,
    key_access_failed,
    key_reveal,
)
from certadmin.devices.platform import describe_iot_error, iot_error_status
from certadmin.devices.selectors import recent_devices
from certadmin.devices.services import DeviceRef, certificate_lookup, device_list
from certadmin.iot.errors import IotError


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _status(request: HtmxHttpRequest, status: int) -> int:
    # htmx swaps only what the page can show: handled problems travel as 200 inside htmx,
    # with their real status on full pages.
    return 200 if request.htmx else status


def device_url(device: DeviceRef) -> str:
    """The bookmarkable URL of a device's certificate page."""
    url = reverse("devices:device", args=[device.product_key, device.device_name])
    if device.iot_instance_id:
        url += "?" + urlencode({"instance": device.iot_instance_id})
    return url


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    """The device search; where everyone lands after logging in."""
    if not request.user.has_perm(VIEW_CERTIFICATES):
        # An Auditor's work is the audit trail: send them there rather than to a 403.
        if request.user.has_perm(VIEW_AUDIT_TRAIL):
            return redirect("audit:events")
        raise PermissionDenied
    form = forms.DeviceLookupForm()
    return render(
        request,
        "devices/home.html",
        {"form": form, "recent": recent_devices(user=request.user)},
    )


@require_GET
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def lookup(request: HtmxHttpRequest) -> HttpResponse:
    form = forms.DeviceLookupForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "devices/home.html",
            {"form": form, "recent": recent_devices(user=request.user)},
            status=400,
        )
    device = DeviceRef(
        form.cleaned_data["product_key"],
        form.cleaned_data["device_name"],
        form.cleaned_data["instance"],
    )
    return redirect(device_url(device))


@require_GET
@vary_on_headers("HX-Request")
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def devices(request: HtmxHttpRequest) -> HttpResponse:
    """A product's devices, filtered by the DeviceName typed so far (htmx partial or page)."""
    form = forms.DeviceListForm(
        {
            "product_key": request.GET.get("product_key", ""),
            "instance": request.GET.get("instance", ""),
            "name": request.GET.get("name", request.GET.get("device_name", "")),
            "page": request.GET.get("page") or None,
        }
    )
    context = {"list_form": form, "listing": None, "error": "", "error_code": "", "request_id": ""}
    status = 200
    if form.is_valid():
        data = form.cleaned_data
        try:
            context["listing"] = device_list(
                product_key=data["product_key"],
                iot_instance_id=data["instance"],
                name_filter=data["name"],
                page=data["page"] or 1,
            )
        except IotError as error:
            context.update(
                error=describe_iot_error(error, product_key=data["product_key"]),
                error_code=error.code,
                request_id=error.request_id,
            )
            status = iot_error_status(error)
    else:
        status = 400
    if request.htmx:
        return render(
            request, "devices/home.html#device-list", context, status=_status(request, status)
        )
    # Unbound, only pre-filled: a bound form would flag the DeviceName nobody typed yet.
    typed = {
        k: request.GET[k] for k in ("product_key", "device_name", "instance") if k in request.GET
    }
    context.update(
        form=forms.DeviceLookupForm(initial=typed), recent=recent_devices(user=request.user)
    )
    return render(request, "devices/home.html", context, status=status)


@require_GET
@vary_on_headers("HX-Request")
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def device(request: HtmxHttpRequest, product_key: str, device_name: str) -> HttpResponse:
    """A device's certificate: status, every decoded detail, chain, key check."""
    form = forms.DeviceLookupForm(
        {
            "product_key": product_key,
            "device_name": device_name,
            "instance": request.GET.get("instance", ""),
        }
    )
    if not form.is_valid():
        return render(
            request,
            "devices/home.html",
            {"form": form, "recent": recent_devices(user=request.user)},
            status=400,
        )
    ref = DeviceRef(product_key, device_name, form.cleaned_data["instance"])
    can_reveal = request.user.has_perm(REVEAL_PRIVATE_KEY)
    context = {
        "device": ref,
        "view": None,
        "error": "",
        "error_code": "",
        "request_id": "",
        "can_reveal": can_reveal,
        "form": forms.KeyAccessForm() if can_reveal else None,
        "bundle_form": forms.KeyBundleForm() if can_reveal else None,
        "reauth_fresh": reauth_is_fresh(request),
        "recent_reveals": device_recent_reveals(
            product_key=ref.product_key,
            device_name=ref.device_name,
            iot_instance_id=ref.iot_instance_id,
        )
        if can_reveal or request.user.has_perm(VIEW_AUDIT_TRAIL)
        else None,
    }
    status = 200
    try:
        context["view"] = certificate_lookup(
            device=ref, user=request.user, refresh=request.GET.get("refresh") == "1"
        )
    except IotError as error:
        context.update(
            error=describe_iot_error(error, product_key=product_key, device_name=device_name),
            error_code=error.code,
            request_id=error.request_id,
        )
        status = iot_error_status(error)
    template = "devices/device.html#certificate" if request.htmx else "devices/device.html"
    return render(request, template, context, status=_status(request, status))


def _device_from_path(request: HtmxHttpRequest, product_key: str, device_name: str):
    form = forms.DeviceLookupForm(
        {
            "product_key": product_key,
            "device_name": device_name,
            "instance": request.POST.get("instance", request.GET.get("instance", "")),
        }
    )
    if not form.is_valid():
        return None
    return DeviceRef(product_key, device_name, form.cleaned_data["instance"])


def key_access_check(
    request: HtmxHttpRequest, *, device: DeviceRef, action: AuditAction, form: forms.KeyAccessForm
) -> tuple[int, str]:
    """Permission, reason and fresh re-authentication for a key-bearing action.

    Returns ``(0, "")`` when the action may go ahead; otherwise an HTTP status and a message,
    after recording the refused attempt in the audit trail.
    """

    def deny(why: str) -> None:
        key_access_denied(
            actor=request.user,
            device=device,
            context=request_context(request),
            action=action,
            why=why,
        )

    if not request.user.has_perm(REVEAL_PRIVATE_KEY):
        deny("no permission to access private keys")
        return 403, gettext("You are not allowed to access private keys.")
    if not form.is_valid() and "reason" in form.errors:
        deny("no valid reason given")
        if not reauth_is_fresh(request) and not form.cleaned_data.get("password"):
            # Say everything that is missing at once, not one field per attempt.
            form.add_error("password", gettext("Enter your password to confirm it is you."))
        return 400, ""
    if not reauth_is_fresh(request):
        password = form.cleaned_data.get("password", "") if form.is_bound else ""
        if not password:
            deny("re-authentication required")
            form.add_error("password", gettext("Enter your password to confirm it is you."))
            return 400, ""
        if not reauth_confirm(request=request, password=password):
            deny("re-authentication failed")
            form.add_error("password", gettext("That password is not correct."))
            return 400, ""
    return 0, ""


def _reveal_response(request: HtmxHttpRequest, context: dict, status: int) -> HttpResponse:
    template = "devices/reveal.html#reveal-panel" if request.htmx else "devices/reveal.html"
    response = render(request, template, context, status=_status(request, status))
    add_never_cache_headers(response)
    return response


@require_POST
@vary_on_headers("HX-Request")
@sensitive_post_parameters("password")
@sensitive_variables("revealed")
def reveal(request: HtmxHttpRequest, product_key: str, device_name: str) -> HttpResponse:
    """Reveal a device's private key: permission, reason, fresh password; audited first."""
    device = _device_from_path(request, product_key, device_name)
    if device is None:
        raise Http404
    form = forms.KeyAccessForm(request.POST)
    context = {
        "device": device,
        "form": form,
        "revealed": None,
        "error": "",
        "error_code": "",
        "request_id": "",
        "visible_seconds": settings.KEY_REVEAL_VISIBLE_SECONDS,
    }
    status, message = key_access_check(
        request, device=device, action=AuditAction.KEY_REVEAL, form=form
    )
    if status == 403:
        raise PermissionDenied(message)
    context["reauth_fresh"] = reauth_is_fresh(request)
    if status:
        return _reveal_response(request, context, status)
    try:
        context["revealed"] = key_reveal(
            actor=request.user,
            device=device,
            reason=form.cleaned_data["reason"],
            context=request_context(request),
        )
        context["form"] = forms.KeyAccessForm()
    except KeyReleaseError as error:
        context.update(error=error.message, error_code=error.code, request_id=error.request_id)
        status = error.status
    except AuditWriteError:
        context["error"] = _audit_unavailable_message()
        status = 503
    return _reveal_response(request, context, status or 200)


def _attachment(file: DownloadFile) -> HttpResponse:
    response = HttpResponse(file.data, content_type=file.content_type)
    response["Content-Disposition"] = content_disposition_header(True, file.filename)
    response["X-Content-Type-Options"] = "nosniff"
    add_never_cache_headers(response)
    return response


@require_GET
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def certificate_download(
    request: HtmxHttpRequest, product_key: str, device_name: str, kind: str
) -> HttpResponse:
    """The certificate alone, as PEM, DER or PEM chain (recorded as a certificate download)."""
    device = _device_from_path(request, product_key, device_name)
    if device is None or kind not in CERTIFICATE_FORMATS:
        raise Http404
    try:
        file = downloads.certificate_download(
            actor=request.user, device=device, kind=kind, context=request_context(request)
        )
    except DownloadUnavailable as error:
        return _download_problem(request, device, error.message, status=409)
    except IotError as error:
        return _download_problem(
            request,
            device,
            describe_iot_error(error, product_key=product_key, device_name=device_name),
            code=error.code,
            request_id=error.request_id,
            status=iot_error_status(error),
        )
    except AuditWriteError:
        return _download_problem(request, device, _audit_unavailable_message(), status=503)
    return _attachment(file)


def _audit_unavailable_message() -> str:
    return gettext(
        "The audit trail could not record this, so nothing was handed out. "
        "Try again in a moment; if it persists, tell an administrator."
    )


def _download_problem(
    request: HtmxHttpRequest,
    device: DeviceRef,
    message: str,
    *,
    status: int,
    code: str = "",
    request_id: str = "",
    form: forms.KeyBundleForm | None = None,
) -> HttpResponse:
    response = render(
        request,
        "devices/bundle.html",
        {
            "device": device,
            "error": message,
            "error_code": code,
            "request_id": request_id,
            "bundle_form": form,
            "reauth_fresh": reauth_is_fresh(request),
            "can_reveal": request.user.has_perm(REVEAL_PRIVATE_KEY),
        },
        status=status,
    )
    add_never_cache_headers(response)
    return response


@require_POST
@sensitive_post_parameters("password", "passphrase", "passphrase_confirm")
@sensitive_variables("file", "passphrase")
def key_bundle_download(request: HtmxHttpRequest, product_key: str, device_name: str):
    """A download with the private key: PKCS#8 PEM, PKCS#12 or ZIP; audited like a reveal."""
    device = _device_from_path(request, product_key, device_name)
    if device is None:
        raise Http404
    form = forms.KeyBundleForm(request.POST)
    status, message = key_access_check(
        request, device=device, action=AuditAction.KEY_DOWNLOAD, form=form
    )
    if status == 403:
        raise PermissionDenied(message)
    if status:
        return _download_problem(
            request, device, gettext("Correct the form below."), status=status, form=form
        )
    if "format" in form.errors:
        return _download_problem(
            request, device, gettext("Choose a format."), status=400, form=form
        )
    problem = form.passphrase_problem()
    if problem:
        key_access_failed(
            actor=request.user,
            device=device,
            context=request_context(request),
            action=AuditAction.KEY_DOWNLOAD,
            reason=form.cleaned_data["reason"],
            detail="p12: unusable passphrase",
        )
        form.add_error("passphrase", problem)
        return _download_problem(request, device, problem, status=400, form=form)
    try:
        file = downloads.key_bundle_download(
            actor=request.user,
            device=device,
            kind=form.cleaned_data["format"],
            reason=form.cleaned_data["reason"],
            passphrase=form.cleaned_data.get("passphrase", ""),
            context=request_context(request),
        )
    except KeyReleaseError as error:
        return _download_problem(
            request,
            device,
            error.message,
            code=error.code,
            request_id=error.request_id,
            status=error.status,
            form=forms.KeyBundleForm(initial={"format": form.cleaned_data["format"]}),
        )
    except AuditWriteError:
        return _download_problem(request, device, _audit_unavailable_message(), status=503)
    return _attachment(file)
