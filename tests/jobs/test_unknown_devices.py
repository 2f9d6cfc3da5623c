"""The inventory holds the devices the platform has: a batch's typo is a result of the batch,
never a device; a complete product sync marks removed the devices the platform no longer lists; a
device that exists but fails for a while keeps its record. Against the emulator over real HTTP."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from certadmin.devices.expiry import expiry_counts
from certadmin.devices.inventory import inventory_store_failure
from certadmin.devices.models import LISTED_Q, CertificateRecord
from certadmin.iot.identity import DeviceRef
from certadmin.jobs import runner
from certadmin.jobs.models import Job, JobItem, JobState
from certadmin.jobs.services import product_sync_start

pytestmark = pytest.mark.django_db

TYPO = "dev-0001x"


def _csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def quick_retries(monkeypatch):
    # A device that keeps answering 503 is tried ITEM_ATTEMPTS times: without the back-off waits.
    monkeypatch.setattr(runner, "BACKOFF_MAX", 0.0)


def test_a_batch_typo_is_a_result_of_the_batch_and_never_an_inventory_record(
    client_for, viewer, own_product
):
    product_key = own_product(2)
    text = f"ProductKey,DeviceName\n{product_key},dev-00001\n{product_key},{TYPO}\n"
    client = client_for(viewer)
    client.post(reverse("jobs:batch"), {"text": text})
    job = Job.objects.get()
    assert runner.job_work(job_id=job.pk) == "finished"
    job.refresh_from_db()
    assert (job.state, job.done, job.failed) == (JobState.FINISHED, 2, 1)

    page = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    results = page[page.index('id="results-heading"') : page.index("</table>")]
    assert TYPO in results
    assert "iot.device.NotExistedDevice" in results
    rows = _csv(client.get(reverse("jobs:results-csv", args=[job.pk])))
    assert [row["device_name"] for row in rows] == ["dev-00001", TYPO]
    assert rows[1]["error_code"] == "iot.device.NotExistedDevice"
    assert rows[1]["state"] == "failed"
    assert rows[1]["last_checked"]

    records = CertificateRecord.objects.filter(product_key=product_key)
    assert list(records.values_list("device_name", flat=True)) == ["dev-00001"]
    counts = expiry_counts(records, now=timezone.now())
    assert sum(counts.values()) == 1
    assert counts["failed"] == 0
    exported = _csv(client.get(reverse("devices:expiry-csv"), {"product_key": product_key}))
    assert [row["device_name"] for row in exported] == ["dev-00001"]


def test_a_full_sync_marks_removed_the_records_of_devices_the_platform_does_not_have(
    viewer, own_product, dashboard_iot
):
    product_key = own_product(3)
    # Left by an earlier batch's typo, before typos stopped becoming records.
    inventory_store_failure(
        device=DeviceRef(product_key, TYPO, "", "default"), code="iot.device.NotExistedDevice"
    )
    # Another product's record and the same name on another account are not this listing's.
    other_product = own_product(1)
    inventory_store_failure(
        device=DeviceRef(other_product, TYPO, "", "default"), code="iot.device.NotExistedDevice"
    )
    inventory_store_failure(
        device=DeviceRef(product_key, TYPO, "", "staging"), code="iot.device.NotExistedDevice"
    )

    job = product_sync_start(owner=viewer, product_key=product_key)
    assert runner.job_work(job_id=job.pk) == "finished"

    mine = CertificateRecord.objects.filter(account="default", product_key=product_key)
    assert sorted(mine.filter(LISTED_Q).values_list("device_name", flat=True)) == [
        "dev-00001",
        "dev-00002",
        "dev-00003",
    ]
    # Kept, marked: not deleted.
    assert mine.get(device_name=TYPO).removed_at is not None
    others = CertificateRecord.objects.filter(device_name=TYPO).exclude(
        pk=mine.get(device_name=TYPO).pk
    )
    assert others.count() == 2
    assert not others.filter(removed_at__isnull=False).exists()


def test_a_device_that_exists_but_keeps_failing_keeps_its_record(
    viewer, own_product, dashboard_iot, quick_retries
):
    product_key = own_product(2)
    job = product_sync_start(owner=viewer, product_key=product_key)
    assert runner.job_work(job_id=job.pk) == "finished"
    before = CertificateRecord.objects.get(product_key=product_key, device_name="dev-00002")
    assert before.not_after is not None

    dashboard_iot.add_device(
        {
            "product_key": product_key,
            "device_name": "dev-00002",
            "key_type": "ec",
            "fault": {"http_status": 503},
        }
    )
    job = product_sync_start(owner=viewer, product_key=product_key)
    assert runner.job_work(job_id=job.pk) == "finished"
    job.refresh_from_db()
    assert job.failed == 1
    item = JobItem.objects.get(job=job, device_name="dev-00002")
    assert item.error_code
    after = CertificateRecord.objects.get(pk=before.pk)
    assert (after.not_after, after.sha256_fingerprint) == (
        before.not_after,
        before.sha256_fingerprint,
    )
