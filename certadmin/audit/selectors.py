"""Reading the audit trail: filters, keyset pages and per-device / per-user views."""

from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import CharField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from certadmin.accounts.api_accounts import accounts_for
from certadmin.audit.models import (
    AuditAction,
    AuditEvent,
    AuditName,
    AuditOutcome,
    ChainVerification,
)
from certadmin.iot.identity import DeviceRef

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


# A part of a name is looked up among the names the trail holds (AuditName, thousands of rows
# where the events are a million; issue 24): SQLite has no index for a part of a name and walked
# a quarter of the trail for one device's key reveals. One name found is filtered by equality
# (its index gives the newest first); a few, whose events together are few enough to sort, by
# those names; more (or busier) by the part itself: so many events match that the newest are
# found soon walking back from the newest.
NAME_MATCHES_MAX = 20
NAME_EVENTS_SORTED_MAX = 5000


def _name_matching(field: str, text: str) -> Q:
    """Any part of the name in any case; or, in double quotes, exactly the name (served by the
    plain index, so the device page's link to its trail stays fast). Names (DeviceName,
    usernames) cannot contain a double quote, so quoting is unambiguous."""
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        return Q(**{field: text[1:-1]})
    found = list(
        AuditName.objects.filter(field=field, name__icontains=text)
        .order_by()
        .values_list("name", "events")[: NAME_MATCHES_MAX + 1]
    )
    if len(found) == 1:
        return Q(**{field: found[0][0]})
    if len(found) <= NAME_MATCHES_MAX and sum(events for _, events in found) <= (
        NAME_EVENTS_SORTED_MAX
    ):
        return Q(**{f"{field}__in": [name for name, _ in found]})  # none found: nothing
    return Q(**{f"{field}__icontains": text})


# A stored time written out by the database exactly as ``chain.created_at_text`` gives it (UTC,
# ISO 8601, microseconds), so that reading the whole trail makes no datetime per row.
UTC_TIME_TEXT = {
    "postgresql": "to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')",
    # Django stores naive UTC as str(datetime): no fraction when the microseconds are 0.
    "sqlite": "replace({column}, ' ', 'T') || "
    "CASE length({column}) WHEN 19 THEN '.000000+00:00' ELSE '+00:00' END",
}


def utc_time_text(field: str) -> RawSQL | None:
    """An expression for ``values_list``: the event's ``field`` (a time) as UTC ISO 8601 text
    with microseconds, written out by the database; None on a database not listed above."""
    template = UTC_TIME_TEXT.get(connection.vendor)
    if template is None:
        return None
    ops = connection.ops
    column = f"{ops.quote_name(AuditEvent._meta.db_table)}.{ops.quote_name(field)}"
    # No user input: a constant template and quoted names.
    return RawSQL(template.format(column=column), [], output_field=CharField())  # noqa: S611


def accounts_visible(*, viewer) -> list[str] | None:
    """The API accounts whose events ``viewer`` may read, or None for every event.

    The rule of ``accounts_for`` (who may use an account): an account naming groups
    (``CERTADMIN_ACCOUNT_<NAME>_GROUPS``) shows its events only to members of those groups;
    superusers, and everyone when no account names a group, read every event. Events of no
    account (logins, work on the trail itself) are read by every auditor; events of an account
    no longer configured, while some account names groups, only by superusers (deny by
    default: nobody can say whom they were meant for).
    """
    if viewer is None or getattr(viewer, "is_superuser", False):
        return None
    if not any(account.groups for account in settings.IOT_ACCOUNTS.values()):
        return None
    return [account.name for account in accounts_for(user=viewer)]


def events_visible(*, viewer) -> QuerySet[AuditEvent]:
    """Every event ``viewer`` may read (``accounts_visible``): where every reader of the trail
    starts. ``viewer=None`` is the whole trail, for commands that act for no person."""
    accounts = accounts_visible(viewer=viewer)
    if accounts is None:
        return AuditEvent.objects.all()
    return AuditEvent.objects.filter(account__in=["", *accounts])


def account_matching(account: str) -> Q:
    """Events of API account ``account``: for the default account, also the rows written
    before accounts were recorded (their account is empty)."""
    if account == settings.IOT_DEFAULT_ACCOUNT:
        return Q(account__in=[account, ""])
    return Q(account=account)


