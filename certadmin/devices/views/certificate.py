"""A device's certificate: the page that shows it, and downloading it (PEM, DER, chain)."""

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import get_language
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from certadmin.accounts.api_accounts import iot_account
from certadmin.accounts.reauth import reauth_is_fresh
from certadmin.accounts.roles import REVEAL_PRIVATE_KEY, VIEW_AUDIT_TRAIL, VIEW_CERTIFICATES
from certadmin.audit.selectors import device_recent_reveals
from certadmin.audit.services import AuditWriteError, request_context
from certadmin.devices import downloads, forms
from certadmin.devices.downloads import CERTIFICATE_FORMATS, DownloadUnavailable
from certadmin.devices.key_release import key_custody
from certadmin.devices.live_lookups import retry_after_add
from certadmin.devices.platform import ca_bundle, describe_iot_error, iot_error_status
from certadmin.devices.selectors import device_context, device_findings, product_suggestions
from certadmin.devices.services import (
    CertificateView,
    certificate_lookup,
    device_presence_lookup,
    device_query,
)
from certadmin.devices.views.common import (
    DeviceNotCanonical,
    attachment,
    audit_unavailable_message,
    device_for_request,
    download_problem,
)
from certadmin.devices.views.search import (
    PRODUCT_NOT_FOUND,
    device_url,
    product_elsewhere,
    search_page,
)
from certadmin.iot.errors import IotError
from certadmin.iot.identity import DeviceRef
from certadmin.web.fragments import KeptHtml
from certadmin.web.htmx import HtmxHttpRequest, page_or_partial

INSTANCE_NOT_FOUND = "iot.system.InstanceNotFound"


@require_GET
@vary_on_headers("HX-Request")
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def device(request: HtmxHttpRequest, product_key: str, device_name: str) -> HttpResponse:
    """A device's certificate: status, every decoded detail, chain, key check."""
    try:
        ref = device_for_request(request, product_key, device_name)
    except DeviceNotCanonical as refused:
        # The page a person types names on: the search form says what is wrong with them.
        return search_page(request, refused.form, status=400)
    can_reveal = request.user.has_perm(REVEAL_PRIVATE_KEY)
    context = {
        "device": ref,
        "device_query": device_query(ref),
        # Named on the page only when there is more than one account to tell apart.
        "account_label": iot_account(ref.account).display_name
        if len(settings.IOT_ACCOUNTS) > 1
        else "",
        "view": None,
        "error": "",
        "error_code": "",
        "request_id": "",
        "can_reveal": can_reveal,
        "key_form": forms.KeyActionForm() if can_reveal else None,
        # Two-person approval, break-glass and hand-over links (the custody app), if any.
        "key_custody": key_custody(user=request.user, device=ref) if can_reveal else None,
        "reauth_fresh": reauth_is_fresh(request),
        "ca_bundle_problem": ca_bundle().problem,
        "presence": None,
        "device_context": None,
        "findings": device_findings(device=ref),
        "recent_reveals": device_recent_reveals(device=ref)
        if can_reveal or request.user.has_perm(VIEW_AUDIT_TRAIL)
        else None,
    }
    status = 200
    refresh = request.GET.get("refresh") == "1"
    try:
        context["view"] = certificate_lookup(device=ref, user=request.user, refresh=refresh)
        # Asked beside the certificate (the status changes by the minute: an answer is reused
        # for seconds, a refresh asks again); its failure only makes the status unknown.
        context["presence"] = device_presence_lookup(device=ref, refresh=refresh)
        context["device_context"] = device_context(device=ref, served=context["view"].record)
    except IotError as error:
        context.update(
            error=describe_iot_error(
                error, product_key=ref.product_key, device_name=ref.device_name
            ),
            error_code=error.code,
            request_id=error.request_id,
        )
        if error.code == INSTANCE_NOT_FOUND:
            # Not a dead end: the page asks for the IotInstanceId and tries again with it.
            context["instance_form"] = forms.InstanceRetryForm(
                initial={"instance": ref.iot_instance_id},
                instances=product_suggestions(user=request.user).instances,
            )
        elif error.code == PRODUCT_NOT_FOUND:
            context["elsewhere"] = product_elsewhere(
                request,
                product_key=ref.product_key,
                iot_instance_id=ref.iot_instance_id,
                account=ref.account,
                url_in=lambda account: device_url(
                    DeviceRef(ref.product_key, ref.device_name, ref.iot_instance_id, account)
                ),
            )
        status = iot_error_status(error)
    if context["view"] is not None:
        context["details_html"] = _certificate_details_html(context["view"])
    template = page_or_partial(request, "devices/device.html", "certificate")
    return retry_after_add(render(request, template, context, status=status))


# The certificate's names, details and extensions as the page writes them: the same for every
# view of one certificate in one language and time zone (~150 template nodes, a fifth of the
# page's rendering). Public certificate data only.
_details_written = KeptHtml(kept=256)


def _certificate_details_html(view: CertificateView) -> SafeString:
    details = view.decoded.details if view.decoded else None
    if details is None:
        return SafeString("")
    return _details_written.get_or_write(
        (
            details.sha256_fingerprint,
            view.cert_sn,
            get_language(),
            timezone.get_current_timezone_name(),
        ),
        lambda: render_to_string("devices/certificate_details.html", {"d": details, "view": view}),
    )


@require_GET
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def certificate_download(
    request: HtmxHttpRequest, product_key: str, device_name: str, kind: str
) -> HttpResponse:
    """The certificate alone, as PEM, DER or PEM chain (recorded as a certificate download)."""
    if kind not in CERTIFICATE_FORMATS:
        raise Http404
    device = device_for_request(request, product_key, device_name)
    try:
        file = downloads.certificate_download(
            actor=request.user, device=device, kind=kind, context=request_context(request)
        )
    except DownloadUnavailable as error:
        return download_problem(request, device, error.message, status=409)
    except IotError as error:
        return retry_after_add(
            download_problem(
                request,
                device,
                describe_iot_error(
                    error, product_key=device.product_key, device_name=device.device_name
                ),
                code=error.code,
                request_id=error.request_id,
                status=iot_error_status(error),
            )
        )
    except AuditWriteError:
        return download_problem(request, device, audit_unavailable_message(), status=503)
    return attachment(file)
