"""Changing routes and channels, each change audited before it takes effect (the record is
written first; if it cannot be, nothing changes). The audit detail names the route or channel
and what it was set to, never a channel's URL."""

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from certadmin.audit.models import AuditAction, AuditOutcome
from certadmin.audit.services import RequestContext, audit_record
from certadmin.findings.severity import SEVERITY_NAMES
from certadmin.notifications.channels import (
    CHANNEL_INVALID,
    CHANNEL_NO_KEY,
    CHANNEL_SCHEME,
    ChannelError,
    channel_url_check,
    channel_url_encrypt,
    channel_url_masked,
)
from certadmin.notifications.configuration import CHANNEL_SCHEMES
from certadmin.notifications.models import Channel, Route


class NotificationRefused(Exception):
    """The change is not made: ``message`` says why, for the person who asked."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def channel_error_message(error: ChannelError) -> str:
    """Why a channel URL cannot be used, in words that never repeat it."""
    if error.code == CHANNEL_NO_KEY:
        return _(
            "Channels cannot be stored here: CERTADMIN_NOTIFY_KEYS is not set. Set the channel "
            "in the environment instead (CERTADMIN_NOTIFY_CHANNEL_<NAME>)."
        )
    if error.code == CHANNEL_SCHEME:
        return _("Use an apprise URL of one of these services: %(schemes)s.") % {
            "schemes": ", ".join(f"{scheme}://" for scheme in sorted(CHANNEL_SCHEMES))
        }
    if error.code == CHANNEL_INVALID:
        return _("apprise cannot use this URL: check its form for the service.")
    return _("The stored channel cannot be read with the configured keys.")


def channel_save(*, actor, context: RequestContext, name: str, url: str) -> Channel:
    """Store a channel (or replace a stored channel's URL), encrypted, audited
    (``NOTIFICATION_CHANNEL_SET``). Raises ``NotificationRefused``."""
    if name in settings.NOTIFY_CHANNEL_SECRETS:
        raise NotificationRefused(_("A channel of this name is set in the environment."))
    try:
        scheme = channel_url_check(url)
        encrypted = channel_url_encrypt(url)
    except ChannelError as error:
        raise NotificationRefused(channel_error_message(error)) from None
    masked = channel_url_masked(url).removeprefix(f"{scheme}://")
    saved: list[Channel] = []

    def write(_event) -> None:
        channel, _created = Channel.objects.update_or_create(
            name=name,
            defaults={
                "url_encrypted": encrypted,
                "scheme": scheme,
                "host_masked": masked,
                "updated_at": timezone.now(),
                "updated_by_username": actor.get_username() if actor else "",
            },
        )
        saved.append(channel)

    audit_record(
        action=AuditAction.NOTIFICATION_CHANNEL_SET,
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        context=context,
        detail=f"{name}: {scheme}://{masked}",
        then=write,
    )
    return saved[0]


def channel_delete(*, actor, context: RequestContext, channel: Channel) -> None:
    """Remove a stored channel, audited; refused while a route sends to it."""
    used_by = list(Route.objects.filter(channel=channel.name).values_list("name", flat=True))
    if used_by:
        raise NotificationRefused(
            _("Routes still send to this channel: %(routes)s.") % {"routes": ", ".join(used_by)}
        )
    audit_record(
        action=AuditAction.NOTIFICATION_CHANNEL_DELETE,
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        context=context,
        detail=channel.name,
        then=lambda _event: Channel.objects.filter(pk=channel.pk).delete(),
    )


@dataclass(frozen=True)
class RouteFields:
    name: str
    account: str
    product_key: str
    min_severity: int
    channel: str
    language: str
    digest: bool
    enabled: bool
    custody: bool = True


def route_detail(fields: RouteFields) -> str:
    """A route as the audit trail records it: "ops: default/a1Demo7Sh2x ≥ high → dingtalk
    (zh-hans, digest)"."""
    scope = f"{fields.account}/{fields.product_key or '*'}"
    extras = [fields.language]
    if fields.digest:
        extras.append("digest")
    if not fields.custody:
        extras.append("no custody messages")
    if not fields.enabled:
        extras.append("disabled")
    text = (
        f"{fields.name}: {scope} ≥ {SEVERITY_NAMES[fields.min_severity]} → {fields.channel} "
        f"({', '.join(extras)})"
    )
    return text[:255]


def route_save(
    *, actor, context: RequestContext, fields: RouteFields, route: Route | None = None
) -> Route:
    """Create a route, or change ``route``, audited (``NOTIFICATION_ROUTE_SET``). The caller
    has checked that ``actor`` may use the account and that the channel exists. Raises
    ``NotificationRefused`` for a name another route has."""
    others = Route.objects.filter(name=fields.name)
    if route is not None:
        others = others.exclude(pk=route.pk)
    if others.exists():
        raise NotificationRefused(_("Another route has this name."))
    saved: list[Route] = []

    def write(_event) -> None:
        values = {
            **vars(fields),
            "updated_at": timezone.now(),
            "updated_by_username": actor.get_username() if actor else "",
        }
        if route is None:
            saved.append(Route.objects.create(**values))
        else:
            Route.objects.filter(pk=route.pk).update(**values)
            saved.append(Route.objects.get(pk=route.pk))

    audit_record(
        action=AuditAction.NOTIFICATION_ROUTE_SET,
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        context=context,
        detail=route_detail(fields),
        then=write,
    )
    return saved[0]


def route_delete(*, actor, context: RequestContext, route: Route) -> None:
    """Remove a route (and its record of what it sent), audited."""
    audit_record(
        action=AuditAction.NOTIFICATION_ROUTE_DELETE,
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        context=context,
        detail=route.name,
        then=lambda _event: Route.objects.filter(pk=route.pk).delete(),
    )
