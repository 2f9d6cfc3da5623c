"""The inventory's counts read from what the database keeps in step with the records
(``ProductCounts``, ``ProductDayCounts``: triggers of migration 0021_inventory_kept_counts),
so that a page reads a few rows of them instead of counting a product's 100,000 records again
after every write.

A count up to an instant (notAfter before ``now + 8 days``, last checked before the freshness
bound, a month's first instant in the current time zone) is the sum of the whole UTC days
before that instant's day, from ``ProductDayCounts``, plus the records of its own day before
it, counted from the records' index (a day's records: about 1/1000 of a large product's).
Exact at any instant, in any time zone.
"""

from bisect import bisect_left
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, time
from itertools import pairwise

from django.db import connection
from django.db.models import Q, QuerySet, Sum

from certadmin.devices.expiry import STATE_LABELS, WINDOWS, days_left_edge
from certadmin.devices.expiry_chart import expiry_month_starts
from certadmin.devices.models import (
    READY_Q,
    CertificateRecord,
    ProductCounts,
    ProductDayCounts,
    default_account_name,
)

# What ``ProductDayCounts`` counts per day, and the record's column that day is of.
_DAY_FIELDS = {"ready": "not_after", "checked": "last_checked"}


def kept_scope_q(
    *,
    product_key: str | None,
    iot_instance_id: str = "",
    account: str = "",
    accounts: Collection[str] | None = None,
) -> Q:
    """The rows of the kept counts of one product (``product_key``) or of every product of
    ``accounts`` (None: of all), as ``selectors.inventory_scope`` names them."""
    if product_key is not None:
        return Q(
            account=account or default_account_name(),
            product_key=product_key,
            iot_instance_id=iot_instance_id,
        )
    if accounts is not None:
        return Q(account__in=list(accounts))
    return Q()


def kept_where(scope: dict) -> Q | None:
    """The rows of the kept counts for ``scope`` (``selectors.inventory_scope``'s arguments: one
    product, or every product of some accounts); None when a device filter narrows the scope or
    it holds the removed records (the counts are per product, of the listed ones)."""
    if scope.get("device_statuses") or scope.get("node_type") is not None:
        return None
    if scope.get("removed"):
        return None
    return kept_scope_q(
        product_key=scope.get("product_key"),
        iot_instance_id=scope.get("iot_instance_id", ""),
        account=scope.get("account", ""),
        accounts=scope.get("accounts"),
    )


def kept_totals(where: Q) -> dict[str, int]:
    """The sums of ``ProductCounts`` over the products ``where`` selects (every count 0 for
    none)."""
    names = ("records", "never", "failed", "not_issued", "removed")
    return ProductCounts.objects.filter(where).aggregate(
        **{name: Sum(name, default=0) for name in names}
    )


def kept_below(
    *, kind: str, where: Q, records: QuerySet[CertificateRecord], edges: Sequence[datetime]
) -> tuple[list[int], int]:
    """How many listed records of ``kind`` ("ready": by notAfter; "checked": by last checked)
    of the products ``where`` selects fall before each of ``edges``, and how many there are.

    ``records`` are the same products' records of that kind (ready and listed, or checked and
    listed): the part of each edge's own day before it is counted from them, by an index range.
    """
    field = _DAY_FIELDS[kind]
    days = [edge.astimezone(UTC).date() for edge in edges]
    # Each day's count (a product's rows of a day summed), then the days before each edge from
    # their running total: a thousand rows or so, where one aggregate per edge cost more to
    # build than to count.
    per_day = (
        ProductDayCounts.objects.filter(where)
        .values_list("day")
        .annotate(count=Sum(kind))
        .order_by("day")
    )
    starts, running, total = [], [0], 0
    for day, count in per_day:
        starts.append(day)
        total += count
        running.append(total)
    ranges = {}
    for index, (edge, day) in enumerate(zip(edges, days, strict=True)):
        midnight = datetime.combine(day, time(), tzinfo=UTC)
        if edge > midnight:  # an edge at midnight has no part of its day before it
            ranges[index] = (midnight, edge)
    partial = _range_counts(records, field=field, ranges=ranges)
    below = [
        running[bisect_left(starts, day)] + partial.get(index, 0) for index, day in enumerate(days)
    ]
    return below, total


# Two instants no record holds: where a range's bounds go in the query compiled once.
_START, _END = datetime(1, 1, 2, tzinfo=UTC), datetime(1, 1, 3, tzinfo=UTC)


def _range_counts(
    records: QuerySet[CertificateRecord],
    *,
    field: str,
    ranges: dict[int, tuple[datetime, datetime]],
) -> dict[int, int]:
    """How many of ``records`` have ``field`` in each [start, end) of ``ranges`` (by key), in
    one query of index range counts, one per range (``UNION ALL``). The range's query is
    compiled once and given each range's bounds: a queryset built per range cost more than its
    count (25 of them for the chart's months)."""
    if not ranges:
        return {}
    query = records.order_by().filter(**{f"{field}__gte": _START, f"{field}__lt": _END})
    sql, params = query.values(field).query.sql_with_params()
    adapt = connection.ops.adapt_datetimefield_value
    bounds = {adapt(_START): 0, adapt(_END): 1}
    places = [(position, bounds[param]) for position, param in enumerate(params) if param in bounds]
    assert sorted(side for _position, side in places) == [0, 1], "one start and one end"
    parts, values = [], []
    for key, ends in ranges.items():
        given = list(params)
        for position, side in places:
            given[position] = adapt(ends[side])
        parts.append(f"SELECT {int(key)}, COUNT(*) FROM ({sql}) AS part{int(key)}")  # noqa: S608
        values += given
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), values)
        return dict(cursor.fetchall())


def expiry_counts_kept(
    records: QuerySet[CertificateRecord], *, where: Q, now: datetime
) -> dict[str, int]:
    """``expiry.expiry_counts`` of the listed records of the products ``where`` selects
    (``records``: those records, ``selectors.inventory_scope`` without device filters), from
    the kept counts."""
    totals = kept_totals(where)
    edges = [now, *(days_left_edge(days, now=now) for _window, days in WINDOWS)]
    below, ready = kept_below(
        kind="ready", where=where, records=records.filter(READY_Q), edges=edges
    )
    counts = dict.fromkeys(STATE_LABELS, 0)
    for state in ("never", "failed", "not_issued"):
        counts[state] = totals[state]
    counts["expired"] = below[0]
    for (window, _days), (start, end) in zip(WINDOWS, pairwise(below), strict=True):
        counts[window] = end - start
    counts["days_over_90"] = ready - below[-1]
    return counts


def expiry_month_counts_kept(
    records: QuerySet[CertificateRecord], *, where: Q, now: datetime, months: int = 24
) -> list[int]:
    """``expiry_chart.expiry_month_counts`` of the same records as ``expiry_counts_kept``,
    from the kept counts."""
    starts = expiry_month_starts(now=now, months=months)
    below, _ready = kept_below(
        kind="ready", where=where, records=records.filter(READY_Q), edges=starts
    )
    return [end - start for start, end in pairwise(below)]
