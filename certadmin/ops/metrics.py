"""Prometheus metrics (prometheus-client), served at ``/metrics``.

Counted as things happen: request latency by view (route name), platform calls by action and
outcome Code, their latency, throttled answers and retries. Computed at scrape time from the
database (``DatabaseCollector``): jobs by state and their items' progress, certificates by expiry
state per product (the classification of certadmin/devices/expiry.py), and the audit chain's
last verification. For watching the fleet, as cert-manager and x509-certificate-exporter name
theirs: each product's earliest expiry and last successful sync as absolute
``*_timestamp_seconds`` gauges, records past the freshness bound, sync errors by reason, the
scheduler's last heartbeat, open findings by code and severity, and, only when switched on
(``METRICS_PER_DEVICE``), each device's expiry, capped at ``METRICS_PER_DEVICE_LIMIT`` series
(earliest first) with a count of those left out. Labels stay few: account, product, code,
severity, reason (device only when switched on).

With several processes (gunicorn workers, task workers) set
``PROMETHEUS_MULTIPROC_DIR`` (``make serve`` does): each process writes its counters there and a
scrape adds them up.

Access: a bearer token (``METRICS_TOKEN``) and/or an address allow-list (``METRICS_ALLOW``, of
networks); both must pass when both are set. With neither, production refuses every scrape and
the demo answers only its own machine.
"""

import hmac
import ipaddress
import os

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count, Max, Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from certadmin.http.client_address import client_address
from certadmin.iot.client import CallRecord

