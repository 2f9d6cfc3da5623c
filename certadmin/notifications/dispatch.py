"""Sending: each route's key custody messages and new and escalated findings, the daily
digest, and a route's test message. Every send, and every failed send, is an audit event
(``NOTIFICATION_SEND``, or ``NOTIFICATION_TEST`` for the button), whose detail names the route
and the channel, never the channel's URL.

A finding is announced once per threshold on each route: its severity and, for an expiring
certificate, its window (30, 14, 7, 1 days). ``Delivery`` records what each route announced;
a finding whose threshold is above everything announced for it (new, or escalated) is announced
again, one below (its severity fell) is not. A failed send records nothing, so the next
dispatch tries again; the route's other messages wait for it too (a channel that is down is
not hammered). One dispatch at a time per route (a lease on the route row), so two workers
never announce the same thing twice. A worker killed between a send and its record may repeat
that one message: at least once, never lost.

Key custody's events (``custody_event_queue``) are kept as ``CustodyMessage`` rows for every
enabled route of the device's account that takes them, and sent by the route's next dispatch,
before its findings: a failed one is audited and waits, with everything after it, for the
dispatch after, as a finding does.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation

from certadmin.audit.models import AuditAction, AuditOutcome
from certadmin.audit.services import AuditWriteError, RequestContext, audit_record
from certadmin.custody import observers
from certadmin.devices.models import CertificateRecord
from certadmin.findings.models import OPEN_Q, Finding
from certadmin.findings.severity import SEVERITY_NAMES
from certadmin.iot.identity import DeviceRef
from certadmin.notifications.channels import channel_send
from certadmin.notifications.messages import (
    DIGEST_TOP,
    CertificateFacts,
    Message,
    custody_message,
    digest_message,
    finding_message,
    route_test_message,
    summary_message,
)
from certadmin.notifications.models import CustodyMessage, Delivery, DigestDelivery, Route

logger = logging.getLogger(__name__)

# How long one dispatch may hold a route: past it, a killed worker's hold lapses.
ROUTE_LEASE = timedelta(minutes=10)
RISK_ORDER = ("-severity", "-device_rank", "first_seen", "pk")
# What the audit trail records as the client of a send no person asked for.
NOTIFIER_CONTEXT = RequestContext(ip_address=None, user_agent="certadmin notifications")
ID_BATCH = 900
# The custody events a route announces, and how the audit trail names each send. (A hand-over
# link's making is not announced: the recipient hears of it from its maker.)
CUSTODY_SENT = {
    observers.REQUEST_MADE: "key request {number}",
    observers.REQUEST_APPROVED: "key request {number} approved",
    observers.REQUEST_REFUSED: "key request {number} refused",
    observers.BREAK_GLASS: "break-glass {number}, review required",
    observers.HANDOVER_INTERCEPTION: "hand-over {number}, possible interception",
}


@dataclass
class DispatchSummary:
    routes: int = 0
    sent: int = 0
    failed: int = 0
    summarised: int = 0
    busy: int = 0


def route_findings(route: Route, *, now: datetime) -> QuerySet[Finding]:
    """The open findings nobody suppressed that ``route`` covers, the riskiest first: its
    account's (one product's, or every product's and the CA bundle's), at or above its
    minimum severity."""
    scope = Q(account=route.account)
    if route.product_key:
        scope &= Q(product_key=route.product_key)
    else:
        scope |= Q(account="", product_key="")
    return (
        Finding.objects.filter(OPEN_Q, scope, severity__gte=route.min_severity)
        .exclude(suppressed_until__gt=now)
        .order_by(*RISK_ORDER)
    )


def _threshold(severity: int, window_days: int | None) -> tuple[int, int]:
    # Higher is worse: a worse severity, then a tighter window (no window: the widest).
    return (severity, -(window_days or 100_000))


def _announced(route: Route, finding_ids: list[int]) -> dict[int, tuple[int, int]]:
    """For each finding the route has announced, the highest threshold it announced."""
    highest: dict[int, tuple[int, int]] = {}
    for start in range(0, len(finding_ids), ID_BATCH):
        rows = Delivery.objects.filter(
            route=route, finding_id__in=finding_ids[start : start + ID_BATCH]
        ).values_list("finding_id", "severity", "window_days")
        for finding_id, severity, window in rows:
            threshold = _threshold(severity, window)
            if finding_id not in highest or threshold > highest[finding_id]:
                highest[finding_id] = threshold
    return highest


def _announced_severity(route: Route, finding: Finding) -> int | None:
    return (
        Delivery.objects.filter(route=route, finding=finding)
        .order_by("-severity")
        .values_list("severity", flat=True)
        .first()
    )


def route_due(route: Route, *, now: datetime) -> list[Finding]:
    """The route's findings to announce now: new to it, or past every threshold announced."""
    findings = list(route_findings(route, now=now))
    announced = _announced(route, [f.pk for f in findings])
    return [
        f
        for f in findings
        if f.pk not in announced or _threshold(f.severity, f.window_days) > announced[f.pk]
    ]


