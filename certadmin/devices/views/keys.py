"""A device's private key: revealing it on the page, and downloading it inside a bundle.

The device page asks for both with one form (``key_access``), the one way in. The policy
(permission, reason, re-authentication, passphrase) is ``key_access_authorize``'s; these views
map what it raises to responses.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from certadmin.accounts.reauth import reauth_is_fresh
from certadmin.accounts.roles import REVEAL_PRIVATE_KEY, VIEW_AUDIT_TRAIL
from certadmin.audit.models import AuditAction
from certadmin.audit.selectors import device_recent_reveals
from certadmin.audit.services import AuditWriteError, request_context
from certadmin.devices import downloads, forms
from certadmin.devices.key_release import (
    KeyAccessDenied,
    KeyAccessInvalid,
    KeyReleaseError,
    key_access_authorize,
    key_access_denied,
    key_custody,
    key_custody_blocks,
    key_reveal,
)
from certadmin.devices.live_lookups import retry_after_add
from certadmin.devices.views.common import (
    attachment,
    audit_unavailable_message,
    device_for_request,
    download_problem,
)
from certadmin.http.oversize import oversize_handler
from certadmin.web.htmx import HtmxHttpRequest, page_or_partial


def _oversize_refused(action: AuditAction):
    """An oversize key request (refused before any view could read it): recorded as a refused
    key access, without a byte of its body, and answered 413."""

    def refuse(request: HtmxHttpRequest, product_key: str, device_name: str) -> HttpResponse:
        # The query only: the oversize body is never read.
        device = device_for_request(request, product_key, device_name, query_only=True)
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


# The event the key form's htmx request answers with when a download may go ahead: the page
# then submits the same form natively, so the browser receives the file (htmx cannot save one).
DOWNLOAD_READY_EVENT = "key-download-ready"


@sensitive_variables("revealed", "file")
def _key_access(
    request: HtmxHttpRequest, product_key: str, device_name: str, form: forms.KeyActionForm
) -> HttpResponse:
    """Reveal the key, or hand out a download with it, as ``form`` asks; audited either way.

    A refused form comes back with its errors in place (the panel for htmx, the key page
    without JavaScript). An htmx request for a valid download is answered 204 with
    ``DOWNLOAD_READY_EVENT``: the page then posts the form natively for the file.
    """
    chosen = form.chosen_action()
    audit_action = AuditAction.KEY_REVEAL if chosen == "reveal" else AuditAction.KEY_DOWNLOAD
    device = device_for_request(request, product_key, device_name, key_action=audit_action)
    # Known now that the device is: the passphrase is judged against its names and the person.
    form.passphrase_context = downloads.passphrase_context(user=request.user, device=device)
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
        "recent_reveals": None,
        "key_custody": key_custody(user=request.user, device=device),
    }
    status = 200
    if request.user.has_perm(REVEAL_PRIVATE_KEY) and key_custody_blocks(context["key_custody"]):
        # Two-person approval is on for this account: the key leaves only through an approved
        # request (or break-glass), never through this form. Refused before any password or
        # passphrase is looked at, and recorded.
        key_access_denied(
            actor=request.user,
            device=device,
            context=request_context(request),
            action=audit_action,
            why="two-person approval required",
        )
        context["reauth_fresh"] = reauth_is_fresh(request)
        response = render(
            request,
            page_or_partial(request, "devices/reveal.html", "reveal-panel"),
            context,
            status=403,
        )
        add_never_cache_headers(response)
        return response
    try:
        key_access_authorize(request=request, device=device, action=audit_action, form=form)
        reason = form.cleaned_data["reason"]
        if chosen != "reveal":
            if request.htmx:
                response = HttpResponse(status=204)
                response["HX-Trigger"] = DOWNLOAD_READY_EVENT
                return response
            file = downloads.key_bundle_download(
                actor=request.user,
                device=device,
                kind=chosen,
                reason=reason,
                passphrase=form.cleaned_data["passphrase"],
                context=request_context(request),
            )
            return attachment(file)
        context["revealed"] = key_reveal(
            actor=request.user, device=device, reason=reason, context=request_context(request)
        )
        context["form"] = forms.KeyActionForm()
        # Without JavaScript, "Download key" downloads the key through the audited download,
        # for the reason just given.
        context["key_reason"] = reason
        # "Who has seen this key" on the page is updated by the same answer.
        context["recent_reveals"] = device_recent_reveals(device=device)
    except KeyAccessDenied as error:
        raise PermissionDenied(error.message) from None
    except KeyAccessInvalid:
        status = 400
    except KeyReleaseError as error:
        context.update(error=error.message, error_code=error.code, request_id=error.request_id)
        context["form"] = forms.KeyActionForm(initial={"action": chosen})
        status = error.status
    except AuditWriteError:
        context["error"] = audit_unavailable_message()
        context["form"] = forms.KeyActionForm(initial={"action": chosen})
        status = 503
    context["reauth_fresh"] = reauth_is_fresh(request)
    response = render(
        request,
        page_or_partial(request, "devices/reveal.html", "reveal-panel"),
        context,
        status=status,
    )
    add_never_cache_headers(response)
    return retry_after_add(response)


@oversize_handler(_oversize_refused(AuditAction.KEY_DOWNLOAD))
@require_POST
@vary_on_headers("HX-Request")
@sensitive_post_parameters("password", "passphrase", "passphrase_confirm")
def key_access(request: HtmxHttpRequest, product_key: str, device_name: str) -> HttpResponse:
    """The device page's one key form: reveal on the page, or one of the downloads."""
    return _key_access(request, product_key, device_name, forms.KeyActionForm(request.POST))


@require_GET
def key_seen(request: HtmxHttpRequest, product_key: str, device_name: str) -> HttpResponse:
    """The device page's "who has seen this key" block, refreshed after a key download."""
    if not (request.user.has_perm(REVEAL_PRIVATE_KEY) or request.user.has_perm(VIEW_AUDIT_TRAIL)):
        raise PermissionDenied
    device = device_for_request(request, product_key, device_name)
    recent = device_recent_reveals(device=device)
    response = render(
        request, "devices/device.html#key-seen", {"device": device, "recent_reveals": recent}
    )
    add_never_cache_headers(response)
    return response
