"""The fleet-health page's counts and rows, cached under the findings' versions, so that a page
view neither counts every open finding again nor reads, orders and writes out its rows while
none changed (130,000 findings: 100 ms a view for the counts; the rows were then most of it).

Every write to findings gives its product a new random ``FindingsVersion`` in the same
transaction (``versions.findings_changed``: a run's changes and refreshes, and
``suppressions_apply`` after every change of suppressions). A cached value's key holds:

- the accounts the person may see and the page's filters (account, product, code, severities,
  state): a value is never read by a person with other accounts;
- the versions of every product of those accounts that has one, and the newest finding's key
  (a finding written around the run, e.g. by a bulk load, still changes the key);
- the current minute: whether a finding is suppressed moves with the clock (its suppression's
  end), so a cached value is at most one minute behind it. A write is never behind.

The page's counts, rows (``rows.finding_rows_html``) and links, written out, are also keyed
by the page's query (filters and page number), the active language and time zone and what the
rows show differently per person (the *Suppress* links, the account). Nothing is cached while
no product of those accounts has a version (only findings written around the runs: migration
0005 gave every product with findings from before versions one). Inventory writes do not touch
findings: the values stay cached across them. Only counts and findings are cached: public names
and numbers, nothing secret.
"""

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime

from django.core.cache import cache
from django.db.models import Max
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe

from certadmin.findings.models import Finding, FindingsVersion
from certadmin.findings.selectors import findings_counts, findings_filtered

CACHE_SECONDS = 120  # a key changes every minute anyway; this only bounds the memory


class FindingsPageCache:
    """What the fleet page shows of the findings of ``accounts`` (and the CA bundle's) that
    the filters select (``findings_filtered``' arguments) at ``now``: one key for them, worked
    out once (two queries the indexes answer), for the counts and each page's rows."""

    def __init__(
        self,
        *,
        accounts: Sequence[str],
        now: datetime,
        account: str = "",
        product_key: str = "",
        code: str = "",
        severities: Sequence[int] = (),
        state: str = "open",
    ) -> None:
        self._visible = sorted({*accounts, ""})
        self._now = now
        self._filters = {
            "account": account,
            "product_key": product_key,
            "code": code,
            "severities": sorted(severities),
            "state": state,
        }
        self._key = self._key_made()

    def _key_made(self) -> str | None:
        versions = list(
            FindingsVersion.objects.filter(account__in=self._visible)
            .order_by("account", "product_key", "iot_instance_id")
            .values_list("account", "product_key", "iot_instance_id", "version")
        )
        if not versions:
            return None
        newest = Finding.objects.aggregate(newest=Max("pk"))["newest"]
        scope = (self._visible, sorted(self._filters.items()))
        digest = hashlib.sha256(repr((scope, versions, newest)).encode()).hexdigest()
        return f"findings:{digest}:{int(self._now.timestamp() // 60)}"

    def _cached(self, part: str, make: Callable[[], object]):
        if self._key is None:
            return make()
        return cache.get_or_set(f"{self._key}:{part}", make, CACHE_SECONDS)

    def counts(self) -> list[dict]:
        """``findings_counts`` of the selected findings."""
        return self._cached(
            "counts",
            lambda: findings_counts(
                findings_filtered(
                    Finding.objects.filter(account__in=self._visible),
                    now=self._now,
                    **self._filters,
                )
            ),
        )

    def results_html(
        self, *, query: str, may_suppress: bool, show_accounts: bool, made: Callable[[], str]
    ) -> SafeString:
        """The page's counts, rows and links as ``made()`` writes them for the page's
        ``query`` (its filters and page number), in the active language and time zone, with or
        without the *Suppress* links and the account."""
        shown = (
            translation.get_language(),
            timezone.get_current_timezone_name(),
            may_suppress,
            show_accounts,
        )
        digest = hashlib.sha256(repr((query, shown)).encode()).hexdigest()[:32]
        return mark_safe(self._cached(f"results:{digest}", made))  # noqa: S308 (escaped when made)
