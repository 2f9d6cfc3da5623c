"""Where each inventory record stands on the way to expiry: the ONE set of definitions for the
device tables, the expiry overview's counts, chart and CSV, ``cert_expiry_report`` and the
metrics. Nothing else decides what "expired" or "within 30 days" means.

Every record falls in exactly one state, decided in this order:

- ``never``: listed by a product sync but never looked up (``last_checked`` is empty);
- ``failed``: the last lookup failed (its error Code is kept; a device whose lookups only ever
  failed has no status), the platform answered a status this code does not know, or the
  certificate could not be read (ready, but no expiry date);
- ``not_issued``: the platform has no certificate yet (status 0) or failed to make one (1);
- a ready certificate, by its days left (``certs.details.expiry_days_left``: whole days until
  notAfter, toward zero, the number every page and file shows):

  - ``expired``: ``now`` is past notAfter (notAfter itself is still valid, as in RFC 5280);
  - ``days_0_7``: not expired, 0–7 days left;
  - ``days_8_30``: 8–30 days left;
  - ``days_31_90``: 31–90 days left;
  - ``days_over_90``: more than 90 days left.

So a row that says "7 days left" is in ``days_0_7`` and one that says "8 days left" in
``days_8_30``: the bounds are whole days left, not hours. In time: ``days_0_7`` is notAfter from
``now`` up to (not including) ``now`` + 8 days.

"Expires within N days", wherever it is asked (the overview's summary, ``cert_expiry_report
--within N``, the metric ``certadmin_certificates_expiring_within_days``), means: ready, NOT
expired, at most N days left (``expiry_within_q``). Expired certificates are never in it: they
are counted, and named, as expired. Within 30 days is therefore ``days_0_7`` + ``days_8_30``.
"""

from datetime import datetime, timedelta

from django.db.models import Case, CharField, Count, F, IntegerField, Q, QuerySet, Value, When
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from certadmin.certs.details import EXPIRING_DAYS
from certadmin.devices.display_names import CERT_STATUSES
from certadmin.devices.models import NOT_READY_Q, READY_Q, CertificateRecord
from certadmin.iot.results import CertStatus

EXPIRY_STATES: tuple[tuple[str, str], ...] = (
    ("expired", _("Expired")),
    ("days_0_7", _("Expires in 0–7 days")),
    ("days_8_30", _("Expires in 8–30 days")),
    ("days_31_90", _("Expires in 31–90 days")),
    ("days_over_90", _("Expires in more than 90 days")),
    ("not_issued", _("Not issued")),
    ("failed", _("Lookup failed")),
    ("never", _("Never checked")),
)
STATE_LABELS = dict(EXPIRY_STATES)
# The windows, as (state, days): a ready certificate that has not expired, with at most
# ``days`` days left and more than the previous window's, is in that state.
WINDOWS = (("days_0_7", 7), ("days_8_30", EXPIRING_DAYS), ("days_31_90", 90))
# A ready certificate that has not expired yet: what "expires within N days" and the chart of
# expiries per month count.
UNEXPIRED_STATES = ("days_0_7", "days_8_30", "days_31_90", "days_over_90")
# States the tables' filter offers together, by one name: (label, the states it covers).
# "Valid" is a ready certificate that has not expired (``expiry_unexpired_q``).
STATE_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "valid": (_("Valid (not expired)"), UNEXPIRED_STATES),
}
# The question the overview answers in words, and the report's default ``--within``.
WITHIN_DAYS_DEFAULT = EXPIRING_DAYS
KNOWN_STATUSES = (CertStatus.GENERATING, CertStatus.FAILED, CertStatus.READY)
# ``models.READY_Q`` (checked, last lookup succeeded, certificate issued and read: it has a
# notAfter) is where the windows start: a ready certificate's state depends only on how far
# away its notAfter is.


def days_left_edge(days: int, *, now: datetime) -> datetime:
    """The first notAfter with MORE than ``days`` days left at ``now``: a notAfter before it
    (and not before ``now``) has at most ``days`` days left (``expiry_days_left`` drops the
    partial day, so "7 days left" runs up to 8 whole days ahead)."""
    return now + timedelta(days=days + 1)


def expiry_unexpired_q(*, now: datetime) -> Q:
    """Ready certificates that have not expired at ``now`` (notAfter itself is still valid)."""
    return READY_Q & Q(not_after__gte=now)


