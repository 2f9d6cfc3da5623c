"""Where each inventory record stands on the way to expiry: one classification for the device
list, the expiry overview, its chart and CSV, and the ``cert_expiry_report`` command.

Every record falls in exactly one state, decided in this order:

- ``never``: listed by a product sync but never looked up (``last_checked`` is empty);
- ``failed``: the last lookup failed (its error Code is kept; a device whose lookups only ever
  failed has no status), the platform answered a status this code does not know, or the
  certificate could not be read (ready, but no expiry date);
- ``not_issued``: the platform has no certificate yet (status 0) or failed to make one (1);
- ``expired``, ``within_7``, ``within_30``, ``within_90``, ``valid``: a ready certificate, by
  how far away its notAfter is.

The windows follow the certificate page (``certs.details.Validity``): a certificate is expired
once ``now`` is past its notAfter (notAfter itself is still valid, as in RFC 5280), and each
window includes its upper edge: notAfter exactly 30 days from now is ``within_30``, as the
certificate page calls it "expiring". The windows do not overlap: ``within_30`` is more than 7
and at most 30 days.
"""

from datetime import datetime, timedelta

from django.db.models import Case, CharField, Count, Q, QuerySet, Value, When
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from certadmin.devices.display_names import CERT_STATUSES
from certadmin.devices.models import NOT_READY_Q, READY_Q, CertificateRecord
from certadmin.iot.results import CertStatus

EXPIRY_STATES: tuple[tuple[str, str], ...] = (
    ("expired", _("Expired")),
    ("within_7", _("Expires within 7 days")),
    ("within_30", _("Expires within 30 days")),
    ("within_90", _("Expires within 90 days")),
    ("valid", _("Valid beyond 90 days")),
    ("not_issued", _("Not issued")),
    ("failed", _("Lookup failed")),
    ("never", _("Never checked")),
)
STATE_LABELS = dict(EXPIRY_STATES)
# The windows, as (state, days): a ready certificate whose notAfter is at most ``days`` ahead,
# and more than the previous window's days, is in that state.
WINDOWS = (("within_7", 7), ("within_30", 30), ("within_90", 90))
# A ready certificate that has not expired yet: what the chart of expiries per month counts.
UNEXPIRED_STATES = ("within_7", "within_30", "within_90", "valid")
KNOWN_STATUSES = (CertStatus.GENERATING, CertStatus.FAILED, CertStatus.READY)
# ``models.READY_Q`` (checked, last lookup succeeded, certificate issued and read: it has a
# notAfter) is where the windows start: a ready certificate's state depends only on how far
# away its notAfter is.


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
    if state == "expired":
        return READY_Q & Q(not_after__lt=now)
    # Each window is (previous window's days, its own days]; the first starts at now itself
    # (not expired yet) and ``valid`` has no upper bound.
    lower: int | None = None
    for window, days in (*WINDOWS, ("valid", None)):
        if state == window:
            if lower is None:
                in_window = Q(not_after__gte=now)
            else:
                in_window = Q(not_after__gt=now + timedelta(days=lower))
            if days is not None:
                in_window &= Q(not_after__lte=now + timedelta(days=days))
            return READY_Q & in_window
        lower = days
    raise ValueError(f"unknown expiry state {state!r}")


def expiry_within_q(days: int, *, now: datetime) -> Q:
    """Ready certificates expired, or expiring at most ``days`` days from ``now``: the devices
    ``cert_expiry_report --within DAYS`` lists."""
    return READY_Q & Q(not_after__lte=now + timedelta(days=days))


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


def expiry_counts(records: QuerySet[CertificateRecord], *, now: datetime) -> dict[str, int]:
    """How many of ``records`` are in each state (every state present, zeros included).

    Three queries that indexes answer, instead of classifying every record: the records that
    are not ready (never checked, failed, not issued: usually few) grouped by state; the ready
    ones whose notAfter is at most 90 days ahead, counted by window from one index range; and
    how many are ready at all (``valid`` is the rest).
    """
    records = records.order_by()
    counts = dict.fromkeys(STATE_LABELS, 0)
    unready = (
        records.filter(NOT_READY_Q)
        .annotate(
            expiry_state=Case(
                *(
                    When(expiry_state_q(state, now=now), then=Value(state))
                    for state in ("never", "failed", "not_issued")
                ),
                default=Value("failed"),
                output_field=CharField(),
            )
        )
        .values("expiry_state")
        .annotate(count=Count("*"))
    )
    for row in unready:
        counts[row["expiry_state"]] += row["count"]
    ready = records.filter(READY_Q)
    # Cumulative: notAfter before now, then at most 7, 30 and 90 days ahead. Counting notAfter
    # (never NULL when ready) rather than the key lets the index alone answer.
    edges = ready.filter(not_after__lte=now + timedelta(days=WINDOWS[-1][1])).aggregate(
        expired=Count("not_after", filter=Q(not_after__lt=now)),
        **{
            window: Count("not_after", filter=Q(not_after__lte=now + timedelta(days=days)))
            for window, days in WINDOWS[:-1]
        },
        **{WINDOWS[-1][0]: Count("not_after")},
    )
    below = counts["expired"] = edges["expired"]
    for window, _days in WINDOWS:
        counts[window] = edges[window] - below
        below = edges[window]
    counts["valid"] = ready.count() - below
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
        if record.not_after <= now + timedelta(days=days):
            return window
    return "valid"


def expiry_state_label(*, state: str, status: int | None) -> str:
    """What a device table, the batch results and the inventory CSV say of a record in
    ``state`` whose certificate Status is ``status``: the state's label, except that a
    certificate not issued says which: being generated, or generation failed
    (``display_names.CERT_STATUSES``, as the certificate page says it)."""
    if state == "not_issued" and status in CERT_STATUSES:
        return gettext(CERT_STATUSES[status][0])
    return str(STATE_LABELS.get(state, state))
