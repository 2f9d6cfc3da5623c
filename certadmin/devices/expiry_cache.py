"""The expiry overview's counts and chart, cached under the inventory's version, so that a page
view does not work them out again while nothing changed.

Worked out, on a miss, from the counts the database keeps in step with the records
(``devices.kept_counts``: a few rows per product and the records of the days an edge falls in)
for one product or every product; a device filter (status, node type) narrows what those counts
hold, so a filtered overview counts the records (``expiry.expiry_counts``), as before.

Every write to ``CertificateRecord`` gives its product (API account, ProductKey, instance) a new
random ``InventoryVersion`` in the same transaction (``inventory.inventory_changed``, called by
each writer: ``inventory_store``, ``inventory_store_failure``, ``inventory_listing_store``, and
by ``inventory_mark_removed`` and ``inventory_unlisted_mark_removed``). A cached value's key
holds:

- the scope: the account, product and instance, or the sorted list of accounts for "every
  product" (so no two scopes share a value), and the device filters (status, node type);
- the versions of every product in the scope (read BEFORE the counts: a write that lands while
  the counts are being made only makes the value fresher than its key says);
- the current minute and time zone: the states and the chart's months move with the clock, so a
  cached value is at most one minute behind it (a certificate that expired 30 s ago may still
  count as "0–7 days" for up to a minute). A write is never behind: it changes the key.

A scope without any version row (records written around the inventory functions, e.g. a bulk
load) is not cached. Only counts are cached: public numbers, nothing secret.
"""

import hashlib
from collections.abc import Callable
from datetime import datetime

from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone

from certadmin.devices.expiry import expiry_counts
from certadmin.devices.expiry_chart import expiry_month_counts
from certadmin.devices.kept_counts import (
    expiry_counts_kept,
    expiry_month_counts_kept,
    kept_where,
)
from certadmin.devices.models import CertificateRecord, InventoryVersion, default_account_name
from certadmin.devices.selectors import inventory_products, inventory_scope

CACHE_SECONDS = 120  # a key changes every minute anyway; this only bounds the memory
# "Every product" is cached only for accounts with at most this many products each.
PRODUCTS_CACHED = 1000


def _scope_versions(
    *, product_key: str | None, iot_instance_id: str, account: str, accounts: list[str] | None
) -> str | None:
    """The scope and its products' versions as one cache key part; None when a product of the
    scope has no version (nothing to key on: not cached)."""
    versions = InventoryVersion.objects.order_by("account", "product_key", "iot_instance_id")
    if product_key is not None:
        account = account or default_account_name()
        scope = ["product", account, product_key, iot_instance_id]
        rows = list(
            versions.filter(
                account=account, product_key=product_key, iot_instance_id=iot_instance_id
            ).values_list("version", flat=True)
        )
        if not rows:
            return None
    else:
        if accounts is None:
            return None
        scope = ["accounts", *sorted(accounts)]
        rows = list(
            versions.filter(account__in=accounts).values_list(
                "account", "product_key", "iot_instance_id", "version"
            )
        )
        # Every product in the scope must have a version, else its writes would go unseen:
        # the products are listed from the inventory's index (one probe per product).
        versioned = {(name, product, instance) for name, product, instance, _version in rows}
        for name in accounts:
            products = inventory_products(account=name, limit=PRODUCTS_CACHED + 1)
            if len(products) > PRODUCTS_CACHED:
                return None
            if any((name, product, instance) not in versioned for product, instance in products):
                return None
    return hashlib.sha256(repr((scope, rows)).encode()).hexdigest()


def _cached[T](kind: str, scope: dict, now: datetime, compute: Callable[[], T]) -> T:
    versions = _scope_versions(
        product_key=scope.get("product_key"),
        iot_instance_id=scope.get("iot_instance_id", ""),
        account=scope.get("account", ""),
        accounts=None if scope.get("accounts") is None else list(scope["accounts"]),
    )
    if versions is None:
        return compute()
    minute = int(now.timestamp() // 60)
    # The device filters narrow the counts: each choice is a value of its own.
    narrowed = hashlib.sha256(
        repr((sorted(scope.get("device_statuses") or ()), scope.get("node_type"))).encode()
    ).hexdigest()[:16]
    key = f"expiry:{kind}:{versions}:{narrowed}:{minute}:{timezone.get_current_timezone_name()}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, CACHE_SECONDS)
    return value


def _scope_records(scope: dict) -> QuerySet[CertificateRecord]:
    # Every product: SQLite, without statistics, took the account's ready index (account,
    # product, instance, then notAfter) for the account filter and read every record of the
    # account for each notAfter range (the chart's 24 months: 0.6 s at 100,000 records); the
    # ready index led by notAfter (``certrecord_ready_listed``) reads each range alone.
    return inventory_scope(**scope, scope_indexed=scope.get("product_key") is not None)


def _counts_kept(scope: dict) -> bool:
    """Whether the database's kept counts (``devices.kept_counts``) answer for ``scope``."""
    return kept_where(scope) is not None


def expiry_counts_cached(*, scope: dict, now: datetime) -> dict[str, int]:
    """``expiry_counts`` of the records in ``scope`` (``inventory_scope``'s arguments),
    cached under the scope's inventory version and the minute."""

    def compute() -> dict[str, int]:
        records = _scope_records(scope)
        if _counts_kept(scope):
            return expiry_counts_kept(records, where=kept_where(scope), now=now)
        return expiry_counts(records, now=now)

    return _cached("counts", scope, now, compute)


def expiry_month_counts_cached(*, scope: dict, now: datetime, months: int = 24) -> list[int]:
    """``expiry_month_counts`` of the records in ``scope``, cached like the counts."""

    def compute() -> list[int]:
        records = _scope_records(scope)
        if _counts_kept(scope):
            return expiry_month_counts_kept(
                records, where=kept_where(scope), now=now, months=months
            )
        return expiry_month_counts(records, now=now, months=months)

    return _cached(f"months{months}", scope, now, compute)
