"""The chart of certificate expiries per month on the expiry overview: counts from one grouped
query, and the geometry of its server-rendered SVG worked out here, so that the template only
places what it is given (``templates/devices/expiry_chart.html``).

What is counted: ready certificates that have not expired yet (``expiry.expiry_unexpired_q``:
the overview's states ``expiry.UNEXPIRED_STATES``), by the calendar month of their notAfter in
the current time zone, from this month (the part of it still ahead) through ``months`` months.
Expired certificates, failed lookups and certificates not issued are in the overview's counts,
not in the chart.
"""

from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise

from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import Count, DateTimeField, F, Func, IntegerField, QuerySet, Value
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from certadmin.devices.models import READY_Q, CertificateRecord
from certadmin.web.fragments import KeptHtml

# The SVG's coordinate system (viewBox); CSS scales it to the page's width. Two drawings of
# the same numbers, one for wide screens and one for phones (app.css shows one of them): one
# drawing scaled to a phone would shrink its labels to a few pixels.
HEIGHT = 260
PLOT_RIGHT_MARGIN = 8
PLOT_TOP = 12
BASELINE = 208  # the bars' foot; month and year labels below it
MONTH_LABEL_Y = BASELINE + 18
YEAR_LABEL_Y = BASELINE + 36
BAR_FILL = 0.7  # share of each month's slot the bar covers
AXIS_TICKS = 4  # about this many steps up the count axis
# Room between a year label and what it names: the first one ends left of the plot, each
# January's starts just right of the line marking the year's start.
YEAR_LABEL_GAP = 6


@dataclass(frozen=True)
class ChartLayout:
    """One drawing's geometry: its coordinate width, the room left of the plot for the count
    axis and the first year, and which months carry a label (every month, or every third:
    January, April, July, October). The labels are 11 units high (app.css); each layout keeps
    them apart at the widths it is shown at."""

    name: str
    width: int
    plot_left: int
    month_label_every: int


LAYOUTS = (
    ChartLayout("wide", 720, 48, 1),  # 28 units a month: "Mar" or "10月" fits
    ChartLayout("narrow", 340, 44, 3),  # about 1:1 on a phone; 12 units a month
)


@dataclass(frozen=True)
class ExpiryBar:
    """One month in one drawing: its first day, how many certificates expire in it, where its
    bar is, and whether its month is labelled."""

    month: date
    count: int
    x: float
    y: float
    width: float
    height: float
    label_x: float  # the centre of the month's slot, for its label
    shows_month: bool


@dataclass(frozen=True)
class YearLabel:
    """A year under the month labels: the first month's at the left of the plot (ending
    there), every later January's starting at its month's left edge, after a mark."""

    year: int
    x: float
    anchor: str  # SVG text-anchor: "end" or "start"
    mark_x: float | None  # the line marking where the year starts; None for the first


@dataclass(frozen=True)
class AxisTick:
    """A count on the vertical axis and the height of its gridline."""

    value: int
    y: float


@dataclass(frozen=True)
class ChartDrawing:
    """One SVG drawing of the chart (see ``LAYOUTS``)."""

    name: str
    width: int
    plot_left: int
    plot_right: int
    bars: list[ExpiryBar]
    ticks: list[AxisTick]
    years: list[YearLabel]
    height: int = HEIGHT
    baseline: int = BASELINE
    month_label_y: int = MONTH_LABEL_Y
    year_label_y: int = YEAR_LABEL_Y


@dataclass(frozen=True)
class ExpiryChart:
    """Everything ``devices/expiry_chart.html`` draws: the counts per month (the table under
    the chart) and one drawing per layout."""

    month_counts: list[tuple[date, int]]
    drawings: list[ChartDrawing]
    total: int
    max_count: int
    axis_max: int
    months: int
    first_month: date
    last_month: date


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


def expiry_chart_html(values: list[int], *, now: datetime) -> SafeString:
    """``devices/expiry_chart.html`` for ``expiry_chart_of(values, now=now)`` in the active
    language, drawn once per counts, month and language in each process: every view of an
    overview draws the same ~1,000 template nodes, most of the page's rendering."""
    return _charts_drawn.get_or_write(
        (tuple(values), _first_month(now), get_language()),
        lambda: render_to_string(
            "devices/expiry_chart.html", {"chart": expiry_chart_of(values, now=now)}
        ),
    )


