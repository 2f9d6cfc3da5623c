"""A findings run: the checks over the inventory, kept as findings.

For each product (API account, ProductKey, instance) in scope, the run reads the inventory's
records a chunk at a time (the columns the checks need, never the PEM but to lint a certificate
not linted before), works out what is wrong with each, and compares that with the product's open
findings: a new problem opens a finding, one still there gets a new ``last_seen`` (and its new
severity, if it changed), one gone is closed. The CA bundle's certificates are checked in the
same way, as findings of no product. A product no longer in the inventory has its findings
closed by the full (daily) run.

Runs after every finished product sync (that product) and daily (every product): see ``apps``
and ``tasks``. Higher apps learn that a run finished through ``findings_run_observer_use``
(notifications send what it found).
"""

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from certadmin.certs.loading import CertificateDecodeError, load_certificate
from certadmin.devices.models import LISTED_Q, CertificateRecord
from certadmin.devices.platform import ca_certificates
from certadmin.findings.checks import record_findings
from certadmin.findings.checks.chain import ca_expiring_findings
from certadmin.findings.checks.facts import (
    RECORD_FIELDS,
    CheckPolicy,
    Observed,
    RecordFacts,
    RunContext,
)
from certadmin.findings.checks.generation import GENERATING
from certadmin.findings.checks.lint import certificate_lint, linter_version
from certadmin.findings.models import OPEN_Q, Finding, LintResult, PendingGeneration
from certadmin.findings.suppressions import suppressions_apply

logger = logging.getLogger(__name__)

CHUNK = 5000
ID_BATCH = 900  # ids per "IN (…)": under SQLite's old 999-variable limit


@dataclass
class RunSummary:
    """What one run did, for logs, the command and tests."""

    products: int = 0
    records: int = 0
    opened: int = 0
    refreshed: int = 0
    changed: int = 0
    closed: int = 0
    linted: int = 0
    # Certificates left for a later run once this run's lint budget was spent.
    lint_deferred: int = 0
    seconds: float = 0.0
    open_by_code: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ProductScope:
    account: str
    product_key: str
    iot_instance_id: str

    def filter(self) -> dict[str, str]:
        return {
            "account": self.account,
            "product_key": self.product_key,
            "iot_instance_id": self.iot_instance_id,
        }


# The findings of no product (the CA bundle's).
BUNDLE_SCOPE = ProductScope("", "", "")

# Called with each finished run's summary (``findings_run_observer_use``).
_run_observers: list[Callable[[RunSummary], None]] = []


def findings_run_observer_use(observer: Callable[[RunSummary], None]) -> None:
    """Call ``observer(summary)`` after every findings run (a higher app's ``ready`` plugs
    itself in here, once)."""
    if observer not in _run_observers:
        _run_observers.append(observer)


def policy_from_settings() -> CheckPolicy:
    """The checks' settings (CERTADMIN_FINDINGS_*, see docs/fleet-watch.md)."""
    max_age = settings.FINDINGS_MAX_AGE_DAYS
    return CheckPolicy(
        expiring_windows=tuple(sorted(settings.FINDINGS_EXPIRING_DAYS, reverse=True)),
        ca_expiring_days=settings.FINDINGS_CA_EXPIRING_DAYS,
        generating_after=timedelta(hours=settings.FINDINGS_GENERATING_HOURS),
        max_age=timedelta(days=max_age) if max_age else None,
        freshness=timedelta(days=settings.SYNC_RECHECK_DAYS),
        lint_warnings=settings.FINDINGS_LINT_WARNINGS,
    )


def findings_run(
    *,
    account: str | None = None,
    product_key: str | None = None,
    iot_instance_id: str | None = None,
    now: datetime | None = None,
    policy: CheckPolicy | None = None,
) -> RunSummary:
    """Run every check over the products in scope (all when no ``product_key``) and the CA
    bundle, and keep the findings. ``account`` "" is the default account."""
    started = timezone.now()
    now = now or started
    policy = policy or policy_from_settings()
    summary = RunSummary()
    full = product_key is None
    if full:
        products = _products_everywhere(account)
    else:
        products = [
            ProductScope(
                account or settings.IOT_DEFAULT_ACCOUNT, product_key, iot_instance_id or ""
            )
        ]
    shared_keys = _shared_keys()
    lint_budget = [settings.FINDINGS_LINT_PER_RUN]
    for scope in products:
        summary.products += 1
        observed = _product_observed(
            scope,
            now=now,
            policy=policy,
            shared_keys=shared_keys,
            lint_budget=lint_budget,
            summary=summary,
        )
        _reconcile(scope, observed, now=now, summary=summary)
    bundle = {
        o.key: o
        for o in ca_expiring_findings(
            ca_certificates(), now=now, within_days=policy.ca_expiring_days
        )
    }
    _reconcile(BUNDLE_SCOPE, bundle, now=now, summary=summary)
    findings_statistics_refresh()
    summary.seconds = (timezone.now() - started).total_seconds()
    logger.info(
        "findings run: %s products, %s records, %s opened, %s closed",
        summary.products,
        summary.records,
        summary.opened,
        summary.closed,
        extra={
            "event": "findings_run",
            **{k: v for k, v in vars(summary).items() if k != "open_by_code"},
        },
    )
    for observer in _run_observers:
        observer(summary)
    return summary


