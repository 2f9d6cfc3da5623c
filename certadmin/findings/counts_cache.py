"""The fleet-health page's counts, cached under the findings' versions, so that a page view does
not count every open finding again while none changed (130,000 findings: 100 ms a view).

Every write to findings gives its product a new random ``FindingsVersion`` in the same
transaction (``versions.findings_changed``: a run's changes and refreshes, and
``suppressions_apply`` after every change of suppressions). A cached value's key holds:

- the accounts the person may see and the page's filters (account, product, code, severities,
  state);
- the versions of every product of those accounts that has one, and the newest finding's key
  (a finding written around the run, e.g. by a bulk load, still changes the key);
- the current minute: whether a finding is suppressed moves with the clock (its suppression's
  end), so a cached value is at most one minute behind it. A write is never behind.

Nothing is cached while no product of those accounts has a version (no findings written since
versions came); a product's findings from before then stay as they are until a write, which
gives it one. Inventory writes do not touch findings: the counts stay cached across them. Only
counts are cached: public numbers, nothing secret.
"""

import hashlib
from collections.abc import Sequence
from datetime import datetime

from django.core.cache import cache
from django.db.models import Max

from certadmin.findings.models import Finding, FindingsVersion
from certadmin.findings.selectors import findings_counts, findings_filtered

CACHE_SECONDS = 120  # a key changes every minute anyway; this only bounds the memory


def findings_counts_cached(
    *,
    accounts: Sequence[str],
    now: datetime,
    account: str = "",
    product_key: str = "",
    code: str = "",
    severities: Sequence[int] = (),
    state: str = "open",
) -> list[dict]:
    """``findings_counts`` of the findings of ``accounts`` (and the CA bundle's) that the
    filters select (``findings_filtered``' arguments), cached under their versions and the
    minute."""
    visible = sorted({*accounts, ""})

    def counted() -> list[dict]:
        findings = Finding.objects.filter(account__in=visible)
        return findings_counts(
            findings_filtered(
                findings,
                now=now,
                account=account,
                product_key=product_key,
                code=code,
                severities=severities,
                state=state,
            )
        )

    versions = list(
        FindingsVersion.objects.filter(account__in=visible)
        .order_by("account", "product_key", "iot_instance_id")
        .values_list("account", "product_key", "iot_instance_id", "version")
    )
    if not versions:
        return counted()
    newest = Finding.objects.aggregate(newest=Max("pk"))["newest"]
    scope = (visible, account, product_key, code, sorted(severities), state)
    digest = hashlib.sha256(repr((scope, versions, newest)).encode()).hexdigest()
    key = f"findings:counts:{digest}:{int(now.timestamp() // 60)}"
    value = cache.get(key)
    if value is None:
        value = counted()
        cache.set(key, value, CACHE_SECONDS)
    return value