# Public counts only.
_charts_drawn = KeptHtml(kept=64)


def _first_month(now: datetime) -> date:
    local_now = timezone.localtime(now, timezone.get_current_timezone())
    return date(local_now.year, local_now.month, 1)


def expiry_month_starts(*, now: datetime, months: int) -> list[datetime]:
    """Where each of the chart's ``months`` months starts, and the last one ends: ``now`` (the
    part of this month still ahead), then the first instant of each next month in the current
    time zone."""
    if months < 1:
        raise ValueError("months must be at least 1")
    zone = timezone.get_current_timezone()
    first_month = _first_month(now)
    return [now] + [
        datetime(month.year, month.month, 1, tzinfo=zone)
        for month in (_month_after(first_month, step) for step in range(1, months + 1))
    ]


def expiry_month_counts(
    records: QuerySet[CertificateRecord], *, now: datetime, months: int = 24
) -> list[int]:
    """How many of ``records`` expire in each calendar month of the ``months`` months from
    ``now``'s month (in the current time zone) on, counted in one query."""
    # Each month is the range of notAfter from its first instant (local time) to the next
    # month's, the first from ``now`` (not expired yet): one index range count per month, in
    # one query, rather than the month of every certificate worked out one by one.
    starts = expiry_month_starts(now=now, months=months)
    # Ready and not expired yet, as the overview's states count them: every month starts at or
    # after ``now``, so each month's range alone says "not expired". No second lower bound on
    # notAfter: SQLite would take ``now`` as the range's start and scan every month up to each
    # one (24 ranges from now, 12 times the entries: half a second at 100,000 records).
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
    month on), its drawings worked out here."""
    months = len(values)
    first_month = _first_month(now)
    month_list = [_month_after(first_month, step) for step in range(months)]
    max_count = max(values)
    step = _axis_step(max_count)
    axis_max = max(step, -(-max_count // step) * step)
    return ExpiryChart(
        month_counts=list(zip(month_list, values, strict=True)),
        drawings=[
            _drawing(layout, month_list, values, step=step, axis_max=axis_max) for layout in LAYOUTS
        ],
        total=sum(values),
        max_count=max_count,
        axis_max=axis_max,
        months=months,
        first_month=first_month,
        last_month=month_list[-1],
    )


def _drawing(
    layout: ChartLayout, month_list: list[date], values: list[int], *, step: int, axis_max: int
) -> ChartDrawing:
    plot_right = layout.width - PLOT_RIGHT_MARGIN
    plot_height = BASELINE - PLOT_TOP
    slot = (plot_right - layout.plot_left) / len(values)
    bar_width = round(slot * BAR_FILL, 1)
    bars = []
    years = [YearLabel(month_list[0].year, layout.plot_left - YEAR_LABEL_GAP, "end", None)]
    for index, (month, count) in enumerate(zip(month_list, values, strict=True)):
        height = round(plot_height * count / axis_max, 1)
        left = layout.plot_left + index * slot
        bars.append(
            ExpiryBar(
                month=month,
                count=count,
                x=round(left + (slot - bar_width) / 2, 1),
                y=round(BASELINE - height, 1),
                width=bar_width,
                height=height,
                label_x=round(left + slot / 2, 1),
                shows_month=(month.month - 1) % layout.month_label_every == 0,
            )
        )
        if index and month.month == 1:
            years.append(
                YearLabel(month.year, round(left + YEAR_LABEL_GAP / 2, 1), "start", round(left, 1))
            )
    ticks = [
        AxisTick(value=value, y=round(BASELINE - plot_height * value / axis_max, 1))
        for value in range(0, axis_max + 1, step)
    ]
    return ChartDrawing(
        name=layout.name,
        width=layout.width,
        plot_left=layout.plot_left,
        plot_right=plot_right,
        bars=bars,
        ticks=ticks,
        years=years,
    )
