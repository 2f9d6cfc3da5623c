"""Device search, product device lists and the certificate page (thin: parse, call, render)."""

from urllib.parse import urlencode

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from certadmin.accounts.roles import VIEW_CERTIFICATES
from certadmin.devices import forms
from certadmin.devices.platform import describe_iot_error
from certadmin.devices.selectors import recent_devices
from certadmin.devices.services import DeviceRef, certificate_lookup, device_list
from certadmin.iot.errors import IotError


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _status(request: HtmxHttpRequest, status: int) -> int:
    # htmx swaps only what the page can show: handled problems travel as 200 inside htmx,
    # with their real status on full pages.
    return 200 if request.htmx else status


def _iot_error_status(error: IotError) -> int:
    if error.is_not_found or error.is_instance_error:
        return 404
    if error.is_throttled:
        return 429
    return 502


def device_url(device: DeviceRef) -> str:
    """The bookmarkable URL of a device's certificate page."""
    url = reverse("devices:device", args=[device.product_key, device.device_name])
    if device.iot_instance_id:
        url += "?" + urlencode({"instance": device.iot_instance_id})
    return url


@require_GET
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def home(request: HtmxHttpRequest) -> HttpResponse:
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
            status = _iot_error_status(error)
    else:
        status = 400
    if request.htmx:
        return render(
            request, "devices/home.html#device-list", context, status=_status(request, status)
        )
    context.update(
        form=forms.DeviceLookupForm(request.GET), recent=recent_devices(user=request.user)
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
    context = {"device": ref, "view": None, "error": "", "error_code": "", "request_id": ""}
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
        status = _iot_error_status(error)
    template = "devices/device.html#certificate" if request.htmx else "devices/device.html"
    return render(request, template, context, status=_status(request, status))
