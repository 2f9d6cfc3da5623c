"""Key custody pages: requests and approvals, break-glass and its review, hand-over links.

Views parse, call one service, render. Every key-bearing step passes devices'
``key_access_authorize`` (permission, reason, re-authentication, passphrase) first.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from certadmin.accounts.api_accounts import account_allowed
from certadmin.accounts.reauth import reauth_confirm, reauth_is_fresh
from certadmin.accounts.roles import APPROVE_KEY_RELEASE, REVEAL_PRIVATE_KEY, VIEW_AUDIT_TRAIL
from certadmin.audit.models import AuditAction
from certadmin.audit.reasons import KeyAccessForm
from certadmin.audit.services import AuditWriteError, request_context
from certadmin.custody import selectors, services
from certadmin.custody.forms import (
    BreakGlassForm,
    DecisionForm,
    HandOverForm,
    KeyRequestForm,
    PasswordForm,
    ReviewForm,
)
from certadmin.custody.models import BreakGlass, KeyRequest
from certadmin.devices import downloads
from certadmin.devices.forms import KeyActionForm
from certadmin.devices.key_release import (
    KeyAccessDenied,
    KeyAccessInvalid,
    KeyReleaseError,
    RevealedKey,
    key_access_authorize,
    key_access_denied,
)
from certadmin.devices.views.common import attachment, audit_unavailable_message, device_for_request
from certadmin.web.htmx import HtmxHttpRequest

SENSITIVE = ("password", "passphrase", "passphrase_confirm", "token")


def _page(request, template: str, context: dict, *, status: int = 200) -> HttpResponse:
    shared = {
        "reauth_fresh": reauth_is_fresh(request),
        "visible_seconds": settings.KEY_REVEAL_VISIBLE_SECONDS,
    }
    response = render(request, template, {**shared, **context}, status=status)
    add_never_cache_headers(response)
    return response


def _action_of(kind: str) -> AuditAction:
    return AuditAction.KEY_REVEAL if kind == "reveal" else AuditAction.KEY_DOWNLOAD


@require_GET
def overview(request: HtmxHttpRequest) -> HttpResponse:
    """What waits for the person: notices, hand-overs, their requests, requests to decide,
    break-glass releases to review (each section for those it concerns)."""
    user = request.user
    services.key_requests_expire()
    context = {
        "notices": selectors.notices_for(user=user),
        "handovers": selectors.handovers_of(user=user),
        "my_requests": selectors.requests_of(user=user)
        if user.has_perm(REVEAL_PRIVATE_KEY)
        else None,
        "to_decide": list(selectors.requests_waiting_for(user=user))
        if user.has_perm(APPROVE_KEY_RELEASE)
        else None,
        "decided": selectors.requests_decided_by(user=user)
        if user.has_perm(APPROVE_KEY_RELEASE)
        else None,
        # One review form per release, each with ids of its own.
        "unreviewed": [
            (item, ReviewForm(auto_id=f"id_review_{item.pk}_%s"))
            for item in selectors.break_glass_unreviewed()
        ]
        if user.has_perm(VIEW_AUDIT_TRAIL)
        else None,
        "reviewed": selectors.break_glass_reviewed() if user.has_perm(VIEW_AUDIT_TRAIL) else None,
    }
    return _page(request, "custody/overview.html", context)


@require_POST
@permission_required(REVEAL_PRIVATE_KEY, raise_exception=True)
def request_create(request: HtmxHttpRequest, product_key: str, device_name: str) -> HttpResponse:
    """A custodian asks the approvers for a device's key."""
    device = device_for_request(request, product_key, device_name)
    form = KeyRequestForm(request.POST)
    if not form.is_valid():
        return _page(
            request, "custody/request_new.html", {"device": device, "form": form}, status=400
        )
    data = form.cleaned_data
    try:
        key_request = services.key_request_create(
            actor=request.user,
            device=device,
            action=data["action"],
            reason=data["reason"],
            ticket=data["ticket"],
            recipient=data["recipient"],
            delivery=data["delivery"],
            context=request_context(request),
        )
    except services.CustodyRefused as refused:
        form.add_error(None, refused.message)
        return _page(
            request,
            "custody/request_new.html",
            {"device": device, "form": form},
            status=refused.status,
        )
    except AuditWriteError:
        form.add_error(None, audit_unavailable_message())
        return _page(
            request, "custody/request_new.html", {"device": device, "form": form}, status=503
        )
    messages.success(request, gettext("Your request is waiting for approval."))
    return redirect("custody:request", key_request.pk)