def certificate_facts(findings: list[Finding]) -> dict[int, CertificateFacts]:
    """The inventory's serial, fingerprint and notAfter of each finding's device."""
    facts: dict[int, CertificateFacts] = {}
    for finding in findings:
        if not finding.device_name:
            continue
        row = (
            CertificateRecord.objects.filter(
                account=finding.account,
                product_key=finding.product_key,
                iot_instance_id=finding.iot_instance_id,
                device_name=finding.device_name,
            )
            .values_list("serial", "sha256_fingerprint", "not_after")
            .first()
        )
        if row:
            facts[finding.pk] = CertificateFacts(*row)
    return facts


def _device(finding: Finding) -> DeviceRef | None:
    if not finding.product_key:
        return None
    return DeviceRef(
        product_key=finding.product_key,
        device_name=finding.device_name,
        iot_instance_id=finding.iot_instance_id,
        account=finding.account,
    )


def _route_detail(route: Route, what: str) -> str:
    # Route and channel by name (never the channel's URL), then what was sent.
    return f"{route.name} → {route.channel}: {what}"[:255]


def _send_audited(
    route: Route,
    message: Message,
    *,
    what: str,
    device: DeviceRef | None = None,
    certificate_sha256: str = "",
) -> bool:
    """Send ``message`` on the route and record the send, or the failed send, as
    ``NOTIFICATION_SEND`` ("``what``" or "``what``, failed"); whether the channel took it. A
    record that cannot be written is logged, never raised: the message has gone."""
    sent = channel_send(channel=route.channel, title=message.title, body=message.body)
    try:
        audit_record(
            action=AuditAction.NOTIFICATION_SEND,
            outcome=AuditOutcome.SUCCESS if sent else AuditOutcome.FAILED,
            actor=None,
            context=NOTIFIER_CONTEXT,
            device=device,
            certificate_sha256=certificate_sha256,
            detail=_route_detail(route, what if sent else f"{what}, failed"),
        )
    except AuditWriteError:
        logger.error("notification on route %s sent but not audited", route.name)
    return sent


def _record(route: Route, findings: list[Finding], *, now: datetime, in_summary: bool) -> None:
    for finding in findings:
        try:
            with transaction.atomic():
                Delivery.objects.create(
                    route=route,
                    finding=finding,
                    severity=finding.severity,
                    window_days=finding.window_days or 0,
                    sent_at=now,
                    in_summary=in_summary,
                )
        except IntegrityError:
            # Announced at this threshold before (and escalated since, then back): kept.
            continue


def _route_hold(route: Route, *, now: datetime) -> bool:
    free = Q(dispatching_until__isnull=True) | Q(dispatching_until__lt=now)
    return bool(Route.objects.filter(free, pk=route.pk).update(dispatching_until=now + ROUTE_LEASE))


def _route_release(route: Route) -> None:
    Route.objects.filter(pk=route.pk).update(dispatching_until=None)


def notifications_dispatch(*, now: datetime | None = None) -> DispatchSummary:
    """Send every enabled route's waiting custody messages, then announce its due findings:
    the riskiest one by one, up to ``NOTIFY_MESSAGES_PER_RUN``, the rest in one summary."""
    summary = DispatchSummary()
    if not settings.AUDIT_KEYS:
        # Every send is audited: with no audit key nothing can be, so nothing is sent.
        logger.warning("notifications not sent: no audit key is configured")
        return summary
    for route in Route.objects.filter(enabled=True):
        now_route = now or timezone.now()
        if not _route_hold(route, now=now_route):
            summary.busy += 1
            continue
        summary.routes += 1
        try:
            _route_dispatch(route, now=now_route, summary=summary)
        finally:
            _route_release(route)
    return summary


