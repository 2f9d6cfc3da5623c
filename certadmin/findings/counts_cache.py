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
- the next end of a suppression: the clock moves a value only there (a finding whose
  suppression ends is open again), so the key changes the moment one ends, and a value stays
  while none does. (It was the current minute: every key then changed every minute, and all
  the page's readers worked its 130,000 counts out again at once, a minute behind at worst.)

The key is read in one query, the indexes answer each part (the next end from
``finding_suppression_end``). A write is never behind.

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
from django.db import connection
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe

from certadmin.findings.models import Finding, FindingsVersion
from certadmin.findings.selectors import findings_counts, findings_filtered

# A key changes with every write and suppression end; this only bounds the memory of old ones.
CACHE_SECONDS = 600


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
        versions = _key_rows(visible=self._visible, now=self._now)
        if not versions:
            return None
        scope = (self._visible, sorted(self._filters.items()))
        digest = hashlib.sha256(repr((scope, versions)).encode()).hexdigest()
        return f"findings:{digest}"

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


def _key_rows(*, visible: Sequence[str], now: datetime) -> list[tuple]:
    """Each version of the ``visible`` accounts' products, each row with the newest finding's
    id and the next end of an open finding's suppression after ``now`` (scalar subqueries that
    do not depend on the row: each database works them out once, from the primary key and
    ``finding_suppression_end``). One query, written out here: read on every view of the page,
    the ORM took longer to build it than the database to answer it."""
    finding, version = Finding._meta.db_table, FindingsVersion._meta.db_table
    accounts = ", ".join(["%s"] * len(visible))
    # (The tables' names come from the models; every value is a parameter.)
    sql = (
        "SELECT account, product_key, iot_instance_id, version,"  # noqa: S608
        f" (SELECT id FROM {finding} ORDER BY id DESC LIMIT 1),"
        f" (SELECT suppressed_until FROM {finding}"
        "   WHERE closed_at IS NULL AND suppressed_until > %s"
        "   ORDER BY suppressed_until LIMIT 1)"
        f" FROM {version} WHERE account IN ({accounts})"
        " ORDER BY account, product_key, iot_instance_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [connection.ops.adapt_datetimefield_value(now), *visible])
        return cursor.fetchall()
