"""A device's private key: revealing it on the page, and downloading it inside a bundle.

The policy (permission, reason, re-authentication, passphrase) is ``key_access_authorize``'s;
these views map what it raises to responses.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from certadmin.accounts.reauth import reauth_is_fresh
from certadmin.audit.models import AuditAction
from certadmin.audit.services import AuditWriteError, request_context
from certadmin.devices import downloads, forms
from certadmin.devices.keys import (
    KeyAccessDenied,
    KeyAccessInvalid,
    KeyReleaseError,
    key_access_authorize,
    key_access_denied,
    key_reveal,
)
from certadmin.devices.views.common import (
    attachment,
    audit_unavailable_message,
    device_or_404,
    download_problem,
)
from certadmin.htmx import HtmxHttpRequest, page_or_partial
from certadmin.http.oversize import oversize_handler


def _oversize_refused(action: AuditAction):
    """An oversize key request (refused before any view could read it): recorded as a refused
    key access, without a byte of its body, and answered 413."""

    def refuse(request: HtmxHttpRequest, product_key: str, device_name: str) -> HttpResponse:
        form = forms.DeviceLookupForm.from_path(
            product_key, device_name, request.GET.get("instance", "")
        )
        if not form.is_valid():
            raise Http404
        device = form.device()
        if request.user.is_authenticated:
            size = request.META.get("CONTENT_LENGTH") or "unknown"
            key_access_denied(
                actor=request.user,
                device=device,
                context=request_context(request),
                action=action,
                why=f"request too large ({size} bytes)",
            )
        message = gettext(
            "The request was too large, so it was refused and recorded. "
            "A reason needs only a few sentences."
        )
        return download_problem(request, device, message, status=413)

    return refuse


@oversize_handler(_oversize_refused(AuditAction.KEY_REVEAL))
@require_POST
@vary_on_headers("HX-Request")
@sensitive_post_parameters("password")
@sensitive_variables("revealed")
def reveal(request: HtmxHttpRequest, product_key: str, device_name: str) -> HttpResponse:
    """Reveal a device's private key: permission, reason, fresh password; audited first."""
    device = device_or_404(request, product_key, device_name)
    form = forms.KeyAccessForm(request.POST)
    context = {
        "device": device,
        "form": form,
        "revealed": None,
        "error": "",
        "error_code": "",
        "request_id": "",
        "visible_seconds": settings.KEY_REVEAL_VISIBLE_SECONDS,
        # The browser's "Download key" names the file as the server's own key download does.
        "key_filename": downloads.private_key_filename(device),
    }
    status = 200
    try:
        key_access_authorize(
            request=request, device=device, action=AuditAction.KEY_REVEAL, form=form
        )
        context["revealed"] = key_reveal(
            actor=request.user,
            device=device,
            reason=form.cleaned_data["reason"],
            context=request_context(request),
        )
        context["form"] = forms.KeyAccessForm()
    except KeyAccessDenied as error:
        raise PermissionDenied(error.message) from None
    except KeyAccessInvalid:
        status = 400
    except KeyReleaseError as error:
        context.update(error=error.message, error_code=error.code, request_id=error.request_id)
        status = error.status
    except AuditWriteError:
        context["error"] = audit_unavailable_message()
        status = 503
    context["reauth_fresh"] = reauth_is_fresh(request)
    response = render(
        request,
        page_or_partial(request, "devices/reveal.html", "reveal-panel"),
        context,
        status=status,
    )
    add_never_cache_headers(response)
    return response


@oversize_handler(_oversize_refused(AuditAction.KEY_DOWNLOAD))
@require_POST
@sensitive_post_parameters("password", "passphrase", "passphrase_confirm")
@sensitive_variables("file")
def key_bundle_download(
    request: HtmxHttpRequest, product_key: str, device_name: str
) -> HttpResponse:
    """A download with the private key: PKCS#8 PEM, PKCS#12 or ZIP; audited like a reveal."""
    device = device_or_404(request, product_key, device_name)
    form = forms.KeyBundleForm(request.POST)
    try:
        key_access_authorize(
            request=request, device=device, action=AuditAction.KEY_DOWNLOAD, form=form
        )
        file = downloads.key_bundle_download(
            actor=request.user,
            device=device,
            kind=form.cleaned_data["format"],
            reason=form.cleaned_data["reason"],
            passphrase=form.cleaned_data["passphrase"],
            context=request_context(request),
        )
    except KeyAccessDenied as error:
        raise PermissionDenied(error.message) from None
    except KeyAccessInvalid:
        return download_problem(request, device, form.problem_summary(), status=400, form=form)
    except KeyReleaseError as error:
        return download_problem(
            request,
            device,
            error.message,
            code=error.code,
            request_id=error.request_id,
            status=error.status,
            form=forms.KeyBundleForm(initial={"format": form.cleaned_data["format"]}),
        )
    except AuditWriteError:
        return download_problem(request, device, audit_unavailable_message(), status=503)
    return attachment(file)