def expiry_within_q(days: int, *, now: datetime) -> Q:
    """Ready certificates that expire within ``days`` days: not expired at ``now``, at most
    ``days`` days left. Expired ones are not included (see the module's docstring)."""
    return expiry_unexpired_q(now=now) & Q(not_after__lt=days_left_edge(days, now=now))


def expiry_within_count(counts: dict[str, int], days: int) -> int:
    """How many expire within ``days`` days (``expiry_within_q``), from ``expiry_counts``;
    ``days`` is one of the windows' (7, 30, 90)."""
    total = 0
    for state, window_days in WINDOWS:
        total += counts[state]
        if window_days == days:
            return total
    raise ValueError(f"{days} is not a window's days; count with expiry_within_q")


def expiry_state_q(state: str, *, now: datetime) -> Q:
    """The records in ``state`` (one of ``EXPIRY_STATES``) at ``now``."""
    never = Q(last_checked__isnull=True)
    # ~Q(status__in=...) also holds for a NULL status (Django adds the IS NULL test).
    failed = ~never & (
        ~Q(last_error_code="")
        | ~Q(status__in=KNOWN_STATUSES)
        | Q(status=CertStatus.READY, not_after__isnull=True)
    )
    if state == "never":
        return never
    if state == "failed":
        return failed
    if state == "not_issued":
        return ~never & ~failed & Q(status__in=[CertStatus.GENERATING, CertStatus.FAILED])
    window = _ready_window_q(state, now=now)
    if window is None:
        raise ValueError(f"unknown expiry state {state!r}")
    return READY_Q & window


def _ready_window_q(state: str, *, now: datetime, field: str = "not_after") -> Q | None:
    """The notAfter range (of ``field``: notAfter or an alias of it) of a ready certificate in
    ``state`` at ``now``; None for a state that is not a ready certificate's."""
    if state == "expired":
        return Q(**{f"{field}__lt": now})
    # Each window is (previous window's days, its own days] of days left; the first starts at
    # now itself (not expired yet) and ``days_over_90`` has no upper bound.
    lower: int | None = None
    for window, days in (*WINDOWS, ("days_over_90", None)):
        if state == window:
            start = now if lower is None else days_left_edge(lower, now=now)
            in_window = Q(**{f"{field}__gte": start})
            if days is not None:
                in_window &= Q(**{f"{field}__lt": days_left_edge(days, now=now)})
            return in_window
        lower = days
    return None


# The stored ``status_rank`` (models.STATUS_RANK) of each state that does not depend on time;
# every ready certificate (READY_Q) has rank 0.
_STATE_RANKS = {"never": 7, "failed": 6, "not_issued": 5}


def expiry_state_ranked_q(state: str, *, now: datetime, not_after: str = "not_after") -> Q:
    """The same records as ``expiry_state_q(state)``, asked through the stored ``status_rank``
    (and notAfter, or the alias ``not_after`` of it, for a ready certificate's window): the
    columns of the status sort's index (``certrecord_acct_rank_name``)."""
    if state in _STATE_RANKS:
        return Q(status_rank=_STATE_RANKS[state])
    window = _ready_window_q(state, now=now, field=not_after)
    if window is None:
        raise ValueError(f"unknown expiry state {state!r}")
    return Q(status_rank=0) & window


def expiry_filter_q(state: str, *, now: datetime) -> Q:
    """The records the tables' expiry filter keeps for ``state``: one of ``EXPIRY_STATES``, or
    a group of them (``STATE_GROUPS``)."""
    if state == "valid":
        return expiry_unexpired_q(now=now)
    return expiry_state_q(state, now=now)


def expiry_filter_count(counts: dict[str, int], state: str) -> int | None:
    """How many records the expiry filter keeps for ``state``, from ``expiry_counts``; None for
    a filter the counts do not hold (the removed devices: their table counts its own)."""
    if state in STATE_GROUPS:
        return sum(counts[member] for member in STATE_GROUPS[state][1])
    return counts.get(state)


def expiry_state_rank(*, now: datetime) -> Case:
    """The rank of a record's expiry state in ``EXPIRY_STATES`` (most urgent first) at ``now``,
    for sorting: the stored ``status_rank`` (models.STATUS_RANK), and for a ready certificate
    its window, from notAfter alone (a few comparisons per record, not every state's test)."""
    windows = [When(not_after__lt=now, then=Value(0))]
    windows += [
        When(not_after__lt=days_left_edge(days, now=now), then=Value(rank))
        for rank, (_window, days) in enumerate(WINDOWS, start=1)
    ]
    ready = Case(*windows, default=Value(len(WINDOWS) + 1))
    return Case(
        When(status_rank=0, then=ready), default=F("status_rank"), output_field=IntegerField()
    )


