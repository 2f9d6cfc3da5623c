"""The expiry overview's counts and chart, cached under the inventory's version
(``inventory_cache.InventoryCache``: keyed also by the device filters), so that a page view does
not work them out again while nothing changed.

Worked out, on a miss, from the counts the database keeps in step with the records
(``devices.kept_counts``: a few rows per product and the records of the days an edge falls in)
for one product or every product; a device filter (status, node type) narrows what those counts
hold, so a filtered overview counts the records (``expiry.expiry_counts``), as before.
"""

from collections.abc import Callable
from datetime import datetime

from django.db.models import QuerySet

from certadmin.devices.expiry import expiry_counts
from certadmin.devices.expiry_chart import expiry_month_counts
from certadmin.devices.inventory_cache import InventoryCache
from certadmin.devices.kept_counts import (
    expiry_counts_kept,
    expiry_month_counts_kept,
    kept_where,
)
from certadmin.devices.models import CertificateRecord
from certadmin.devices.selectors import inventory_scope


def _cached[T](
    kind: str, scope: dict, now: datetime, compute: Callable[[], T], cached: InventoryCache | None
) -> T:
    # The device filters narrow the counts: each choice is a value of its own.
    narrowed = (sorted(scope.get("device_statuses") or ()), scope.get("node_type"))
    cached = cached or InventoryCache(scope=scope, now=now)
    return cached.cached(kind, compute, varies=narrowed)


def _scope_records(scope: dict) -> QuerySet[CertificateRecord]:
    # Every product: SQLite, without statistics, took the account's ready index (account,
    # product, instance, then notAfter) for the account filter and read every record of the
    # account for each notAfter range (the chart's 24 months: 0.6 s at 100,000 records); the
    # ready index led by notAfter (``certrecord_ready_listed``) reads each range alone.
    return inventory_scope(**scope, scope_indexed=scope.get("product_key") is not None)


def _counts_kept(scope: dict) -> bool:
    """Whether the database's kept counts (``devices.kept_counts``) answer for ``scope``."""
    return kept_where(scope) is not None


def expiry_counts_cached(
    *, scope: dict, now: datetime, cached: InventoryCache | None = None
) -> dict[str, int]:
    """``expiry_counts`` of the records in ``scope`` (``inventory_scope``'s arguments),
    cached under the scope's inventory version and the minute (``cached``: the scope's cache
    at ``now`` when the caller has it, so that the versions are read once a view)."""

    def compute() -> dict[str, int]:
        records = _scope_records(scope)
        if _counts_kept(scope):
            return expiry_counts_kept(records, where=kept_where(scope), now=now)
        return expiry_counts(records, now=now)

    return _cached("counts", scope, now, compute, cached)


def expiry_month_counts_cached(
    *, scope: dict, now: datetime, months: int = 24, cached: InventoryCache | None = None
) -> list[int]:
    """``expiry_month_counts`` of the records in ``scope``, cached like the counts."""

    def compute() -> list[int]:
        records = _scope_records(scope)
        if _counts_kept(scope):
            return expiry_month_counts_kept(
                records, where=kept_where(scope), now=now, months=months
            )
        return expiry_month_counts(records, now=now, months=months)

    return _cached(f"months{months}", scope, now, compute, cached)
