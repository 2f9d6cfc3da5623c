"""The fleet metrics: each product's earliest expiry and last successful sync as absolute
timestamps, records past the freshness bound, sync errors by reason, the scheduler's heartbeat,
and per-device expiries only when switched on, capped, with a count of those left out."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from certadmin.devices.models import CertificateRecord, ProductSync
from certadmin.jobs.models import ItemState, Job, JobItem, JobKind, JobState
from certadmin.ops.heartbeat import SCHEDULER, heartbeat_record

pytestmark = pytest.mark.django_db


def _samples(client) -> dict[tuple[str, tuple], float]:
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _record(product: str, device: str, *, expires_in_days=None, checked_days_ago=0, **fields):
    now = timezone.now()
    return CertificateRecord.objects.create(
        account="default",
        product_key=product,
        device_name=device,
        not_after=None if expires_in_days is None else now + timedelta(days=expires_in_days),
        last_checked=now - timedelta(days=checked_days_ago),
        **fields,
    )


def _by_product(samples, name: str) -> dict[str, float]:
    return {
        dict(labels)["product"]: value
        for (sample, labels), value in samples.items()
        if sample == name and dict(labels).get("account") == "default"
    }


def test_each_products_earliest_expiry_is_an_absolute_timestamp(client):
    soonest = _record("a1Metric001", "dev-1", expires_in_days=12)
    _record("a1Metric001", "dev-2", expires_in_days=400)
    _record("a1Metric001", "dev-3")  # no certificate: not counted
    _record("a1Metric002", "dev-1", expires_in_days=-2)
    earliest = _by_product(_samples(client), "certadmin_product_earliest_expiry_timestamp_seconds")
    assert earliest["a1Metric001"] == pytest.approx(soonest.not_after.timestamp())
    assert earliest["a1Metric002"] < timezone.now().timestamp()


def test_last_sync_and_records_past_the_freshness_bound_per_product(client, settings):
    settings.SYNC_RECHECK_DAYS = 7
    synced_at = timezone.now() - timedelta(hours=5)
    ProductSync.objects.create(
        account="default", product_key="a1Metric003", device_count=3, synced_at=synced_at
    )
    _record("a1Metric003", "dev-1", checked_days_ago=1)
    _record("a1Metric003", "dev-2", checked_days_ago=8)
    _record("a1Metric003", "dev-3", checked_days_ago=30)
    samples = _samples(client)
    last_sync = _by_product(samples, "certadmin_product_last_sync_success_timestamp_seconds")
    assert last_sync["a1Metric003"] == pytest.approx(synced_at.timestamp())
    assert _by_product(samples, "certadmin_records_stale")["a1Metric003"] == 2


def test_a_product_with_a_bound_of_its_own_is_stale_by_it(client, settings):
    settings.SYNC_RECHECK_DAYS = 7
    settings.SYNC_RECHECK_DAYS_PER_PRODUCT = {("default", "a1Metric006"): 3}
    for product in ("a1Metric006", "a1Metric007"):
        _record(product, "dev-1", checked_days_ago=1)
        _record(product, "dev-2", checked_days_ago=5)
        _record(product, "dev-3", checked_days_ago=8)
    stale = _by_product(_samples(client), "certadmin_records_stale")
    assert stale["a1Metric006"] == 2  # 5 and 8 days: past its 3 days
    assert stale["a1Metric007"] == 1  # 8 days: past the default 7


def test_sync_errors_are_counted_by_reason(client):
    job = Job.objects.create(kind=JobKind.PRODUCT_SYNC, product_key="a1Metric004")
    for number, code in enumerate(["Throttling.User", "Throttling.User", "iot.x.Y"]):
        JobItem.objects.create(
            job=job,
            product_key="a1Metric004",
            device_name=f"dev-{number}",
            state=ItemState.FAILED,
            error_code=code,
        )
    Job.objects.create(kind=JobKind.PRODUCT_SYNC, product_key="a1Metric005", state=JobState.FAILED)
    errors = {
        dict(labels)["reason"]: value
        for (name, labels), value in _samples(client).items()
        if name == "certadmin_sync_errors_total"
    }
    assert errors == {"Throttling.User": 2, "iot.x.Y": 1, "job_failed": 1}


def test_the_schedulers_heartbeat_is_exported(client):
    samples = _samples(client)
    assert ("certadmin_scheduler_last_heartbeat_timestamp_seconds", ()) not in samples
    heartbeat_record(worker_id="scheduler-1", role=SCHEDULER)
    beat = _samples(client)[("certadmin_scheduler_last_heartbeat_timestamp_seconds", ())]
    assert beat == pytest.approx(timezone.now().timestamp(), abs=5)


def test_per_device_series_only_when_switched_on_and_capped_earliest_first(client, settings):
    for days in (50, 10, 30, 20):
        _record("a1Metric006", f"dev-{days}", expires_in_days=days)
    assert not any(
        name == "certadmin_certificate_expiry_timestamp_seconds" for name, _ in _samples(client)
    )
    settings.METRICS_PER_DEVICE = True
    settings.METRICS_PER_DEVICE_LIMIT = 2
    samples = _samples(client)
    devices = {
        dict(labels)["device"]
        for (name, labels), _value in samples.items()
        if name == "certadmin_certificate_expiry_timestamp_seconds"
    }
    assert devices == {"dev-10", "dev-20"}
    assert samples[("certadmin_certificate_expiry_series_omitted", ())] == 2


def test_open_findings_nobody_suppressed_are_counted_by_account_product_code_and_severity(client):
    from certadmin.findings.models import Finding
    from certadmin.findings.severity import Severity

    now = timezone.now()

    def finding(device: str, code: str, severity: int, **fields) -> Finding:
        return Finding.objects.create(
            account="default",
            product_key="a1Metric005",
            device_name=device,
            code=code,
            severity=severity,
            first_seen=now,
            last_seen=now,
            **fields,
        )

    finding("dev-1", "cert.expired", Severity.CRITICAL)
    finding("dev-2", "cert.expired", Severity.CRITICAL)
    finding("dev-3", "cert.expiring", Severity.HIGH, window_days=7)
    finding("dev-4", "cert.expiring", Severity.HIGH, suppressed_until=now + timedelta(days=3))
    finding("dev-5", "cert.expiring", Severity.HIGH, suppressed_until=now - timedelta(days=1))
    finding("dev-6", "key.weak", Severity.HIGH, closed_at=now)
    open_by = {
        (dict(labels)["code"], dict(labels)["severity"]): value
        for (name, labels), value in _samples(client).items()
        if name == "certadmin_findings_open" and dict(labels)["product"] == "a1Metric005"
    }
    # Suppressed (until later) and closed findings are not counted; a lapsed suppression is.
    assert open_by == {("cert.expired", "critical"): 2, ("cert.expiring", "high"): 2}
