"""The chart of certificate expiries per month on the expiry overview: counts from one grouped
query, and the geometry of its server-rendered SVG worked out here, so that the template only
places what it is given (``templates/devices/expiry_chart.html``).

What is counted: ready certificates that have not expired yet (``expiry.UNEXPIRED_STATES``),
by the calendar month of their notAfter in the current time zone, from this month (the part
of it still ahead) through ``months`` months. Expired certificates, failed lookups and
certificates not issued are in the overview's counts, not in the chart.
"""

from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise

from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import Count, DateTimeField, F, Func, IntegerField, QuerySet, Value
from django.utils import timezone

from certadmin.devices.models import READY_Q, CertificateRecord

# The SVG's coordinate system (viewBox); CSS scales it to the page's width.
WIDTH = 720
HEIGHT = 260
PLOT_LEFT = 48  # room for the count axis labels
PLOT_RIGHT = WIDTH - 8
PLOT_TOP = 12
BASELINE = 208  # the bars' foot; month and year labels below it
MONTH_LABEL_Y = BASELINE + 18
YEAR_LABEL_Y = BASELINE + 36
BAR_FILL = 0.7  # share of each month's slot the bar covers
AXIS_TICKS = 4  # about this many steps up the count axis


@dataclass(frozen=True)
class ExpiryBar:
    """One month: its first day, how many certificates expire in it, and where its bar is."""

    month: date
    count: int
    x: float
    y: float
    width: float
    height: float
    label_x: float  # the centre of the month's slot, for its labels
    shows_year: bool  # the first month and every January carry the year under them


@dataclass(frozen=True)
class AxisTick:
    """A count on the vertical axis and the height of its gridline."""

    value: int
    y: float


@dataclass(frozen=True)
class ExpiryChart:
    """Everything ``devices/expiry_chart.html`` draws."""

    bars: list[ExpiryBar]
    ticks: list[AxisTick]
    total: int
    max_count: int
    axis_max: int
    months: int
    first_month: date
    last_month: date
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = PLOT_LEFT
    plot_right: int = PLOT_RIGHT
    baseline: int = BASELINE
    month_label_y: int = MONTH_LABEL_Y
    year_label_y: int = YEAR_LABEL_Y


def _month_after(month: date, steps: int) -> date:
    index = month.year * 12 + month.month - 1 + steps
    return date(index // 12, index % 12 + 1, 1)


def _axis_step(max_count: int) -> int:
    """A round step (1, 2 or 5 times a power of ten) giving about ``AXIS_TICKS`` steps."""
    rough = max(1, -(-max_count // AXIS_TICKS))
    magnitude = 10 ** (len(str(rough)) - 1)
    for multiple in (1, 2, 5, 10):
        if multiple * magnitude >= rough:
            return multiple * magnitude
    raise AssertionError("unreachable: 10 * magnitude >= rough")


def _first_month(now: datetime) -> date:
    local_now = timezone.localtime(now, timezone.get_current_timezone())
    return date(local_now.year, local_now.month, 1)


def expiry_month_counts(
    records: QuerySet[CertificateRecord], *, now: datetime, months: int = 24
) -> list[int]:
    """How many of ``records`` expire in each calendar month of the ``months`` months from
    ``now``'s month (in the current time zone) on, counted in one query."""
    if months < 1:
        raise ValueError("months must be at least 1")
    zone = timezone.get_current_timezone()
    first_month = _first_month(now)
    # Each month is the range of notAfter from its first instant (local time) to the next
    # month's, the first from ``now`` (not expired yet): one index range count per month, in
    # one query, rather than the month of every certificate worked out one by one.
    starts = [now] + [
        datetime(month.year, month.month, 1, tzinfo=zone)
        for month in (_month_after(first_month, step) for step in range(1, months + 1))
    ]
    # Ready and not expired yet (``UNEXPIRED_STATES``): within a month's range, notAfter is
    # at least ``now``.
    ready = records.order_by().filter(READY_Q)
    if connection.vendor == "postgresql":
        # One range scan of the index, each notAfter placed in its month by width_bucket over
        # the sorted month starts (bucket i is [starts[i-1], starts[i])): half the time of a
        # count per month, and no 24-arm query for Django to build.
        buckets = dict(
            ready.filter(not_after__gte=starts[0], not_after__lt=starts[-1])
            .annotate(
                bucket=Func(
                    F("not_after"),
                    Value(starts, output_field=ArrayField(DateTimeField())),
                    function="width_bucket",
                    output_field=IntegerField(),
                )
            )
            .values_list("bucket")
            .annotate(count=Count("*"))
        )
        return [buckets.get(index + 1, 0) for index in range(months)]
    per_month = [
        ready.filter(not_after__gte=start, not_after__lt=end)
        .annotate(month=Value(index))
        .values("month")
        .annotate(count=Count("*"))
        .values_list("month", "count")
        for index, (start, end) in enumerate(pairwise(starts))
    ]
    counts = dict(per_month[0].union(*per_month[1:], all=True))
    return [counts.get(index, 0) for index in range(months)]


def expiry_months(
    records: QuerySet[CertificateRecord], *, now: datetime, months: int = 24
) -> ExpiryChart:
    """Expiries per calendar month of ``records`` for the ``months`` months from ``now``'s
    month (in the current time zone) on, counted in one grouped query, with the chart's
    geometry."""
    return expiry_chart_of(expiry_month_counts(records, now=now, months=months), now=now)


def expiry_chart_of(values: list[int], *, now: datetime) -> ExpiryChart:
    """The chart of ``values`` (``expiry_month_counts``: one count per month from ``now``'s
    month on), its geometry worked out here."""
    months = len(values)
    first_month = _first_month(now)
    month_list = [_month_after(first_month, step) for step in range(months)]
    max_count = max(values)
    step = _axis_step(max_count)
    axis_max = max(step, -(-max_count // step) * step)
    plot_height = BASELINE - PLOT_TOP
    slot = (PLOT_RIGHT - PLOT_LEFT) / months
    bar_width = round(slot * BAR_FILL, 1)
    bars = []
    for index, (month, count) in enumerate(zip(month_list, values, strict=True)):
        height = round(plot_height * count / axis_max, 1)
        left = PLOT_LEFT + index * slot
        bars.append(
            ExpiryBar(
                month=month,
                count=count,
                x=round(left + (slot - bar_width) / 2, 1),
                y=round(BASELINE - height, 1),
                width=bar_width,
                height=height,
                label_x=round(left + slot / 2, 1),
                shows_year=index == 0 or month.month == 1,
            )
        )
    ticks = [
        AxisTick(value=value, y=round(BASELINE - plot_height * value / axis_max, 1))
        for value in range(0, axis_max + 1, step)
    ]
    return ExpiryChart(
        bars=bars,
        ticks=ticks,
        total=sum(values),
        max_count=max_count,
        axis_max=axis_max,
        months=months,
        first_month=first_month,
        last_month=month_list[-1],
    )
