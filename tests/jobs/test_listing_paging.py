"""A product sync lists as the platform pages: NextToken for every page past the first, an
empty NextToken as the end, and a listing the platform cuts short fails the job with the
reason. The emulator follows the platform's reference over real HTTP."""

import logging
import threading
import time

import pytest
from django.apps import apps

from certadmin.devices import platform
from certadmin.devices.models import CertificateRecord
from certadmin.iot.client import IotClient
from certadmin.jobs import runner
from certadmin.jobs.models import Job, JobItem, JobState
from certadmin.jobs.services import product_sync_start
from tests.support.emulator import api_calls
from tests.support.iot_accounts import account_on

pytestmark = pytest.mark.django_db


@pytest.fixture
def full_speed(dashboard_iot, settings, monkeypatch):
    """Quotas raised on both sides, so a listing of thousands of devices takes seconds: the
    emulator's per-action quotas and the job's share of the account (the platform's own rules
    for paging stay in force)."""
    for action in (
        "QueryDevice",
        "QueryDevice.DeepPage",
        "QueryDeviceCert",
        "BatchQueryDeviceDetail",
    ):
        dashboard_iot.set_quota(action, 100_000)
    account_on(settings, "default", qps=5_000, job_qps=4_000)
    fast = dict.fromkeys(platform.ACTION_QPS, 100_000)
    monkeypatch.setattr(platform, "ACTION_QPS", fast)
    monkeypatch.setattr(platform, "JOB_QPS", fast)
    platform._limiters.cache_clear()
    yield dashboard_iot
    platform._limiters.cache_clear()


def product_of(emulator, product_key: str, count: int) -> list[str]:
    """A product of ``count`` devices whose certificates are being generated (nothing to issue:
    a lookup is quick). Returns the names, newest (listed first) first."""
    names = [f"unit-{number:05d}" for number in range(1, count + 1)]
    for name in names:
        emulator.add_device({"product_key": product_key, "device_name": name, "status": 0})
    return names[::-1]


def listing_only(job: Job) -> None:
    """Walk the job's listing as a run of the real runner does, without the lookups."""
    client = runner.iot_client(account=job.account, purpose="job")
    assert runner._listing_claim(job, "listing-run")
    runner._listing_walk(job, runner._ItemBatch(job_id=job.pk, token="listing-run"), client)


def database_text() -> str:
    """Every row of every table, as text."""
    rows = []
    for model in apps.get_models():
        rows.extend(str(row) for row in model.objects.order_by().values_list())
    return "\n".join(rows)


@pytest.mark.slow
def test_a_product_of_10250_devices_is_listed_completely_past_the_window(viewer, full_speed):
    names = product_of(full_speed, "paging10250", 10_250)
    job = product_sync_start(owner=viewer, product_key="paging10250")

    listing_only(job)

    job.refresh_from_db()
    assert job.listing_complete
    assert job.total == 10_250
    assert job.state != JobState.FAILED, job.error
    assert set(JobItem.objects.filter(job=job).values_list("device_name", flat=True)) == set(names)
    records = CertificateRecord.objects.filter(product_key="paging10250")
    assert records.count() == 10_250
    # Every device's details too, 100 names a call.
    assert not records.filter(context_checked_at__isnull=True).exists()
    assert full_speed.throttled == {}


def test_a_sync_past_the_window_checks_every_device_and_keeps_no_device_secret(
    viewer, full_speed, caplog
):
    # The window scaled down to 50 rows: from the second page of 50 on, only a NextToken leads
    # on, as past 10,000 rows on the platform.
    full_speed.set_listing_rules(window_rows=50)
    names = product_of(full_speed, "paging160xx", 160)
    job = product_sync_start(owner=viewer, product_key="paging160xx")

    with caplog.at_level(logging.DEBUG):
        assert runner.job_work(job_id=job.pk) == "finished"

    job.refresh_from_db()
    assert (job.state, job.total, job.done, job.failed) == (JobState.FINISHED, 160, 160, 0)
    records = CertificateRecord.objects.filter(product_key="paging160xx")
    assert sorted(records.values_list("device_name", flat=True)) == sorted(names)
    secrets = [full_speed._gateway.store.get("paging160xx", name).device_secret for name in names]
    kept = database_text() + caplog.text + job.error
    assert not [secret for secret in secrets if secret in kept]


def test_the_first_page_comes_without_a_token_and_the_empty_token_ends_the_listing(
    viewer, full_speed
):
    product_of(full_speed, "paging120xx", 120)
    job = product_sync_start(owner=viewer, product_key="paging120xx")
    full_speed.request_log.clear()

    listing_only(job)

    job.refresh_from_db()
    assert job.listing_complete
    assert job.listing_next_token == ""
    listing = [e.action for e in full_speed.request_log if e.action == "QueryDevice"]
    assert listing == ["QueryDevice"] * 3
    # The 120 listed devices' details: 100, then the last 20.
    assert api_calls(full_speed, "BatchQueryDeviceDetail") == 2


