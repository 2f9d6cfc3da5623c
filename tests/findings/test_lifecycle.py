"""A finding opens, stays open with a new last-seen time while its condition holds, changes
severity as an expiring certificate reaches tighter windows, and closes when it clears; a
product gone from the inventory has its findings closed by the full run."""

from datetime import timedelta

import pytest

from certadmin.devices.models import CertificateRecord
from certadmin.findings.models import Finding
from certadmin.findings.severity import Severity
from tests.findings.conftest import days, leaf_expiring_in, now

pytestmark = pytest.mark.django_db


def test_open_refresh_escalate_and_close(store, run, settings):
    settings.SYNC_RECHECK_DAYS = 365  # moving the clock on must not make it stale
    record = store(leaf_expiring_in(days(20)))
    first = now()
    summary = run(now=first)
    assert summary.opened == 1
    finding = Finding.objects.get(device_name=record.device_name)
    assert (finding.first_seen, finding.last_seen, finding.closed_at) == (first, first, None)
    assert (finding.window_days, finding.severity) == (30, Severity.LOW)

    later = first + timedelta(hours=1)
    run(now=later)
    finding.refresh_from_db()
    assert (finding.first_seen, finding.last_seen) == (first, later)
    assert finding.severity_changed_at is None

    # 10 days on the certificate is within 14 days: the same finding, escalated.
    escalated = first + days(10)
    run(now=escalated)
    finding.refresh_from_db()
    assert Finding.objects.filter(device_name=record.device_name).count() == 1
    assert (finding.window_days, finding.severity, finding.previous_severity) == (
        14,
        Severity.MEDIUM,
        Severity.LOW,
    )
    assert finding.severity_changed_at == escalated
    assert Finding.objects.filter(severity_changed_at__gte=escalated).count() == 1

    # Renewed: the condition cleared.
    store(leaf_expiring_in(days(400)), device_name=record.device_name)
    cleared = escalated + timedelta(hours=1)
    assert run(now=cleared).closed == 1
    finding.refresh_from_db()
    assert finding.closed_at == cleared
    assert finding.last_seen == escalated


def test_a_recurrence_opens_a_new_finding(store, run):
    record = store(status=1)
    run()
    store(device_name=record.device_name)
    run()
    store(status=1, device_name=record.device_name)
    run()
    findings = Finding.objects.filter(device_name=record.device_name).order_by("pk")
    assert [f.closed_at is None for f in findings] == [False, True]


def test_a_product_run_touches_only_that_product(store, run):
    here = store(status=1)
    elsewhere = store(status=1, product_key="a1Fleet0009")
    run(product_key=here.product_key)
    assert Finding.objects.filter(device_name=here.device_name).exists()
    assert not Finding.objects.filter(device_name=elsewhere.device_name).exists()


def test_the_full_run_closes_the_findings_of_a_product_gone_from_the_inventory(store, run):
    record = store(status=1)
    run()
    CertificateRecord.objects.filter(pk=record.pk).delete()
    run()
    assert Finding.objects.get(device_name=record.device_name).closed_at is not None