def events_filtered(
    *,
    viewer,
    account: str = "",
    user: str = "",
    product_key: str = "",
    device_name: str = "",
    actions: Collection[str] = (),
    outcome: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    """The events ``viewer`` may read (``events_visible``) matching every given filter.
    ``user`` and ``device_name`` match case-insensitively, any part of the name (exactly the
    name when quoted: ``"thermo-001"``); ``actions`` is any of those actions; ProductKey and
    outcome match exactly; dates are inclusive days in the local time zone."""
    events = events_visible(viewer=viewer)
    if account:
        events = events.filter(account_matching(account))
    if user:
        events = events.filter(_name_matching("actor_username", user))
    if product_key:
        events = events.filter(product_key=product_key)
    if device_name:
        events = events.filter(_name_matching("device_name", device_name))
    if actions:
        events = events.filter(action__in=sorted(set(actions)))
    if outcome:
        events = events.filter(outcome=outcome)
    # A bound that cannot be represented lies at the edge of time: nothing is outside it.
    if date_from is not None and (start := _day_start(date_from)) is not None:
        first = _first_id_from(start)
        events = events.none() if first is None else events.filter(id__gte=first)
    if date_to is not None and (end := _after_day(date_to)) is not None:
        after = _first_id_from(end)
        if after is not None:  # None: every event is older than the end of the range
            events = events.filter(id__lt=after)
    return events.order_by("-id")


def _first_id_from(moment: datetime) -> int | None:
    """The id of the first event at or after ``moment`` (None: no such event), found on the
    time index.

    Times never go backwards along the chain (``audit_record`` stamps them under the chain
    lock, in id order), so a time range is an id range: the events from ``start`` to before
    ``end`` are those from ``_first_id_from(start)`` to before ``_first_id_from(end)``. Asked
    as an id range, the page is a short walk down the primary key from the right place. Asked
    as a time range, the database walks every newer row (PostgreSQL assumes the day's rows are
    spread evenly over the table) or sorts every row of the range (SQLite)."""
    return (
        AuditEvent.objects.filter(created_at__gte=moment)
        .order_by("created_at", "id")
        .values_list("id", flat=True)
        .first()
    )


def device_history(*, viewer, product_key: str, device_name: str) -> QuerySet[AuditEvent]:
    """Every event of exactly this device that ``viewer`` may read, newest first (page it with
    ``events_page``)."""
    return (
        events_visible(viewer=viewer)
        .filter(product_key=product_key, device_name=device_name)
        .order_by("-id")
    )


def events_before(events: QuerySet[AuditEvent], *, before_id: int) -> QuerySet[AuditEvent]:
    """``events`` older than ``before_id``, that bound first in the WHERE clause.

    SQLite walks the primary key from the first upper bound on the id that it meets: after a
    date range's end or an export's head bound, a page deep in the range would start its walk
    at that bound and step over every newer row (72 ms a batch, 1,000,000 rows in)."""
    return AuditEvent.objects.filter(id__lt=before_id) & events


def events_page(
    events: QuerySet[AuditEvent], *, before_id: int | None, page_size: int = 50
) -> tuple[list[AuditEvent], int | None]:
    """One page, newest first, of the events older than ``before_id``.

    Keyset pagination: no OFFSET and no COUNT, so the cost does not grow with the table.
    Returns the rows and the ``before_id`` of the next (older) page, or None on the last page.
    """
    if before_id is not None:
        events = events_before(events, before_id=before_id)
    rows = list(events.order_by("-id")[: page_size + 1])
    if len(rows) > page_size:
        rows = rows[:page_size]
        return rows, rows[-1].id
    return rows, None


def device_recent_reveals(
    *,
    device: DeviceRef,
    every_scope: bool = False,
    viewer=None,
    limit: int = 10,
) -> list[AuditEvent]:
    """Who has seen this device's private key: its latest successful reveals and key downloads.

    ``device`` is matched exactly: its instance ("" is the public instance) and API account.
    ``every_scope``: its ProductKey and DeviceName on any instance and any account instead (the
    audit trail's device page). ``viewer``: only the events they may read (``events_visible``);
    None where the caller already checked that they may use the device's account (the device
    pages).
    """
    events = events_visible(viewer=viewer).filter(
        product_key=device.product_key,
        device_name=device.device_name,
        action__in=KEY_ACTIONS,
        outcome=AuditOutcome.SUCCESS,
    )
    if not every_scope:
        events = events.filter(iot_instance_id=device.iot_instance_id).filter(
            account_matching(device.account)
        )
    return list(events.order_by("-id")[:limit])


def user_history(*, viewer, username: str) -> QuerySet[AuditEvent]:
    """Every event of exactly this user that ``viewer`` may read, newest first (page it with
    ``events_page``)."""
    return events_visible(viewer=viewer).filter(actor_username=username).order_by("-id")


def chain_head() -> tuple[int | None, str]:
    """The newest row of the trail: (id, entry_hash), or (None, "") when the trail is empty."""
    head = AuditEvent.objects.order_by("-id").values_list("id", "entry_hash").first()
    return head if head is not None else (None, "")


def latest_verification() -> ChainVerification | None:
    """The most recent run of the chain verifier, if any."""
    return ChainVerification.objects.order_by("-id").first()


def verifications_recent(*, limit: int = 10) -> list[ChainVerification]:
    """The latest runs of the chain verifier, newest first."""
    return list(ChainVerification.objects.order_by("-id")[:limit])