REQUEST_LATENCY = Histogram(
    "certadmin_http_request_duration_seconds",
    "Time to answer a request, by view (route name), method and status.",
    ["view", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
PLATFORM_CALLS = Counter(
    "certadmin_platform_calls",
    "IoT Platform API calls by action and outcome (Success or the error Code).",
    ["account", "action", "outcome"],
)
PLATFORM_LATENCY = Histogram(
    "certadmin_platform_call_duration_seconds",
    "Duration of IoT Platform API calls, retries included.",
    ["account", "action"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 30),
)
PLATFORM_THROTTLED = Counter(
    "certadmin_platform_throttled",
    "IoT Platform answers refused with a Throttling code.",
    ["account", "action"],
)
PLATFORM_RETRIES = Counter(
    "certadmin_platform_retries",
    "IoT Platform attempts repeated after a retryable failure.",
    ["account", "action"],
)


def platform_call_count(record: CallRecord, *, account: str) -> None:
    """Count one platform call (the IoT client's ``on_call`` observer calls this)."""
    PLATFORM_CALLS.labels(account, record.action, record.outcome).inc()
    PLATFORM_LATENCY.labels(account, record.action).observe(record.duration)
    if record.throttled:
        PLATFORM_THROTTLED.labels(account, record.action).inc(record.throttled)
    if record.attempts > 1:
        PLATFORM_RETRIES.labels(account, record.action).inc(record.attempts - 1)


def request_latency_observe(*, view: str, method: str, status: int, seconds: float) -> None:
    REQUEST_LATENCY.labels(view, method, str(status)).observe(seconds)


class DatabaseCollector(Collector):
    """Gauges read from the database at each scrape (so every process agrees)."""

    def describe(self):
        # Registering must not run ``collect`` (a registry would, to learn the names): no
        # queries at import time.
        return []

    def collect(self):
        from certadmin.audit.models import ChainVerification
        from certadmin.devices.expiry import (
            STATE_LABELS,
            WINDOWS,
            expiry_state_annotated,
            expiry_within_count,
        )
        from certadmin.devices.models import LISTED_Q, CertificateRecord
        from certadmin.jobs.models import ItemState, Job, JobItem, JobState

        jobs = GaugeMetricFamily("certadmin_jobs", "Jobs by state.", labels=["kind", "state"])
        counts = Job.objects.values_list("kind", "state").annotate(n=Count("pk")).order_by()
        for kind, state, n in counts:
            jobs.add_metric([kind, state], n)
        yield jobs

        items = GaugeMetricFamily(
            "certadmin_job_items_active",
            "Items of queued or running jobs, by state (progress of the work in hand).",
            labels=["state"],
        )
        active = JobItem.objects.filter(
            job__state__in=[JobState.QUEUED, JobState.RUNNING, JobState.CANCELLING]
        )
        by_state = dict(active.values_list("state").annotate(n=Count("pk")).order_by())
        for state in ItemState.values:
            items.add_metric([state], by_state.get(state, 0))
        yield items

        now = timezone.now()
        certificates = GaugeMetricFamily(
            "certadmin_certificates",
            "Certificates in the inventory by product and expiry state (one state each: expired, "
            "days_0_7, days_8_30, days_31_90, days_over_90 days left, not_issued, failed, never).",
            labels=["product_key", "state"],
        )
        expiring = GaugeMetricFamily(
            "certadmin_certificates_expiring_within_days",
            "Certificates that expire within 7, 30 or 90 days (not expired yet, at most that many "
            "whole days left), by product.",
            labels=["product_key", "days"],
        )
        rows = (
            expiry_state_annotated(CertificateRecord.objects.filter(LISTED_Q), now=now)
            .values_list("product_key", "expiry_state")
            .annotate(n=Count("pk"))
            .order_by()
        )
        per_product: dict[str, dict[str, int]] = {}
        for product_key, state, n in rows:
            per_product.setdefault(product_key, dict.fromkeys(STATE_LABELS, 0))[state] = n
        for product_key, states in sorted(per_product.items()):
            for state, n in states.items():
                certificates.add_metric([product_key, state], n)
            for _state, days in WINDOWS:
                expiring.add_metric([product_key, str(days)], expiry_within_count(states, days))
        yield certificates
        yield expiring

        yield from _fleet_metrics(now=now)

        last = ChainVerification.objects.order_by("-checked_at").first()
        chain_ok = GaugeMetricFamily(
            "certadmin_audit_chain_ok",
            "1 if the last verification of the audit chain found it intact, 0 if not "
            "(absent before the first verification).",
        )
        checked_at = GaugeMetricFamily(
            "certadmin_audit_chain_last_verified_timestamp_seconds",
            "When the audit chain was last verified (Unix time).",
        )
        if last is not None:
            chain_ok.add_metric([], 1 if last.ok else 0)
            checked_at.add_metric([], last.checked_at.timestamp())
        yield chain_ok
        yield checked_at


def _fleet_metrics(*, now):
    """Per product: earliest expiry, last successful sync, records past the freshness bound;
    sync errors by reason; the scheduler's heartbeat; per device expiries when switched on."""
    from certadmin.devices.models import LISTED_Q, CertificateRecord, ProductSync
    from certadmin.devices.selectors import stale_counts
    from certadmin.jobs.models import ItemState, Job, JobItem, JobKind, JobState
    from certadmin.ops.heartbeat import SCHEDULER
    from certadmin.ops.models import WorkerHeartbeat

    records = CertificateRecord.objects.filter(LISTED_Q).order_by()
    earliest = GaugeMetricFamily(
        "certadmin_product_earliest_expiry_timestamp_seconds",
        "The earliest notAfter among the product's certificates in the inventory (Unix time).",
        labels=["account", "product"],
    )
    rows = (
        records.filter(not_after__isnull=False)
        .values_list("account", "product_key")
        .annotate(first=Min("not_after"))
    )
    for account, product, first in sorted(rows):
        earliest.add_metric([account, product], first.timestamp())
    yield earliest

    synced = GaugeMetricFamily(
        "certadmin_product_last_sync_success_timestamp_seconds",
        "When the product's last complete sync finished (Unix time).",
        labels=["account", "product"],
    )
    # A product synced on several instances: its latest.
    rows = ProductSync.objects.values_list("account", "product_key").annotate(at=Max("synced_at"))
    for account, product, at in sorted(rows.order_by()):
        synced.add_metric([account, product], at.timestamp())
    yield synced

    stale = GaugeMetricFamily(
        "certadmin_records_stale",
        "Inventory records not checked within their product's freshness bound "
        "(CERTADMIN_SYNC_RECHECK_DAYS).",
        labels=["account", "product"],
    )
    by_product: dict[tuple[str, str], int] = {}
    for (account, product, _instance), n in stale_counts(records, now=now).items():
        by_product[account, product] = by_product.get((account, product), 0) + n
    for (account, product), n in sorted(by_product.items()):
        stale.add_metric([account, product], n)
    yield stale

    # Counted from the jobs' own rows, so every process (and a restart) agrees: each device a
    # sync could not look up, by the platform's error Code, and each sync that failed whole.
    errors = CounterMetricFamily(
        "certadmin_sync_errors",
        "Product sync errors by reason: a device lookup's platform error Code, or job_failed.",
        labels=["reason"],
    )
    rows = (
        JobItem.objects.filter(job__kind=JobKind.PRODUCT_SYNC, state=ItemState.FAILED)
        .values_list("error_code")
        .annotate(n=Count("pk"))
        .order_by()
    )
    by_reason = {code or "unknown": n for code, n in rows}
    failed = Job.objects.filter(kind=JobKind.PRODUCT_SYNC, state=JobState.FAILED).count()
    by_reason["job_failed"] = by_reason.get("job_failed", 0) + failed
    for reason, n in sorted(by_reason.items()):
        errors.add_metric([reason], n)
    yield errors

    beat = GaugeMetricFamily(
        "certadmin_scheduler_last_heartbeat_timestamp_seconds",
        "When the scheduler (manage.py crontask) last said it runs (Unix time; absent before "
        "it first ran).",
    )
    last = WorkerHeartbeat.objects.filter(role=SCHEDULER).aggregate(at=Max("seen_at"))["at"]
    if last is not None:
        beat.add_metric([], last.timestamp())
    yield beat

    yield _findings_metric(now=now)

    if settings.METRICS_PER_DEVICE:
        yield from _device_expiry_metrics(records)


def _findings_metric(*, now):
    """Open findings nobody suppressed, by account, product, code and severity (name): a few
    series per product, whatever the fleet's size. The CA bundle's have empty account and
    product."""
    from certadmin.findings.models import OPEN_Q, Finding
    from certadmin.findings.severity import SEVERITY_NAMES

    family = GaugeMetricFamily(
        "certadmin_findings_open",
        "Open findings nobody suppressed, by account, product, code and severity.",
        labels=["account", "product", "code", "severity"],
    )
    rows = (
        Finding.objects.filter(OPEN_Q)
        .exclude(suppressed_until__gt=now)
        .values_list("account", "product_key", "code", "severity")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for account, product, code, severity, n in sorted(rows):
        family.add_metric([account, product, code, SEVERITY_NAMES[severity]], n)
    return family


def _device_expiry_metrics(records):
    limit = max(settings.METRICS_PER_DEVICE_LIMIT, 0)
    expiring = records.filter(not_after__isnull=False)
    devices = GaugeMetricFamily(
        "certadmin_certificate_expiry_timestamp_seconds",
        "A device certificate's notAfter (Unix time): the earliest "
        "CERTADMIN_METRICS_PER_DEVICE_LIMIT only.",
        labels=["account", "product", "device"],
    )
    rows = expiring.order_by("not_after", "account", "product_key", "device_name").values_list(
        "account", "product_key", "device_name", "not_after"
    )[:limit]
    shown = 0
    for account, product, device, not_after in rows:
        devices.add_metric([account, product, device], not_after.timestamp())
        shown += 1
    yield devices
    omitted = GaugeMetricFamily(
        "certadmin_certificate_expiry_series_omitted",
        "Device certificates left out of certadmin_certificate_expiry_timestamp_seconds by "
        "CERTADMIN_METRICS_PER_DEVICE_LIMIT.",
    )
    omitted.add_metric([], max(expiring.count() - shown, 0))
    yield omitted


_MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
_database_collector = DatabaseCollector()
if not _MULTIPROCESS:
    REGISTRY.register(_database_collector)


def _registry() -> CollectorRegistry:
    """This process's registry, or, with several processes, one that adds up all of theirs."""
    if not _MULTIPROCESS:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(_database_collector)
    return registry


def _scrape_allowed(request: HttpRequest) -> tuple[bool, int]:
    """(allowed, status to refuse with)."""
    token, networks = settings.METRICS_TOKEN, settings.METRICS_ALLOW
    if not token and not networks:
        if settings.DEMO_MODE:
            networks = ["127.0.0.0/8", "::1/128"]
        else:
            return False, 403
    if networks:
        address = client_address(request)
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False, 403
        if not any(ip in ipaddress.ip_network(net, strict=False) for net in networks):
            return False, 403
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return False, 401
    return True, 200


@login_not_required
@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    allowed, status = _scrape_allowed(request)
    if not allowed:
        response = HttpResponse(status=status)
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
