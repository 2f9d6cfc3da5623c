"""Incremental syncs: what they look up (new, changed, generating or failed devices and a rolling
slice of the rest, within the product's recheck bound), and devices the platform no longer lists
marked removed, not deleted. Against the emulator over real HTTP."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from certadmin.devices.inventory import inventory_store_failure
from certadmin.devices.models import LISTED_Q, CertificateRecord, ProductSync
from certadmin.devices.selectors import product_coverage
from certadmin.iot.identity import DeviceRef
from certadmin.jobs import runner
from certadmin.jobs.incremental import rolling_slice
from certadmin.jobs.models import Job, JobKind, JobState
from certadmin.jobs.services import product_sync_start

pytestmark = pytest.mark.django_db


def _asked(emulator) -> list[str]:
    return sorted(
        entry.device_name for entry in emulator.request_log if entry.action == "QueryDeviceCert"
    )


def _sync(owner, product_key: str, mode: str) -> Job:
    job = product_sync_start(owner=owner, product_key=product_key, mode=mode)
    assert runner.job_work(job_id=job.pk) == "finished"
    job.refresh_from_db()
    return job


def _name(number: int) -> str:
    return f"dev-{number:05d}"


def test_an_incremental_sync_asks_new_changed_generating_failed_and_the_oldest_slice(
    viewer, own_product, dashboard_iot, settings
):
    settings.SYNC_RECHECK_DAYS = 7
    product_key = own_product(30)
    full = _sync(viewer, product_key, "full")
    assert (full.total, full.done, full.listed) == (30, 30, 30)
    records = CertificateRecord.objects.filter(product_key=product_key)
    # A full sync's lookups keep each listing row's UtcModified.
    assert not records.filter(listing_modified="").exists()
    full_synced_at = ProductSync.objects.get(product_key=product_key).full_synced_at
    assert full_synced_at is not None

    now = timezone.now()
    # The last sync a day ago; every device looked up an hour ago, but for four older ones.
    ProductSync.objects.filter(product_key=product_key).update(synced_at=now - timedelta(days=1))
    records.update(last_checked=now - timedelta(hours=1))
    for number, age in ((10, 6.5), (11, 6.4), (12, 5), (13, 4)):
        records.filter(device_name=_name(number)).update(last_checked=now - timedelta(days=age))
    # Its listing row changed since its lookup; being generated; last lookup failed.
    records.filter(device_name=_name(2)).update(listing_modified="2020-01-01T00:00:00.000Z")
    records.filter(device_name=_name(3)).update(status=0)
    records.filter(device_name=_name(4)).update(last_error_code="iot.system.SystemException")
    # New on the platform, and one the platform no longer has.
    dashboard_iot.add_device(
        {"product_key": product_key, "device_name": _name(31), "key_type": "ec"}
    )
    inventory_store_failure(device=DeviceRef(product_key, "gone-0001", "", "default"), code="X")
    dashboard_iot.request_log.clear()

    job = _sync(viewer, product_key, "incremental")

    # 26 unchanged devices, a day of a 7-day bound: ceil(26 / 7) = 4, the oldest first.
    changed = [_name(31), _name(2), _name(3), _name(4)]
    oldest = [_name(10), _name(11), _name(12), _name(13)]
    assert _asked(dashboard_iot) == sorted(changed + oldest)
    assert (job.mode, job.listed, job.total, job.done, job.failed) == (
        "incremental",
        31,
        8,
        8,
        0,
    )
    gone = CertificateRecord.objects.get(product_key=product_key, device_name="gone-0001")
    assert gone.removed_at is not None
    sync = ProductSync.objects.get(product_key=product_key)
    assert (sync.mode, sync.device_count, sync.full_synced_at) == (
        "incremental",
        31,
        full_synced_at,
    )
    coverage = product_coverage(product_key=product_key)
    assert (coverage.listed, coverage.synced, coverage.removed, coverage.percent) == (
        31,
        31,
        1,
        100,
    )
    assert coverage.recheck_days == 7
    changed_now = records.get(device_name=_name(2))
    assert changed_now.listing_modified != "2020-01-01T00:00:00.000Z"
    assert records.get(device_name=_name(3)).status == 2

    # At once again: nothing new or changed, and hardly any time of the bound has passed.
    dashboard_iot.request_log.clear()
    again = _sync(viewer, product_key, "incremental")
    assert again.total == len(_asked(dashboard_iot)) <= 1


def _records_aged(product_key: str, count: int, *, now) -> None:
    CertificateRecord.objects.bulk_create(
        CertificateRecord(
            account="default",
            product_key=product_key,
            device_name=_name(number),
            last_checked=now - timedelta(hours=number),
            listed_at=now,
            status=2,
        )
        for number in range(1, count + 1)
    )


def _incremental_job(product_key: str) -> Job:
    return Job.objects.create(
        kind=JobKind.PRODUCT_SYNC,
        account="default",
        product_key=product_key,
        mode="incremental",
        state=JobState.RUNNING,
    )


def test_a_daily_incremental_sync_asks_a_seventh_of_the_unchanged_devices_oldest_first(
    settings,
):
    settings.SYNC_RECHECK_DAYS = 7
    now = timezone.now()
    _records_aged("slice70xxxx", 70, now=now)
    ProductSync.objects.create(
        product_key="slice70xxxx", device_count=70, synced_at=now - timedelta(days=1)
    )
    picked = rolling_slice(job=_incremental_job("slice70xxxx"), now=now)
    assert [device.device_name for device in picked] == [_name(n) for n in range(70, 60, -1)]


def test_a_product_never_synced_or_with_its_own_bound_is_looked_up_in_full(settings):
    now = timezone.now()
    _records_aged("slicenever1", 20, now=now)
    assert len(rolling_slice(job=_incremental_job("slicenever1"), now=now)) == 20

    _records_aged("sliceown001", 20, now=now)
    ProductSync.objects.create(
        product_key="sliceown001", device_count=20, synced_at=now - timedelta(days=1)
    )
    job = _incremental_job("sliceown001")
    settings.SYNC_RECHECK_DAYS_PER_PRODUCT = {("default", "sliceown001"): 1}
    assert len(rolling_slice(job=job, now=now)) == 20
    settings.SYNC_RECHECK_DAYS_PER_PRODUCT = {}
    assert len(rolling_slice(job=job, now=now)) == 3


def test_devices_past_the_bound_are_all_looked_up_whatever_the_share(settings):
    settings.SYNC_RECHECK_DAYS = 7
    now = timezone.now()
    _records_aged("sliceold001", 10, now=now)
    CertificateRecord.objects.filter(product_key="sliceold001").update(
        last_checked=now - timedelta(days=8)
    )
    ProductSync.objects.create(
        product_key="sliceold001", device_count=10, synced_at=now - timedelta(hours=1)
    )
    assert len(rolling_slice(job=_incremental_job("sliceold001"), now=now)) == 10


def test_cert_sync_mode_incremental_starts_an_incremental_sync(own_product, capsys):
    product_key = own_product(3)
    call_command("cert_sync", "--product-key", product_key, "--mode", "incremental", "--wait")
    out = capsys.readouterr().out
    assert "incremental sync" in out
    assert "3 of the 3 devices listed looked up" in out
    assert Job.objects.get(product_key=product_key).mode == "incremental"


def test_the_sync_form_starts_the_mode_chosen(viewer_client, own_product):
    from django.urls import reverse

    product_key = own_product(2)
    response = viewer_client.post(
        reverse("jobs:product-sync"),
        {"product_key": product_key, "instance": "", "account": "default", "mode": "incremental"},
    )
    assert response.status_code == 302
    job = Job.objects.get(product_key=product_key)
    assert job.mode == "incremental"
    assert (
        "incremental" in viewer_client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    )


def test_a_device_no_longer_listed_is_marked_removed_left_out_and_back_when_listed_again(
    viewer, viewer_client, own_product, dashboard_iot
):
    from django.urls import reverse

    from certadmin.devices.expiry import expiry_counts
    from certadmin.devices.selectors import inventory_devices

    product_key = own_product(3)
    _sync(viewer, product_key, "full")
    # A device the platform had at an earlier sync and has no more.
    inventory_store_failure(device=DeviceRef(product_key, "gone-0001", "", "default"), code="X")
    _sync(viewer, product_key, "full")

    gone = CertificateRecord.objects.get(product_key=product_key, device_name="gone-0001")
    assert gone.removed_at is not None
    listed = inventory_devices(product_key=product_key)
    assert sorted(listed.values_list("device_name", flat=True)) == [_name(1), _name(2), _name(3)]
    assert sum(expiry_counts(listed, now=timezone.now()).values()) == 3
    removed = inventory_devices(product_key=product_key, state="removed")
    assert list(removed.values_list("device_name", flat=True)) == ["gone-0001"]

    exported = viewer_client.get(reverse("devices:expiry-csv"), {"product_key": product_key})
    text = b"".join(exported.streaming_content).decode()
    assert "gone-0001" not in text
    page = viewer_client.get(reverse("devices:list"), {"product_key": product_key})
    assert "gone-0001" not in page.content.decode()
    assert "1 device no longer listed by the platform" in page.content.decode()
    assert "Coverage: 3 of 3 devices listed were looked up (100 %)." in page.content.decode()
    assert "within 7 days" in page.content.decode()
    page = viewer_client.get(
        reverse("devices:list"), {"product_key": product_key, "state": "removed"}
    )
    assert "gone-0001" in page.content.decode()
    expiry = viewer_client.get(
        reverse("devices:expiry"), {"product_key": product_key, "state": "removed"}
    )
    assert expiry.status_code == 200
    assert "gone-0001" in expiry.content.decode()
    everything = viewer_client.get(reverse("devices:expiry"), {"product_key": product_key})
    assert "gone-0001" not in everything.content.decode()

    # The platform lists it again: the mark goes.
    dashboard_iot.add_device({"product_key": product_key, "device_name": "gone-0001"})
    _sync(viewer, product_key, "incremental")
    gone.refresh_from_db()
    assert gone.removed_at is None
    assert gone.last_checked is not None
    assert CertificateRecord.objects.filter(LISTED_Q, product_key=product_key).count() == 4