def _request_for(request: HtmxHttpRequest, pk: int) -> KeyRequest:
    """The request, for its requester, approvers and auditors; a 404 for anyone else."""
    key_request = get_object_or_404(
        KeyRequest.objects.select_related("requester", "recipient"), pk=pk
    )
    user = request.user
    if key_request.requester_id == user.pk:
        return key_request
    # Approvers and auditors see the requests of the API accounts they may use, no others.
    if not (user.has_perm(APPROVE_KEY_RELEASE) or user.has_perm(VIEW_AUDIT_TRAIL)) or not (
        account_allowed(user=user, account=key_request.account)
    ):
        raise Http404
    return key_request


def _use_form(key_request: KeyRequest, data=None, *, user=None) -> KeyAccessForm:
    """The form that uses an approved request: the request's own action and reason, and what
    is asked at use (the password when stale, the file's passphrase)."""
    if key_request.action == "handover":
        fixed = {"reason": key_request.reason}
        return KeyAccessForm({**data.dict(), **fixed} if data is not None else None)
    fixed = {"action": key_request.action, "reason": key_request.reason}
    form = KeyActionForm({**data.dict(), **fixed} if data is not None else None)
    if user is not None:
        form.passphrase_context = downloads.passphrase_context(user=user, device=key_request.device)
    return form


def _request_page(request, key_request: KeyRequest, *, status: int = 200, **extra) -> HttpResponse:
    user = request.user
    context = {
        "key_request": key_request,
        "decisions": list(key_request.decisions.all()),
        "may_decide": user.has_perm(APPROVE_KEY_RELEASE)
        and key_request.requester_id != user.pk
        and key_request.state == KeyRequest.State.PENDING
        and not key_request.decisions.filter(approver=user).exists(),
        "usable": services.key_request_usable(actor=user, key_request=key_request),
        "decision_form": DecisionForm(),
        "use_form": _use_form(key_request),
        **extra,
    }
    return _page(request, "custody/request.html", context, status=status)


@require_GET
def request_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    services.key_requests_expire()
    return _request_page(request, _request_for(request, pk))