def test_a_listing_taken_over_goes_on_with_the_saved_token(viewer, full_speed):
    full_speed.set_listing_rules(window_rows=50)
    names = product_of(full_speed, "paging150xx", 150)
    job = product_sync_start(owner=viewer, product_key="paging150xx")
    client = runner.iot_client(account=job.account, purpose="job")
    first = client.query_device(product_key="paging150xx", page=1, page_size=50)
    # As a run killed after its first page leaves the job.
    Job.objects.filter(pk=job.pk).update(listing_next_page=2, listing_next_token=first.next_token)
    job.refresh_from_db()

    listing_only(job)

    job.refresh_from_db()
    assert (job.listing_complete, job.state) == (True, JobState.QUEUED)
    listed = set(JobItem.objects.filter(job=job).values_list("device_name", flat=True))
    assert listed == set(names[50:])


@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        ({"cut_after": 100}, "answered page 3 of product paging200xx with no devices"),
        (
            {"cut_after": 100, "cut_ends": True},
            "ended the listing of product paging200xx after 100 of the 200",
        ),
        (
            {"cut_after": 130},
            "answered page 3 of product paging200xx with 30 devices instead of 50",
        ),
    ],
)
def test_a_listing_cut_short_fails_the_job_with_the_reason(viewer, full_speed, cut, reason):
    product_of(full_speed, "paging200xx", 200)
    CertificateRecord.objects.create(product_key="paging200xx", device_name="unit-00001")
    job = product_sync_start(owner=viewer, product_key="paging200xx")
    full_speed.set_listing_rules(**cut)

    assert runner.job_work(job_id=job.pk) == "failed"

    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert reason in job.error
    assert "cut short" in job.error or "left out" in job.error
    # Nothing was taken for gone: the devices the platform did not list stay in the inventory.
    assert CertificateRecord.objects.filter(
        product_key="paging200xx", device_name="unit-00001"
    ).exists()


def test_the_listing_run_looks_devices_up_while_its_listing_waits_for_its_quota(
    viewer, full_speed, monkeypatch, request
):
    # The jobs' share of QueryDevice down to 2 calls/s: each of the listing's 6 pages waits
    # for it (up to half a second, longer than storing a page takes even on a loaded machine),
    # and the one run there is looks devices up meanwhile instead of after.
    monkeypatch.setattr(platform, "JOB_QPS", {**platform.JOB_QPS, "QueryDevice": 2})
    # Clients made by earlier tests hold the limiters they were made with.
    platform._limiters.cache_clear()
    platform._client.cache_clear()
    request.addfinalizer(platform._client.cache_clear)
    names = product_of(full_speed, "meanwhile300", 300)
    job = product_sync_start(owner=viewer, product_key="meanwhile300")
    full_speed.request_log.clear()

    assert runner.job_work(job_id=job.pk) == "finished"

    job.refresh_from_db()
    assert (job.state, job.total, job.done, job.failed) == (JobState.FINISHED, 300, 300, 0)
    log = list(full_speed.request_log)
    last_page = max(n for n, entry in enumerate(log) if entry.action == "QueryDevice")
    assert sum(1 for entry in log[:last_page] if entry.action == "QueryDeviceCert") >= 10
    # Each device asked once, those asked while listing included.
    asked = [entry.device_name for entry in log if entry.action == "QueryDeviceCert"]
    assert sorted(asked) == sorted(names)


def test_a_lookup_that_fails_the_job_while_the_details_are_asked_is_not_a_missing_detail(
    viewer, full_speed, monkeypatch
):
    product_of(full_speed, "meanwhile120", 120)
    job = product_sync_start(owner=viewer, product_key="meanwhile120")
    # The details call waits a little, and a lookup made meanwhile is refused for good (as
    # for credentials): the job fails for the lookup, its details are not counted missing.
    details_asked = threading.Event()
    ask_details = IotClient.batch_query_device_detail
    look_up = runner._item_process

    def slow_details(self, **kwargs):
        details_asked.set()
        time.sleep(0.3)
        return ask_details(self, **kwargs)

    def refused_while_details(*args):
        if details_asked.is_set():
            raise runner.JobFailed("lookups refused")
        return look_up(*args)

    monkeypatch.setattr(IotClient, "batch_query_device_detail", slow_details)
    monkeypatch.setattr(runner, "_item_process", refused_while_details)

    assert runner.job_work(job_id=job.pk) == "failed"

    job.refresh_from_db()
    assert (job.state, job.error, job.context_missing) == (JobState.FAILED, "lookups refused", 0)
