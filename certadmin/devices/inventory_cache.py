"""Values worked out from the inventory, cached under its version, so that a page view does not
work them out again while nothing changed: the expiry overview's counts and chart
(``expiry_cache``), a product's coverage and the device list's table (``views.search``).

Every write to ``CertificateRecord`` gives its product (API account, ProductKey, instance) a new
random ``InventoryVersion`` in the same transaction (``inventory.inventory_changed``, called by
each writer: ``inventory_store``, ``inventory_store_failure``, ``inventory_listing_store``, and
by ``inventory_mark_removed`` and ``inventory_unlisted_mark_removed``). A cached value's key
holds:

- the scope: the account, product and instance, or the sorted list of accounts for "every
  product" (so no two scopes share a value);
- the versions of every product in the scope (read BEFORE the value is made: a write that lands
  while it is being made only makes the value fresher than its key says);
- the current minute and time zone: expiry states, days left and staleness move with the clock,
  so a cached value is at most one minute behind it (a certificate that expired 30 s ago may
  still count as "0–7 days" for up to a minute). A write is never behind: it changes the key;
- what else the caller says the value varies by (``varies``: filters, page, sort, language,
  the accounts the person may use).

A scope without any version row (records written around the inventory functions, e.g. a bulk
load) is not cached. Only public data is cached: counts, names, dates, never key material.
"""

import hashlib
from collections.abc import Callable, Hashable
from dataclasses import replace
from datetime import datetime

from django.core.cache import cache
from django.utils import timezone

from certadmin.devices.compiled import CompiledOnce
from certadmin.devices.models import InventoryVersion, default_account_name
from certadmin.devices.selectors import (
    ProductInventory,
    inventory_products,
    product_coverage,
    product_inventory,
)

CACHE_SECONDS = 120  # a key changes every minute anyway; this only bounds the memory
# "Every product" is cached only for accounts with at most this many products each.
PRODUCTS_CACHED = 1000


# One product's version, read on every view of its pages: compiled once.
_PRODUCT_VERSION = CompiledOnce(
    lambda **product: InventoryVersion.objects.filter(**product).order_by().values("version"),
    account="\x01account",
    product_key="\x01product",
    iot_instance_id="\x01instance",
)


def _scope_versions(
    *, product_key: str | None, iot_instance_id: str, account: str, accounts: list[str] | None
) -> str | None:
    """The scope and its products' versions as one cache key part; None when a product of the
    scope has no version (nothing to key on: not cached)."""
    if product_key is not None:
        account = account or default_account_name()
        scope = ["product", account, product_key, iot_instance_id]
        rows = [
            row["version"]
            for row in _PRODUCT_VERSION.rows(
                account=account, product_key=product_key, iot_instance_id=iot_instance_id
            )
        ]
        if not rows:
            return None
    else:
        if accounts is None:
            return None
        scope = ["accounts", *sorted(accounts)]
        rows = list(
            InventoryVersion.objects.filter(account__in=accounts)
            .order_by("account", "product_key", "iot_instance_id")
            .values_list("account", "product_key", "iot_instance_id", "version")
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


class InventoryCache:
    """Values of the records in ``scope`` (``inventory_scope``'s arguments: ``product_key``,
    ``iot_instance_id`` and ``account``, or ``accounts`` for every product) at ``now``: the
    scope's versions read once, for every value a page asks of it."""

    def __init__(self, *, scope: dict, now: datetime) -> None:
        versions = _scope_versions(
            product_key=scope.get("product_key"),
            iot_instance_id=scope.get("iot_instance_id", ""),
            account=scope.get("account", ""),
            accounts=None if scope.get("accounts") is None else list(scope["accounts"]),
        )
        minute = int(now.timestamp() // 60)
        self._key = (
            None
            if versions is None
            else f"{versions}:{minute}:{timezone.get_current_timezone_name()}"
        )

    def cached[T](self, kind: str, compute: Callable[[], T], *, varies: Hashable = ()) -> T:
        """``compute()``'s value, cached under the scope's versions, the minute, the time zone
        and ``varies``; worked out afresh for a scope that has no version."""
        if self._key is None:
            return compute()
        varied = hashlib.sha256(repr(varies).encode()).hexdigest()[:32]
        return cache.get_or_set(f"inventory:{kind}:{self._key}:{varied}", compute, CACHE_SECONDS)


def product_inventory_cached(
    *, product_key: str, iot_instance_id: str, account: str, cached: InventoryCache
) -> ProductInventory:
    """``selectors.product_inventory``, its coverage from ``cached`` (the product's cache): the
    sync and the running sync are read afresh (they change without an inventory write)."""
    scope = {"product_key": product_key, "iot_instance_id": iot_instance_id, "account": account}
    product = product_inventory(**scope, coverage=False)
    if not product.synced:
        return product
    return replace(product, coverage=cached.cached("coverage", lambda: product_coverage(**scope)))
