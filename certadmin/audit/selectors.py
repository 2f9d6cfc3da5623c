"""Reading the audit trail: filters, keyset pages and per-device / per-user views."""

from datetime import UTC, date, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome, ChainVerification

KEY_ACTIONS = (AuditAction.KEY_REVEAL, AuditAction.KEY_DOWNLOAD)


def _day_start(day: date) -> datetime | None:
    """Midnight at the start of ``day`` in the current time zone, or None when that instant lies
    outside what a datetime can hold in UTC (the first and last days of the calendar)."""
    try:
        start = timezone.make_aware(datetime.combine(day, time.min))
        start.astimezone(UTC)  # the database is given UTC: this must fit too
    except OverflowError:
        return None
    return start


def _after_day(day: date) -> datetime | None:
    """The start of the day after ``day``, or None when no such instant exists (no upper bound)."""
    if day == date.max:
        return None
    return _day_start(day + timedelta(days=1))


def events_filtered(
    *,
    user: str = "",
    product_key: str = "",
    device_name: str = "",
    action: str = "",
    outcome: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    """Events matching every given filter (exact match; dates inclusive, local time zone)."""
    events = AuditEvent.objects.all()
    if user:
        events = events.filter(actor_username=user)
    if product_key:
        events = events.filter(product_key=product_key)
    if device_name:
        events = events.filter(device_name=device_name)
    if action:
        events = events.filter(action=action)
    if outcome:
        events = events.filter(outcome=outcome)
    # A bound that cannot be represented lies at the edge of time: nothing is outside it.
    if date_from is not None and (start := _day_start(date_from)) is not None:
        events = events.filter(created_at__gte=start)
    if date_to is not None and (end := _after_day(date_to)) is not None:
        events = events.filter(created_at__lt=end)
    return events.order_by("-id")


def events_page(
    events: QuerySet[AuditEvent], *, before_id: int | None, page_size: int = 50
) -> tuple[list[AuditEvent], int | None]:
    """One page, newest first, of the events older than ``before_id``.

    Keyset pagination: no OFFSET and no COUNT, so the cost does not grow with the table.
    Returns the rows and the ``before_id`` of the next (older) page, or None on the last page.
    """
    if before_id is not None:
        events = events.filter(id__lt=before_id)
    rows = list(events.order_by("-id")[: page_size + 1])
    if len(rows) > page_size:
        rows = rows[:page_size]
        return rows, rows[-1].id
    return rows, None


def device_recent_reveals(
    *, product_key: str, device_name: str, iot_instance_id: str | None = "", limit: int = 10
) -> list[AuditEvent]:
    """Who has seen this device's private key: its latest successful reveals and key downloads.

    ``iot_instance_id`` is matched exactly ("" is the public instance); None means any instance.
    """
    events = AuditEvent.objects.filter(
        product_key=product_key,
        device_name=device_name,
        action__in=KEY_ACTIONS,
        outcome=AuditOutcome.SUCCESS,
    )
    if iot_instance_id is not None:
        events = events.filter(iot_instance_id=iot_instance_id)
    return list(events.order_by("-id")[:limit])


def user_history(*, username: str) -> QuerySet[AuditEvent]:
    """Every event of one user, newest first (page it with ``events_page``)."""
    return events_filtered(user=username)


def latest_verification() -> ChainVerification | None:
    """The most recent run of the chain verifier, if any."""
    return ChainVerification.objects.order_by("-id").first()


def verifications_recent(*, limit: int = 10) -> list[ChainVerification]:
    """The latest runs of the chain verifier, newest first."""
    return list(ChainVerification.objects.order_by("-id")[:limit])