@require_POST
@permission_required(APPROVE_KEY_RELEASE, raise_exception=True)
def request_decide(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """An approver approves or refuses, with a reason of their own."""
    services.key_requests_expire()
    key_request = _request_for(request, pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _request_page(request, key_request, status=400, decision_form=form)
    try:
        services.key_request_decide(
            actor=request.user,
            key_request=key_request,
            approve=form.cleaned_data["decision"] == "approve",
            reason=form.cleaned_data["reason"],
            context=request_context(request),
        )
    except services.CustodyRefused as refused:
        return _request_page(request, key_request, status=refused.status, problem=refused.message)
    except AuditWriteError:
        return _request_page(request, key_request, status=503, problem=audit_unavailable_message())
    messages.success(request, gettext("Your decision was recorded."))
    return redirect("custody:request", key_request.pk)


@require_POST
@sensitive_post_parameters(*SENSITIVE)
@sensitive_variables("released", "made")
def request_use(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The requester uses an approved request: the key released as asked, or a hand-over link
    made. Re-authenticated, once, within the approval's time."""
    services.key_requests_expire()
    key_request = _request_for(request, pk)
    user = request.user
    handover = key_request.action == "handover"
    audit_action = AuditAction.HANDOVER_CREATE if handover else _action_of(key_request.action)
    context = request_context(request)
    if not services.key_request_usable(actor=user, key_request=key_request):
        refused = services.key_request_refuse_use(
            actor=user, key_request=key_request, action=audit_action, context=context
        )
        return _request_page(request, key_request, status=refused.status, problem=refused.message)
    form = _use_form(key_request, request.POST, user=user)
    try:
        key_access_authorize(
            request=request, device=key_request.device, action=audit_action, form=form
        )
        if handover:
            made = services.handover_create(
                actor=user,
                device=key_request.device,
                recipient=key_request.recipient,
                delivery=key_request.delivery,
                reason=key_request.reason,
                ticket=key_request.ticket,
                context=context,
                key_request=key_request,
            )
            return _handover_made(request, made)
        released = services.key_request_release(
            actor=user,
            key_request=key_request,
            passphrase=form.cleaned_data.get("passphrase", ""),
            context=context,
        )
    except KeyAccessDenied as error:
        raise PermissionDenied(error.message) from None
    except KeyAccessInvalid:
        return _request_page(request, key_request, status=400, use_form=form)
    except (services.CustodyRefused, KeyReleaseError) as refused:
        key_request.refresh_from_db()
        return _request_page(request, key_request, status=refused.status, problem=refused.message)
    except AuditWriteError:
        return _request_page(request, key_request, status=503, problem=audit_unavailable_message())
    if isinstance(released, RevealedKey):
        return _page(
            request,
            "custody/revealed.html",
            {"device": key_request.device, "revealed": released},
        )
    return attachment(released)


@require_http_methods(["GET", "POST"])
@permission_required(REVEAL_PRIVATE_KEY, raise_exception=True)
@sensitive_post_parameters(*SENSITIVE)
@sensitive_variables("released")
def break_glass(request: HtmxHttpRequest, product_key: str, device_name: str) -> HttpResponse:
    """A custodian releases a key alone where approvals are required: a ticket and a fuller
    reason, and an auditor reviews it afterwards."""
    if request.method == "GET":
        device = device_for_request(request, product_key, device_name)
        return _page(
            request, "custody/break_glass.html", {"device": device, "form": BreakGlassForm()}
        )
    form = BreakGlassForm(request.POST)
    kind = form.chosen_action()
    device = device_for_request(request, product_key, device_name, key_action=_action_of(kind))
    form.passphrase_context = downloads.passphrase_context(user=request.user, device=device)
    context = {"device": device, "form": form}
    try:
        key_access_authorize(request=request, device=device, action=_action_of(kind), form=form)
        released = services.break_glass_release(
            actor=request.user,
            device=device,
            kind=form.cleaned_data["action"],
            reason=form.cleaned_data["reason"],
            ticket=form.cleaned_data["ticket"],
            passphrase=form.cleaned_data.get("passphrase", ""),
            context=request_context(request),
        )
    except KeyAccessDenied as error:
        raise PermissionDenied(error.message) from None
    except KeyAccessInvalid:
        return _page(request, "custody/break_glass.html", context, status=400)
    except (services.CustodyRefused, KeyReleaseError) as refused:
        return _page(
            request,
            "custody/break_glass.html",
            {**context, "problem": refused.message},
            status=refused.status,
        )
    except AuditWriteError:
        return _page(
            request,
            "custody/break_glass.html",
            {**context, "problem": audit_unavailable_message()},
            status=503,
        )
    if isinstance(released, RevealedKey):
        return _page(
            request,
            "custody/revealed.html",
            {"device": device, "revealed": released, "break_glass": True},
        )
    return attachment(released)


@require_POST
@permission_required(VIEW_AUDIT_TRAIL, raise_exception=True)
def break_glass_review(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """An auditor reviews a break-glass release."""
    item = get_object_or_404(BreakGlass, pk=pk)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("note", [])))
        return redirect("custody:overview")
    try:
        services.break_glass_review(
            actor=request.user,
            break_glass=item,
            note=form.cleaned_data["note"],
            context=request_context(request),
        )
    except services.CustodyRefused as refused:
        messages.error(request, refused.message)
        return redirect("custody:overview")
    except AuditWriteError:
        messages.error(request, audit_unavailable_message())
        return redirect("custody:overview")
    messages.success(request, gettext("Your review was recorded."))
    return redirect("custody:overview")


@sensitive_variables("made")
def _handover_made(request, made: services.HandOverMade) -> HttpResponse:
    # The link is shown here once: it is not kept (only its hash), so not in a redirect either.
    link = request.build_absolute_uri(f"{_open_path()}?token={made.token}")
    return _page(request, "custody/handover_made.html", {"handover": made.handover, "link": link})


def _open_path() -> str:
    return reverse("custody:handover-open")


@require_http_methods(["GET", "POST"])
@permission_required(REVEAL_PRIVATE_KEY, raise_exception=True)
@sensitive_post_parameters(*SENSITIVE)
def handover_new(request: HtmxHttpRequest, product_key: str, device_name: str) -> HttpResponse:
    """A custodian makes a one-time link that gives a named person the key (where no approval
    is required; otherwise through an approved request)."""
    device = device_for_request(
        request, product_key, device_name, key_action=AuditAction.HANDOVER_CREATE
    )
    if request.method == "GET":
        return _page(
            request, "custody/handover_new.html", {"device": device, "form": HandOverForm()}
        )
    form = HandOverForm(request.POST)
    context = {"device": device, "form": form}
    try:
        key_access_authorize(
            request=request, device=device, action=AuditAction.HANDOVER_CREATE, form=form
        )
        made = services.handover_create(
            actor=request.user,
            device=device,
            recipient=form.cleaned_data["recipient"],
            delivery=form.cleaned_data["delivery"],
            reason=form.cleaned_data["reason"],
            ticket=form.cleaned_data["ticket"],
            context=request_context(request),
        )
    except KeyAccessDenied as error:
        raise PermissionDenied(error.message) from None
    except KeyAccessInvalid:
        return _page(request, "custody/handover_new.html", context, status=400)
    except services.CustodyRefused as refused:
        return _page(
            request,
            "custody/handover_new.html",
            {**context, "problem": refused.message},
            status=refused.status,
        )
    except AuditWriteError:
        return _page(
            request,
            "custody/handover_new.html",
            {**context, "problem": audit_unavailable_message()},
            status=503,
        )
    return _handover_made(request, made)


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters(*SENSITIVE)
@sensitive_variables("token", "step", "released")
def handover_open(request: HtmxHttpRequest) -> HttpResponse:
    """The recipient's side of a link: who sent what (GET), then, with their password, the key
    on the page or the PKCS#12 passphrase screen (POST). Opening the page uses nothing, so a
    link preview cannot spend the link."""
    token = (
        request.POST.get("token", "") if request.method == "POST" else request.GET.get("token", "")
    )
    handover = services.handover_find(token)
    if handover is None:
        return _page(
            request,
            "custody/handover_open.html",
            {"problem": gettext("This link is not known. Check that it was copied whole.")},
            status=404,
        )
    context = request_context(request)
    try:
        services.handover_admit(actor=request.user, handover=handover, context=context)
    except services.CustodyRefused as refused:
        return _page(
            request,
            "custody/handover_open.html",
            {"problem": refused.message},
            status=refused.status,
        )
    page = {"handover": handover, "token": token, "form": PasswordForm()}
    if request.method == "GET":
        return _page(request, "custody/handover_open.html", page)
    form = PasswordForm(request.POST)
    page["form"] = form
    if not reauth_is_fresh(request):
        password = form.data.get("password", "")
        if not reauth_confirm(request=request, password=password):
            key_access_denied(
                actor=request.user,
                device=handover.device,
                context=context,
                action=AuditAction.HANDOVER_OPEN,
                why="re-authentication failed" if password else "re-authentication required",
            )
            form.is_valid()
            form.add_error(
                "password",
                gettext("That password is not correct.")
                if password
                else gettext("Enter your password to confirm it is you."),
            )
            return _page(request, "custody/handover_open.html", page, status=400)
    try:
        step = services.handover_open(actor=request.user, handover=handover, context=context)
    except (services.CustodyRefused, KeyReleaseError) as refused:
        return _page(
            request,
            "custody/handover_open.html",
            {**page, "problem": refused.message},
            status=refused.status,
        )
    except AuditWriteError:
        return _page(
            request,
            "custody/handover_open.html",
            {**page, "problem": audit_unavailable_message()},
            status=503,
        )
    if isinstance(step, RevealedKey):
        return _page(
            request,
            "custody/revealed.html",
            {"device": handover.device, "revealed": step, "handover": handover},
        )
    return _page(request, "custody/handover_passphrase.html", {"handover": handover, "step": step})


@require_POST
@sensitive_post_parameters(*SENSITIVE)
@sensitive_variables("token", "file")
def handover_download(request: HtmxHttpRequest) -> HttpResponse:
    """The PKCS#12 file of an opened hand-over, once."""
    token = request.POST.get("token", "")
    try:
        file = services.handover_download(
            actor=request.user, token=token, context=request_context(request)
        )
    except (services.CustodyRefused, KeyReleaseError) as refused:
        return _page(
            request,
            "custody/handover_open.html",
            {"problem": refused.message},
            status=refused.status,
        )
    except AuditWriteError:
        return _page(
            request,
            "custody/handover_open.html",
            {"problem": audit_unavailable_message()},
            status=503,
        )
    return attachment(file)


@require_POST
def notice_dismiss(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    services.notice_dismiss(user=request.user, notice_id=pk)
    return redirect("custody:overview")
