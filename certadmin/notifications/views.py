"""The Notifications page (fleet managers): routes and channels, their changes and a route's
test message; and the demo inbox with its receiver (demo mode only)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from certadmin.accounts.api_accounts import accounts_for
from certadmin.accounts.roles import MANAGE_FLEET, VIEW_CERTIFICATES
from certadmin.audit.services import AuditWriteError, request_context
from certadmin.findings.severity import SEVERITY_NAMES
from certadmin.notifications.channels import channels_known
from certadmin.notifications.configuration import DEMO_CHANNEL, DEMO_INBOX_HEADER
from certadmin.notifications.demo_inbox import DemoInboxRefused, demo_inbox_store
from certadmin.notifications.dispatch import route_test_send
from certadmin.notifications.forms import ChannelForm, RouteForm
from certadmin.notifications.models import Channel
from certadmin.notifications.selectors import demo_inbox_messages, route_for, routes_visible
from certadmin.notifications.services import (
    NotificationRefused,
    channel_delete,
    channel_save,
    route_delete,
    route_save,
)
from certadmin.web.htmx import HtmxHttpRequest


def _not_recorded() -> str:
    return _("The change could not be recorded, so it was not made.")


def _route_form(request: HtmxHttpRequest, data=None, *, initial=None) -> RouteForm:
    return RouteForm(
        data,
        initial=initial,
        accounts=accounts_for(user=request.user),
        channels=[channel.name for channel in channels_known()],
    )


def _page(
    request: HtmxHttpRequest,
    *,
    route_form: RouteForm | None = None,
    channel_form: ChannelForm | None = None,
    editing=None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "routes": routes_visible(user=request.user),
        "channels": channels_known(),
        "route_form": route_form or _route_form(request),
        "channel_form": channel_form or ChannelForm(),
        "editing": editing,
        "demo_inbox": settings.DEMO_MODE,
    }
    return render(request, "notifications/routes.html", context, status=status)


@require_GET
@permission_required(MANAGE_FLEET, raise_exception=True)
def notification_routes(request: HtmxHttpRequest) -> HttpResponse:
    """Routes and channels; ``?route=<id>`` fills the form to edit that route."""
    editing = None
    route_form = None
    if request.GET.get("route", "").isdigit():
        editing = route_for(user=request.user, route_id=int(request.GET["route"]))
        if editing is None:
            raise Http404
        route_form = _route_form(
            request,
            initial={
                "name": editing.name,
                "account": editing.account,
                "product_key": editing.product_key,
                "min_severity": SEVERITY_NAMES[editing.min_severity],
                "channel": editing.channel,
                "language": editing.language,
                "digest": editing.digest,
                "enabled": editing.enabled,
                "custody": editing.custody,
            },
        )
    return _page(request, route_form=route_form, editing=editing)


@require_POST
@permission_required(MANAGE_FLEET, raise_exception=True)
def notification_route_save(request: HtmxHttpRequest) -> HttpResponse:
    """Create a route, or change the one named by ``route``; refused input changes nothing."""
    editing = None
    if request.POST.get("route", "").isdigit():
        editing = route_for(user=request.user, route_id=int(request.POST["route"]))
        if editing is None:
            raise Http404
    form = _route_form(request, request.POST)
    if form.is_valid():
        try:
            route = route_save(
                actor=request.user,
                context=request_context(request),
                fields=form.route_fields(),
                route=editing,
            )
        except NotificationRefused as refused:
            form.add_error(None, refused.message)
        except AuditWriteError:
            form.add_error(None, _not_recorded())
        else:
            messages.success(request, _("Route %(name)s saved.") % {"name": route.name})
            return redirect(reverse("notifications:routes"))
    return _page(request, route_form=form, editing=editing, status=400)


def _route_or_404(request: HtmxHttpRequest, route_id: int):
    route = route_for(user=request.user, route_id=route_id)
    if route is None:
        raise Http404
    return route


@require_POST
@permission_required(MANAGE_FLEET, raise_exception=True)
def notification_route_remove(request: HtmxHttpRequest, route_id: int) -> HttpResponse:
    route = _route_or_404(request, route_id)
    try:
        route_delete(actor=request.user, context=request_context(request), route=route)
    except AuditWriteError:
        messages.error(request, _not_recorded())
    else:
        messages.success(request, _("Route %(name)s removed.") % {"name": route.name})
    return redirect(reverse("notifications:routes"))


@require_POST
@permission_required(MANAGE_FLEET, raise_exception=True)
def notification_route_test(request: HtmxHttpRequest, route_id: int) -> HttpResponse:
    """Send the route's test message now (the one send inside a request), audited."""
    route = _route_or_404(request, route_id)
    try:
        sent = route_test_send(route=route, actor=request.user, context=request_context(request))
    except AuditWriteError:
        messages.error(request, _("The test message could not be recorded in the audit trail."))
    else:
        if sent:
            messages.success(
                request, _("Test message sent to channel %(channel)s.") % {"channel": route.channel}
            )
        else:
            messages.error(
                request,
                _("Channel %(channel)s did not take the test message.")
                % {"channel": route.channel},
            )
    return redirect(reverse("notifications:routes"))


@require_POST
@permission_required(MANAGE_FLEET, raise_exception=True)
def notification_channel_save(request: HtmxHttpRequest) -> HttpResponse:
    """Store a channel (its URL encrypted) or replace a stored channel's URL."""
    form = ChannelForm(request.POST)
    if form.is_valid():
        try:
            channel = channel_save(
                actor=request.user,
                context=request_context(request),
                name=form.cleaned_data["name"],
                url=form.cleaned_data["url"],
            )
        except NotificationRefused as refused:
            form.add_error(None, refused.message)
        except AuditWriteError:
            form.add_error(None, _not_recorded())
        else:
            messages.success(request, _("Channel %(name)s saved.") % {"name": channel.name})
            return redirect(reverse("notifications:routes"))
    return _page(request, channel_form=form, status=400)


@require_POST
@permission_required(MANAGE_FLEET, raise_exception=True)
def notification_channel_remove(request: HtmxHttpRequest, channel_id: int) -> HttpResponse:
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None:
        raise Http404
    try:
        channel_delete(actor=request.user, context=request_context(request), channel=channel)
    except NotificationRefused as refused:
        messages.error(request, refused.message)
    except AuditWriteError:
        messages.error(request, _not_recorded())
    else:
        messages.success(request, _("Channel %(name)s removed.") % {"name": channel.name})
    return redirect(reverse("notifications:routes"))


@require_GET
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def demo_inbox(request: HtmxHttpRequest) -> HttpResponse:
    """What the demo channel received (demo mode only)."""
    if not settings.DEMO_MODE:
        raise Http404
    context = {"inbox": demo_inbox_messages(), "channel": DEMO_CHANNEL}
    return render(request, "notifications/demo_inbox.html", context)


@login_not_required
@csrf_exempt  # apprise posts here, with the demo channel's token instead of a session
@require_POST
def demo_inbox_receive(request: HttpRequest) -> HttpResponse:
    try:
        demo_inbox_store(token=request.headers.get(DEMO_INBOX_HEADER, ""), body=request.body)
    except DemoInboxRefused as refused:
        return HttpResponse(status=refused.status)
    return HttpResponse(status=204)
