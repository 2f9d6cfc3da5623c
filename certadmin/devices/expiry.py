"""Where each inventory record stands on the way to expiry: one classification for the device
list, the expiry overview, its CSV and the ``cert_expiry_report`` command.

Every record falls in exactly one state, decided in this order:

- ``never``: listed by a product sync but never looked up (``last_checked`` is empty);
- ``failed``: the last lookup failed (its error Code is kept; a device whose lookups only ever
  failed has no status), or the certificate could not be read (ready, but no expiry date);
- ``not_issued``: the platform has no certificate yet (status 0) or failed to make one (1);
- ``expired``, ``within_7``, ``within_30``, ``within_90``, ``valid``: a ready certificate, by
  how far away its notAfter is (the windows do not overlap: ``within_30`` is 7 to 30 days).
"""

from datetime import datetime, timedelta

from django.db.models import Case, CharField, Count, Q, QuerySet, Value, When
from django.utils.translation import gettext_lazy as _

from certadmin.devices.models import CertificateRecord
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
# The windows, as (state, days): a ready certificate expiring before now + days and after the
# previous window is in that state.
WINDOWS = (("within_7", 7), ("within_30", 30), ("within_90", 90))


def expiry_state_q(state: str, *, now: datetime) -> Q:
    """The records in ``state`` (one of ``EXPIRY_STATES``) at ``now``."""
    never = Q(last_checked__isnull=True)
    failed = ~never & (
        ~Q(last_error_code="")
        | Q(status__isnull=True)
        | Q(status=CertStatus.READY, not_after__isnull=True)
    )
    not_issued = ~never & ~failed & Q(status__in=[CertStatus.GENERATING, CertStatus.FAILED])
    ready = ~never & Q(last_error_code="", status=CertStatus.READY, not_after__isnull=False)
    if state == "never":
        return never
    if state == "failed":
        return failed
    if state == "not_issued":
        return not_issued
    if state == "expired":
        return ready & Q(not_after__lt=now)
    lower = 0
    for window, days in WINDOWS:
        if state == window:
            return ready & Q(
                not_after__gte=now + timedelta(days=lower), not_after__lt=now + timedelta(days=days)
            )
        lower = days
    if state == "valid":
        return ready & Q(not_after__gte=now + timedelta(days=lower))
    raise ValueError(f"unknown expiry state {state!r}")


def expiry_state_annotated(
    records: QuerySet[CertificateRecord], *, now: datetime
) -> QuerySet[CertificateRecord]:
    """``records`` with an ``expiry_state`` column, computed by the database."""
    return records.annotate(
        expiry_state=Case(
            *(
                When(expiry_state_q(state, now=now), then=Value(state))
                for state, _ in EXPIRY_STATES
            ),
            default=Value("failed"),
            output_field=CharField(),
        )
    )


def expiry_counts(records: QuerySet[CertificateRecord], *, now: datetime) -> dict[str, int]:
    """How many of ``records`` are in each state (every state present, zeros included), in one
    query."""
    counts = records.order_by().aggregate(
        **{state: Count("pk", filter=expiry_state_q(state, now=now)) for state, _ in EXPIRY_STATES}
    )
    return {state: counts[state] or 0 for state, _ in EXPIRY_STATES}


def expiry_state_of(record: CertificateRecord, *, now: datetime) -> str:
    """The state of one record already in memory (the same rules as ``expiry_state_q``)."""
    if record.last_checked is None:
        return "never"
    if (
        record.last_error_code
        or record.status is None
        or (record.status == CertStatus.READY and record.not_after is None)
    ):
        return "failed"
    if record.status != CertStatus.READY:
        return "not_issued"
    if record.not_after < now:
        return "expired"
    for window, days in WINDOWS:
        if record.not_after < now + timedelta(days=days):
            return window
    return "valid"
