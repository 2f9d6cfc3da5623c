"""Reading findings: what a person may see, filtered, counted and in risk order."""

from collections.abc import Sequence
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from certadmin.accounts.api_accounts import accounts_for
from certadmin.findings.models import OPEN_Q, Finding, Suppression
from certadmin.findings.suppressions import suppression_active_q

# Which findings a list shows: open ones nobody suppressed (what needs attention), suppressed
# ones, closed ones, or all.
STATES = ("open", "suppressed", "closed", "all")
# The riskiest first: severity, then the device's rank (online before others), then the oldest.
RISK_ORDER = ("-severity", "-device_rank", "first_seen", "product_key", "device_name", "code")


def suppressed_q(now: datetime) -> Q:
    return OPEN_Q & Q(suppressed_until__gt=now)


def findings_visible(*, user) -> QuerySet[Finding]:
    """The findings of the API accounts ``user`` may use, and those of no account (the CA
    bundle's). The role a view needs is checked by the view."""
    names = [account.name for account in accounts_for(user=user)]
    # One IN list, not an OR of two tests: each database then reads only the findings of these
    # accounts from one index (finding_open_counts) instead of merging two searches.
    return Finding.objects.filter(account__in=[*names, ""])


def findings_filtered(
    findings: QuerySet[Finding],
    *,
    now: datetime,
    account: str = "",
    product_key: str = "",
    code: str = "",
    severities: Sequence[int] = (),
    state: str = "open",
) -> QuerySet[Finding]:
    """``findings`` narrowed by each filter given ("" or empty: any), in risk order."""
    if account:
        findings = findings.filter(account=account)
    if product_key:
        findings = findings.filter(product_key=product_key)
    if code:
        findings = findings.filter(code=code)
    if severities:
        findings = findings.filter(severity__in=severities)
    if state == "open":
        # Open and not suppressed at ``now``: among open findings, the complement of
        # suppressed_q, spelled without closed_at so an index of open findings answers alone.
        findings = findings.filter(
            OPEN_Q, Q(suppressed_until__isnull=True) | Q(suppressed_until__lte=now)
        )
    elif state == "suppressed":
        findings = findings.filter(suppressed_q(now))
    elif state == "closed":
        findings = findings.filter(closed_at__isnull=False)
    return findings.order_by(*RISK_ORDER)


def findings_counts(findings: QuerySet[Finding]) -> list[dict]:
    """How many of ``findings`` per account, product, code and severity, the worst first."""
    return list(
        findings.order_by()
        .values("account", "product_key", "iot_instance_id", "code", "severity")
        # COUNT(*): every column the query names is in finding_open_counts, the index answers.
        .annotate(count=Count("*"))
        .order_by("-severity", "account", "product_key", "iot_instance_id", "code")
    )


def device_findings_list(
    *, account: str, product_key: str, iot_instance_id: str, device_name: str
) -> list[Finding]:
    """A device's open findings, the worst first (the certificate page's card)."""
    return list(
        Finding.objects.filter(
            OPEN_Q,
            account=account,
            product_key=product_key,
            iot_instance_id=iot_instance_id,
            device_name=device_name,
        ).order_by(*RISK_ORDER)[:50]
    )


def suppressions_visible(*, user, now: datetime) -> QuerySet[Suppression]:
    """The active suppressions of the accounts ``user`` may use, ending soonest first."""
    names = [account.name for account in accounts_for(user=user)]
    return Suppression.objects.filter(suppression_active_q(now), account__in=names).order_by(
        "ends_at", "product_key", "device_name"
    )