def custody_event_queue(event: observers.CustodyEvent, *, now: datetime | None = None) -> int:
    """Keep ``event`` for every enabled route that takes custody messages of the device's
    account (its product, or every product), for the routes' next dispatch; how many."""
    if event.kind not in CUSTODY_SENT:
        return 0
    account, product_key, device_name = event.device.split("/", 2)
    routes = Route.objects.filter(enabled=True, custody=True, account=account).filter(
        Q(product_key="") | Q(product_key=product_key)
    )
    kept = CustodyMessage.objects.bulk_create(
        CustodyMessage(
            route=route,
            kind=event.kind,
            object_id=event.object_id,
            actor=event.actor,
            people=",".join(event.recipients)[:1000],
            account=account,
            product_key=product_key,
            device_name=device_name,
            path=event.path,
            created_at=now or timezone.now(),
        )
        for route in routes
    )
    return len(kept)


def _route_custody_send(route: Route, *, now: datetime, summary: DispatchSummary) -> bool:
    """Send the route's waiting custody messages, oldest first; False when one failed (the
    rest wait with it)."""
    for item in CustodyMessage.objects.filter(route=route, sent_at__isnull=True):
        with translation.override(route.language):
            message = custody_message(item)
        sent = _send_audited(
            route,
            message,
            what=CUSTODY_SENT[item.kind].format(number=item.object_id),
            device=DeviceRef(
                product_key=item.product_key, device_name=item.device_name, account=item.account
            ),
        )
        if not sent:
            summary.failed += 1
            return False
        CustodyMessage.objects.filter(pk=item.pk).update(sent_at=now)
        summary.sent += 1
    return True


def _route_dispatch(route: Route, *, now: datetime, summary: DispatchSummary) -> None:
    if not _route_custody_send(route, now=now, summary=summary):
        # The channel is down or refuses: the findings wait for the next dispatch too.
        return
    due = route_due(route, now=now)
    if not due:
        return
    limit = max(settings.NOTIFY_MESSAGES_PER_RUN, 0)
    one_by_one, rest = due[:limit], due[limit:]
    facts = certificate_facts(one_by_one)
    for finding in one_by_one:
        announced = _announced_severity(route, finding)
        fact = facts.get(finding.pk, CertificateFacts())
        with translation.override(route.language):
            message = finding_message(
                finding,
                fact,
                escalated_from=announced,
                now=now,
            )
        sent = _send_audited(
            route,
            message,
            what=f"{finding.code} {SEVERITY_NAMES[finding.severity]}",
            device=_device(finding),
            certificate_sha256=fact.sha256_fingerprint,
        )
        if not sent:
            # The channel is down or refuses: the rest wait for the next dispatch.
            summary.failed += 1
            return
        _record(route, [finding], now=now, in_summary=False)
        summary.sent += 1
    if rest:
        with translation.override(route.language):
            message = summary_message(
                rest, route_name=route.name, account=route.account, product_key=route.product_key
            )
        sent = _send_audited(route, message, what=f"summary of {len(rest)} findings")
        if not sent:
            summary.failed += 1
            return
        _record(route, rest, now=now, in_summary=True)
        summary.summarised += len(rest)


def notifications_digest(*, now: datetime | None = None) -> int:
    """Send each enabled route's daily digest (once a day, and only when it has open
    findings); returns how many were sent. A failed digest is audited and sent by the next
    digest run of the same day, or the day after."""
    if not settings.AUDIT_KEYS:
        logger.warning("notification digests not sent: no audit key is configured")
        return 0
    now = now or timezone.now()
    day = timezone.localdate(now)
    sent_count = 0
    for route in Route.objects.filter(enabled=True, digest=True):
        if DigestDelivery.objects.filter(route=route, day=day).exists():
            continue
        findings = list(route_findings(route, now=now))
        if not findings:
            continue
        facts = certificate_facts(findings[:DIGEST_TOP])
        with translation.override(route.language):
            message = digest_message(
                findings,
                facts,
                route_name=route.name,
                account=route.account,
                product_key=route.product_key,
                now=now,
            )
        sent = _send_audited(route, message, what=f"digest of {len(findings)} findings")
        if sent:
            DigestDelivery.objects.get_or_create(route=route, day=day, defaults={"sent_at": now})
            sent_count += 1
    return sent_count


def route_test_send(*, route: Route, actor, context: RequestContext) -> bool:
    """Send the route's test message now (the page's button), audited
    (``NOTIFICATION_TEST``); whether the channel took it. Raises ``AuditWriteError`` when the
    record cannot be written (the message has gone then)."""
    with translation.override(route.language):
        message = route_test_message(route_name=route.name)
    sent = channel_send(channel=route.channel, title=message.title, body=message.body)
    audit_record(
        action=AuditAction.NOTIFICATION_TEST,
        outcome=AuditOutcome.SUCCESS if sent else AuditOutcome.FAILED,
        actor=actor,
        context=context,
        detail=_route_detail(route, "test message" if sent else "test message, failed"),
    )
    return sent
