"""The notifications' task functions: thin. A dispatch queued after every findings run and after
every key custody event, and the daily digest, which crontask's scheduler starts (``@cron``).
Sending never happens inside a findings run nor a web request (but for the page's test
button)."""

from datetime import timedelta

from crontask import cron
from django.conf import settings
from django.db import transaction
from django.tasks import task
from django.utils import timezone

from certadmin.custody.observers import CustodyEvent
from certadmin.notifications.dispatch import (
    custody_event_queue,
    notifications_digest,
    notifications_dispatch,
)
from certadmin.notifications.models import Route

# A route another dispatch holds: this one comes back after that long.
BUSY_RETRY = timedelta(seconds=30)


@task
def notifications_send() -> str:
    """Send every route's custody messages and announce its new and escalated findings."""
    summary = notifications_dispatch()
    if summary.busy:
        # Another worker holds a route: it may have read the findings before this run's were
        # written, so look again once it is done.
        notifications_send.using(run_after=timezone.now() + BUSY_RETRY).enqueue()
    return (
        f"{summary.routes} routes, {summary.sent} sent, {summary.summarised} in summaries, "
        f"{summary.failed} failed, {summary.busy} busy"
    )


@cron(settings.NOTIFY_DIGEST_CRON)
@task
def notifications_daily_digest() -> str:
    """Send each route's daily digest."""
    return f"{notifications_digest()} digests sent"


def notifications_after_findings_run(_summary) -> None:
    """What the findings call after each run: queue a dispatch on the workers, when there is a
    route to send on."""
    if Route.objects.filter(enabled=True).exists():
        notifications_send.enqueue()


def notifications_after_custody_event(event: CustodyEvent) -> None:
    """What custody calls after each event: keep its message for the routes that take it, and
    queue a dispatch on the workers once the caller's transaction commits (the request that
    caused the event never waits for a channel). A dispatch that cannot be queued is logged:
    the message waits for the next one."""
    if custody_event_queue(event):
        transaction.on_commit(notifications_send.enqueue, robust=True)
