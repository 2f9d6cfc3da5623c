"""A product sync records each device's context: its status from the listing and, through
BatchQueryDeviceDetail (100 names a call), its node type, firmware and activation; never its
DeviceSecret. Against the emulator over real HTTP, through the real job runner."""

import csv
import io
import logging

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone

from certadmin.devices.inventory_csv import inventory_csv_lines
from certadmin.devices.models import CertificateRecord, NodeType
from certadmin.jobs import runner
from certadmin.jobs.models import Job, JobState
from certadmin.jobs.services import product_sync_start
from tests.support.emulator import api_calls
from tests.support.iot_accounts import account_on

pytestmark = pytest.mark.django_db

STATUSES = ("ONLINE", "OFFLINE", "UNACTIVE", "DISABLE")


def context_product(emulator, product_key: str, count: int) -> list[str]:
    """A product of ``count`` devices of every status, some of them gateways, whose
    certificates are being generated (nothing to issue: a lookup is quick)."""
    names = []
    for number in range(1, count + 1):
        name = f"ctx-{number:04d}" if number % 9 else f"ctx-gateway-{number:04d}"
        emulator.add_device(
            {
                "product_key": product_key,
                "device_name": name,
                "status": 0,
                "device_status": STATUSES[number % 4],
            }
        )
        names.append(name)
    return names


@pytest.fixture
def quick_lookups(dashboard_iot, settings):
    """Certificate lookups at full speed on both sides, so a sync of a few hundred devices takes
    seconds; BatchQueryDeviceDetail keeps the platform's quota (5 calls/s)."""
    dashboard_iot.set_quota("QueryDeviceCert", 100_000)
    account_on(settings, "default", qps=5_000, job_qps=4_000)
    return dashboard_iot


def database_text() -> str:
    """Every row of every table, as text."""
    rows = []
    for model in apps.get_models():
        rows.extend(str(row) for row in model.objects.order_by().values_list())
    return "\n".join(rows)


def test_a_sync_records_every_devices_context_in_batches_of_100_and_never_its_secret(
    viewer, quick_lookups, dashboard_iot, emulator_counts, caplog
):
    names = context_product(dashboard_iot, "context230x", 230)
    started = timezone.now()
    job = product_sync_start(owner=viewer, product_key="context230x")

    with caplog.at_level(logging.DEBUG):
        assert runner.job_work(job_id=job.pk) == "finished"

    job.refresh_from_db()
    assert (job.state, job.done, job.failed, job.context_missing) == (
        JobState.FINISHED,
        230,
        0,
        0,
    )
    # 230 listed devices: 100, 100 and the last 30 (pages of 50, asked two at a time).
    assert api_calls(dashboard_iot, "BatchQueryDeviceDetail") == 3
    assert emulator_counts.throttled == {}
    store = dashboard_iot._gateway.store
    records = {
        r.device_name: r for r in CertificateRecord.objects.filter(product_key="context230x")
    }
    assert set(records) == set(names)
    for name, record in records.items():
        device = store.get("context230x", name)
        context = device.context()
        assert record.device_status == device.device_status
        assert record.node_type == context.node_type
        assert record.firmware_version == context.firmware_version
        assert record.activated_at == context.activated
        assert record.context_checked_at >= started
    gateways = {n for n, r in records.items() if r.node_type == NodeType.GATEWAY}
    assert {n for n in names if "gateway" in n} <= gateways
    assert {r.device_status for r in records.values()} == set(STATUSES)
    never_activated = [r for r in records.values() if r.device_status == "UNACTIVE"]
    assert never_activated
    assert all(r.activated_at is None for r in never_activated)

    # No DeviceSecret anywhere: the database (every table), the logs, the inventory's CSV.
    secrets = [store.get("context230x", name).device_secret for name in names]
    exported = "".join(
        inventory_csv_lines(
            CertificateRecord.objects.filter(product_key="context230x"), now=timezone.now()
        )
    )
    kept = database_text() + caplog.text + exported
    assert not [secret for secret in secrets if secret in kept]


def test_a_failing_detail_call_leaves_the_sync_complete_without_context_and_says_so(
    viewer, client_for, quick_lookups, dashboard_iot, monkeypatch, caplog
):
    monkeypatch.setattr(runner, "_backoff", lambda attempt: 0)
    names = context_product(dashboard_iot, "context120x", 120)
    dashboard_iot.set_fault("malformed", actions=["BatchQueryDeviceDetail"])
    job = product_sync_start(owner=viewer, product_key="context120x")

    with caplog.at_level(logging.WARNING):
        assert runner.job_work(job_id=job.pk) == "finished"

    job.refresh_from_db()
    assert (job.state, job.done, job.failed) == (JobState.FINISHED, 120, 0)
    assert job.context_missing == 120
    records = CertificateRecord.objects.filter(product_key="context120x")
    assert records.count() == 120
    # The listing's status is there; the details are not.
    assert set(records.values_list("device_status", flat=True)) == set(STATUSES)
    assert not records.filter(context_checked_at__isnull=False).exists()
    assert "no device details for 100 devices of context120x" in caplog.text
    assert "no device details for 20 devices of context120x" in caplog.text
    assert len(names) == 120
    page = client_for(viewer).get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert "did not give the details (node type, firmware, activation) of 120 devices" in page


def test_names_the_platform_does_not_know_are_left_out(viewer, dashboard_iot):
    context_product(dashboard_iot, "context003x", 3)
    job = product_sync_start(owner=viewer, product_key="context003x")
    client = runner.iot_client(account=job.account, purpose="job")

    runner._listing_context(
        job,
        runner._ItemBatch(job_id=job.pk, token="no-lease"),
        client,
        ["ctx-0001", "ctx-0002", "nosuch-0001"],
    )

    records = CertificateRecord.objects.filter(product_key="context003x")
    assert set(
        records.filter(context_checked_at__isnull=False).values_list("device_name", flat=True)
    ) == {
        "ctx-0001",
        "ctx-0002",
    }
    assert not records.filter(device_name="nosuch-0001").exists()
    assert Job.objects.get(pk=job.pk).context_missing == 0


def test_the_inventory_csv_carries_the_context_columns(viewer, dashboard_iot):
    context_product(dashboard_iot, "context009x", 9)
    job = product_sync_start(owner=viewer, product_key="context009x")
    assert runner.job_work(job_id=job.pk) == "finished"

    text = "".join(
        inventory_csv_lines(
            CertificateRecord.objects.filter(product_key="context009x").order_by("device_name"),
            now=timezone.now(),
        )
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    gateway = next(row for row in rows if row["device_name"] == "ctx-gateway-0009")
    assert gateway["node_type"] == "gateway"
    assert gateway["device_status"] == "OFFLINE"
    assert gateway["firmware_version"]
    assert gateway["activated_at"].endswith("Z")
    unactive = next(row for row in rows if row["device_status"] == "UNACTIVE")
    assert unactive["activated_at"] == ""