def findings_statistics_refresh() -> None:
    """Refresh the query planner's statistics of the findings (ANALYZE), as a run has just
    opened and closed them in bulk. Without them SQLite guesses that the account picks few
    findings, and the fleet-health page searched every open finding by account and sorted them
    (a second at 130,000 findings) instead of reading a page in risk order from
    ``finding_open_risk`` (50 ms). SQLite reads every row (``analysis_limit`` 0): a sample of
    the first ones sees one account and estimates a thousand findings per account."""
    table = connection.ops.quote_name(Finding._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA analysis_limit = 0")
        cursor.execute(f"ANALYZE {table}")


def _products_everywhere(account: str | None) -> list[ProductScope]:
    """Every product of the inventory, and every product that still has open findings (gone
    from the inventory: its findings close)."""
    records = CertificateRecord.objects.filter(LISTED_Q)
    findings = Finding.objects.filter(OPEN_Q).exclude(product_key="")
    if account is not None:
        name = account or settings.IOT_DEFAULT_ACCOUNT
        records = records.filter(account=name)
        findings = findings.filter(account=name)
    columns = ("account", "product_key", "iot_instance_id")
    seen = set(records.values_list(*columns).distinct())
    seen.update(findings.values_list(*columns).distinct())
    return [ProductScope(*key) for key in sorted(seen)]


def _shared_keys() -> dict[str, int]:
    """Public keys on more than one device of the whole inventory, with how many devices."""
    return dict(
        CertificateRecord.objects.filter(LISTED_Q)
        .exclude(public_key_sha256="")
        .values("public_key_sha256")
        .annotate(devices=Count("pk"))
        .filter(devices__gt=1)
        .values_list("public_key_sha256", "devices")
    )


def _generating_since(scope: ProductScope, *, now: datetime) -> dict[str, datetime]:
    """Since when each of the product's certificates being generated has been seen so: new ones
    from now, those no longer generating forgotten."""
    generating = set(
        CertificateRecord.objects.filter(LISTED_Q, **scope.filter(), status=GENERATING).values_list(
            "device_name", flat=True
        )
    )
    known = PendingGeneration.objects.filter(**scope.filter())
    with transaction.atomic():
        known.exclude(device_name__in=generating).delete() if generating else known.delete()
        PendingGeneration.objects.bulk_create(
            [
                PendingGeneration(**scope.filter(), device_name=name, since=now)
                for name in generating
            ],
            ignore_conflicts=True,
        )
    return dict(known.values_list("device_name", "since")) if generating else {}


def _product_observed(
    scope: ProductScope,
    *,
    now: datetime,
    policy: CheckPolicy,
    shared_keys: dict[str, int],
    lint_budget: list[int],
    summary: RunSummary,
) -> dict[tuple[str, str, str], Observed]:
    generating_since = _generating_since(scope, now=now)
    observed: dict[tuple[str, str, str], Observed] = {}
    records = (
        CertificateRecord.objects.filter(LISTED_Q, **scope.filter())
        .order_by()
        .values_list(*RECORD_FIELDS)
    )
    for chunk in _chunks(records.iterator(chunk_size=CHUNK), CHUNK):
        facts = [RecordFacts._make(row) for row in chunk]
        summary.records += len(facts)
        lint_problems = _lint_results(
            scope,
            [f.sha256_fingerprint for f in facts if f.sha256_fingerprint],
            budget=lint_budget,
            summary=summary,
        )
        context = RunContext(
            now=now,
            policy=policy,
            shared_keys=shared_keys,
            generating_since=generating_since,
            lint_problems=lint_problems,
        )
        for record in facts:
            for found in record_findings(record, context):
                observed[found.key] = found
    return observed


def _chunks(rows: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _lint_results(
    scope: ProductScope, fingerprints: list[str], *, budget: list[int], summary: RunSummary
) -> dict[str, list]:
    """The lint problems of these certificates: kept results of this pkilint version, and the
    certificates not linted yet linted now (as many as the run's budget allows)."""
    version = linter_version()
    wanted = set(fingerprints)
    results = {}
    for batch in _batches(sorted(wanted)):
        results.update(
            LintResult.objects.filter(
                sha256_fingerprint__in=batch, linter_version=version
            ).values_list("sha256_fingerprint", "problems")
        )
    missing = sorted(wanted - results.keys())
    allowed, deferred = missing[: max(budget[0], 0)], missing[max(budget[0], 0) :]
    summary.lint_deferred += len(deferred)
    if not allowed:
        return results
    linted = []
    for batch in _batches(allowed):
        texts = dict(
            CertificateRecord.objects.filter(**scope.filter(), sha256_fingerprint__in=batch)
            .exclude(certificate="")
            .values_list("sha256_fingerprint", "certificate")
        )
        for fingerprint, text in texts.items():
            try:
                der = load_certificate(text).public_bytes(serialization.Encoding.DER)
            except CertificateDecodeError:
                continue
            problems = certificate_lint(der)
            results[fingerprint] = problems
            linted.append(
                LintResult(
                    sha256_fingerprint=fingerprint,
                    problems=problems,
                    linter_version=version,
                    linted_at=timezone.now(),
                )
            )
    budget[0] -= len(linted)
    summary.linted += len(linted)
    LintResult.objects.bulk_create(
        linted,
        update_conflicts=True,
        unique_fields=["sha256_fingerprint"],
        update_fields=["problems", "linter_version", "linted_at"],
        batch_size=500,
    )
    return results


def _batches(items: list, size: int = ID_BATCH) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_FIELDS_KEPT = ("severity", "detail", "device_rank", "window_days", "not_after")


def _reconcile(
    scope: ProductScope,
    observed: dict[tuple[str, str, str], Observed],
    *,
    now: datetime,
    summary: RunSummary,
) -> None:
    """Open, refresh, change and close the scope's findings to match ``observed``."""
    open_findings = Finding.objects.filter(OPEN_Q, **scope.filter())
    existing = {
        (code, device, subject): (pk, severity, detail, rank, window, not_after)
        for pk, code, device, subject, severity, detail, rank, window, not_after in (
            open_findings.values_list(
                "pk", "code", "device_name", "subject", *_FIELDS_KEPT
            ).iterator(chunk_size=CHUNK)
        )
    }
    gone = [values[0] for key, values in existing.items() if key not in observed]
    new = [
        Finding(
            **scope.filter(),
            code=found.code,
            device_name=found.device_name,
            subject=found.subject,
            severity=found.severity,
            detail=found.detail,
            device_rank=found.device_rank,
            window_days=found.window_days,
            not_after=found.not_after,
            first_seen=now,
            last_seen=now,
        )
        for key, found in observed.items()
        if key not in existing
    ]
    changed = []
    for key, found in observed.items():
        values = existing.get(key)
        if values is None:
            continue
        pk, severity, *rest = values
        if (severity, *rest) == (
            found.severity,
            found.detail,
            found.device_rank,
            found.window_days,
            found.not_after,
        ):
            continue
        finding = Finding(
            pk=pk,
            severity=found.severity,
            detail=found.detail,
            device_rank=found.device_rank,
            window_days=found.window_days,
            not_after=found.not_after,
        )
        if found.severity != severity:
            finding.previous_severity = severity
            finding.severity_changed_at = now
        changed.append(finding)
    with transaction.atomic():
        for batch in _batches(gone):
            Finding.objects.filter(pk__in=batch).update(closed_at=now)
        for with_severity in (True, False):
            rows = [f for f in changed if (f.severity_changed_at is not None) == with_severity]
            fields = [*_FIELDS_KEPT]
            if with_severity:
                fields += ["previous_severity", "severity_changed_at"]
            Finding.objects.bulk_update(rows, fields, batch_size=500)
        refreshed = open_findings.filter(last_seen__lt=now).update(last_seen=now)
        Finding.objects.bulk_create(new, batch_size=500)
        if scope != BUNDLE_SCOPE:
            suppressions_apply(**scope.filter(), now=now)
    summary.opened += len(new)
    summary.closed += len(gone)
    summary.changed += len(changed)
    summary.refreshed += refreshed
    for found in observed.values():
        summary.open_by_code[found.code] = summary.open_by_code.get(found.code, 0) + 1