def expiry_state_annotated(
    records: QuerySet[CertificateRecord], *, now: datetime
) -> QuerySet[CertificateRecord]:
    """``records`` with an ``expiry_state`` column, computed by the database."""
    return records.annotate(
        expiry_state=Case(
            *(When(expiry_state_q(state, now=now), then=Value(state)) for state in STATE_LABELS),
            default=Value("failed"),
            output_field=CharField(),
        )
    )


# The states ``expiry_counts`` counts together, one query each (``expiry_counts_of``): the
# records not ready, grouped; the ready ones with at most 90 days left, by window from one range
# of notAfter; the ready ones with more.
EXPIRY_COUNT_GROUPS: tuple[tuple[str, ...], ...] = (
    ("never", "failed", "not_issued"),
    ("expired", *(window for window, _days in WINDOWS)),
    ("days_over_90",),
)


def expiry_counts_of(
    records: QuerySet[CertificateRecord], *, now: datetime, group: tuple[str, ...]
) -> dict[str, int]:
    """How many of ``records`` are in each state of ``group`` (one of ``EXPIRY_COUNT_GROUPS``),
    in one query an index answers."""
    records = records.order_by()
    counts = dict.fromkeys(group, 0)
    if group == EXPIRY_COUNT_GROUPS[0]:
        unready = (
            records.filter(NOT_READY_Q)
            .annotate(
                expiry_state=Case(
                    *(When(expiry_state_q(state, now=now), then=Value(state)) for state in group),
                    default=Value("failed"),
                    output_field=CharField(),
                )
            )
            .values("expiry_state")
            .annotate(count=Count("*"))
        )
        for row in unready:
            counts[row["expiry_state"]] += row["count"]
        return counts
    ready = records.filter(READY_Q)
    last_edge = days_left_edge(WINDOWS[-1][1], now=now)
    if group == EXPIRY_COUNT_GROUPS[2]:
        # notAfter is never NULL when ready: counting it lets the index alone answer.
        return {"days_over_90": ready.filter(not_after__gte=last_edge).count()}
    # Cumulative: notAfter before now, then at most 7, 30 and 90 days left.
    edges = ready.filter(not_after__lt=last_edge).aggregate(
        expired=Count("not_after", filter=Q(not_after__lt=now)),
        **{
            window: Count("not_after", filter=Q(not_after__lt=days_left_edge(days, now=now)))
            for window, days in WINDOWS[:-1]
        },
        **{WINDOWS[-1][0]: Count("not_after")},
    )
    below = counts["expired"] = edges["expired"]
    for window, _days in WINDOWS:
        counts[window] = edges[window] - below
        below = edges[window]
    return counts


def expiry_counts(records: QuerySet[CertificateRecord], *, now: datetime) -> dict[str, int]:
    """How many of ``records`` are in each state (every state present, zeros included).

    Three queries that indexes answer (``EXPIRY_COUNT_GROUPS``), instead of classifying every
    record: the records that are not ready (never checked, failed, not issued: usually few)
    grouped by state; the ready ones with at most 90 days left, counted by window from one
    index range; and the ready ones with more.
    """
    counts = dict.fromkeys(STATE_LABELS, 0)
    for group in EXPIRY_COUNT_GROUPS:
        counts.update(expiry_counts_of(records, now=now, group=group))
    return counts


def expiry_state_of(record: CertificateRecord, *, now: datetime) -> str:
    """The state of one record already in memory (the same rules as ``expiry_state_q``)."""
    if record.last_checked is None:
        return "never"
    if (
        record.last_error_code
        or record.status not in KNOWN_STATUSES
        or (record.status == CertStatus.READY and record.not_after is None)
    ):
        return "failed"
    if record.status != CertStatus.READY:
        return "not_issued"
    if record.not_after < now:
        return "expired"
    for window, days in WINDOWS:
        if record.not_after < days_left_edge(days, now=now):
            return window
    return "days_over_90"


def expiry_state_label(*, state: str, status: int | None) -> str:
    """What a device table, the batch results and the inventory CSV say of a record in
    ``state`` whose certificate Status is ``status``: the state's label, except that a
    certificate not issued says which: being generated, or generation failed
    (``display_names.CERT_STATUSES``, as the certificate page says it)."""
    if state == "not_issued" and status in CERT_STATUSES:
        return gettext(CERT_STATUSES[status][0])
    return str(STATE_LABELS.get(state, state))
