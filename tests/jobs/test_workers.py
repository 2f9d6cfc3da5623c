"""Real ``task_worker`` processes: a worker killed mid-job (in its lookups, and in its listing),
two workers sharing one job, two accounts' syncs at once, and the workers `make run` starts
keeping short jobs moving beside a long sync."""

import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from django.urls import reverse

from certadmin.devices.batch_csv import batch_csv_parse
from certadmin.jobs.models import Job, JobState
from certadmin.jobs.services import batch_lookup_start, product_sync_start
from tests.jobs.conftest import ANY_QUEUE, INTERACTIVE_QUEUES

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(condition, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _job(job_id: int) -> Job:
    return Job.objects.get(pk=job_id)


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_is_replaced_and_no_finished_lookup_is_repeated(
    viewer, own_product, emulator_counts, db_worker, settings
):
    settings.JOB_LEASE_SECONDS = 3
    settings.JOB_RUNS = 1  # only the watchdog can bring the job back after the kill
    product_key = own_product(60)
    job = product_sync_start(owner=viewer, product_key=product_key)

    first = db_worker()
    _wait_for(lambda: _job(job.pk).done >= 15, timeout=180, what="15 devices done")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    done_at_kill = _job(job.pk).done
    assert done_at_kill < 60

    db_worker()
    _wait_for(lambda: not _job(job.pk).is_active, timeout=300, what="the job to end")
    job.refresh_from_db()
    assert job.state == JobState.FINISHED
    assert (job.total, job.done, job.failed) == (60, 60, 0)
    assert len(emulator_counts.lookups) == 60
    # The only lookup that may be repeated is the one in flight when the worker died (asked,
    # but its answer never written): every finished lookup happened exactly once.
    repeated = [name for name, count in emulator_counts.lookups.items() if count > 1]
    assert len(repeated) <= 1
    assert max(emulator_counts.lookups.values()) <= 2
    assert emulator_counts.throttled == {}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_on_postgresql_share_one_job_within_the_quota(
    viewer, own_product, emulator_counts, db_worker, settings
):
    from django.db import connection
    from django_tasks_db.models import DBTaskResult

    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip(
            "needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL): workers on SQLite "
            "or without a shared limiter are not the production setup"
        )
    settings.JOB_RUNS = 2
    product_key = own_product(80)
    began = time.monotonic()
    job = product_sync_start(owner=viewer, product_key=product_key)
    db_worker()
    db_worker()
    _wait_for(lambda: not _job(job.pk).is_active, timeout=300, what="the job to end")
    elapsed = time.monotonic() - began
    job.refresh_from_db()
    assert job.state == JobState.FINISHED
    assert job.done == 80
    assert emulator_counts.throttled == {}
    assert set(emulator_counts.lookups.values()) == {1}
    runs = DBTaskResult.objects.filter(task_path__endswith="job_work")
    workers = {worker for run in runs for worker in run.worker_ids}
    assert len(workers) == 2
    # 80 lookups within the jobs' share (8 per second) take at least ~10 s.
    assert elapsed >= 80 / settings.JOB_QPS * 1.1 - 2


def test_make_run_make_serve_and_the_procfile_start_an_interactive_worker_beside_the_others():
    worker = "manage.py task_worker --no-reload --queue-name"
    makefile = (ROOT / "Makefile").read_text()
    run = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    serve = makefile.split("\nserve:", 1)[1].split("\n\n", 1)[0]
    for recipe in (run, serve):
        assert f"{worker} {INTERACTIVE_QUEUES} &" in recipe
        assert f"{worker} '{ANY_QUEUE}' &" in recipe
    procfile = (ROOT / "Procfile").read_text()
    assert f"{worker} {INTERACTIVE_QUEUES}\n" in procfile
    assert f"{worker} '{ANY_QUEUE}'\n" in procfile


@pytest.mark.django_db(transaction=True)
def test_a_small_batch_completes_within_seconds_beside_a_long_sync_and_a_waiting_sync_says_why(
    viewer, make_user, own_product, db_worker, client_for
):
    # A sync the emulator makes slow: each lookup answers after a second (40 s in all).
    slow_product = own_product(40, fault={"latency": 1.0})
    small_product = own_product(3)
    other_product = own_product(2)
    db_worker(INTERACTIVE_QUEUES)
    db_worker(ANY_QUEUE)
    sync = product_sync_start(owner=viewer, product_key=slow_product)
    _wait_for(lambda: _job(sync.pk).done >= 1, timeout=30, what="the sync to be under way")

    bob = make_user("Viewer", username="bob")
    waiting_sync = product_sync_start(owner=bob, product_key=other_product)
    began = time.monotonic()
    batch = batch_lookup_start(
        owner=bob,
        batch=batch_csv_parse("\n".join(f"{small_product},dev-{n:05d}" for n in (1, 2, 3))),
    )
    _wait_for(lambda: not _job(batch.pk).is_active, timeout=20, what="the batch to end")
    assert time.monotonic() - began < 6
    assert (_job(batch.pk).state, _job(batch.pk).done) == (JobState.FINISHED, 3)
    assert _job(sync.pk).state == JobState.RUNNING

    # The other sync waits for the one worker that takes syncs, and says so.
    assert _job(waiting_sync.pk).state == JobState.QUEUED
    reason = (
        f"Waiting for a free sync worker: the sync of {slow_product}, started by "
        f"{viewer.username}, is running."
    )
    browser = client_for(bob)
    assert reason in browser.get(reverse("jobs:detail", args=[waiting_sync.pk])).content.decode()
    assert reason in browser.get(reverse("jobs:list")).content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_second_sync_of_a_running_product_points_to_it_and_cancel_asks_first(
    viewer, make_user, own_product, db_worker, client_for, emulator_counts
):
    # A real worker runs a slow sync (a second per lookup) while people ask for it again.
    product_key = own_product(30, fault={"latency": 1.0})
    db_worker(ANY_QUEUE)
    owner = client_for(viewer)
    started = owner.post(reverse("jobs:product-sync"), {"product_key": product_key})
    assert started.status_code == 302
    sync = Job.objects.get()
    _wait_for(lambda: _job(sync.pk).done >= 1, timeout=30, what="the sync to be under way")
    assert _job(sync.pk).state == JobState.RUNNING

    # Someone else asks for the same product: they are sent to the running sync, nothing is
    # queued, and their job slots stay free.
    other = client_for(make_user("Viewer", username="carol"))
    again = other.post(reverse("jobs:product-sync"), {"product_key": product_key}, follow=True)
    assert again.redirect_chain[-1][0] == reverse("jobs:detail", args=[sync.pk])
    assert Job.objects.count() == 1
    assert "already" in again.content.decode()

    # Cancel job without JavaScript opens a confirmation page; nothing is cancelled yet.
    owner = client_for(viewer)
    confirm = owner.get(reverse("jobs:cancel", args=[sync.pk]))
    assert confirm.status_code == 200
    assert 'method="post"' in confirm.content.decode()
    assert _job(sync.pk).state == JobState.RUNNING
    # Confirming cancels, and the worker stops asking the platform.
    assert owner.post(reverse("jobs:cancel", args=[sync.pk])).status_code == 302
    _wait_for(lambda: not _job(sync.pk).is_active, timeout=30, what="the sync to stop")
    assert _job(sync.pk).state == JobState.CANCELLED
    asked = sum(emulator_counts.lookups.values())
    time.sleep(2)
    assert sum(emulator_counts.lookups.values()) == asked
    assert asked < 30


@pytest.fixture
def listing_offsets(dashboard_iot):
    """The row offsets of the QueryDevice pages of 50 the emulator answered, in order (the
    product check's one-row page left out), taken on the emulator's side."""
    store = dashboard_iot._gateway.store
    real_page = store.devices_page
    offsets: list[int] = []

    def devices_page(product_key, offset, limit):
        if limit == 50:
            offsets.append(offset)
        return real_page(product_key, offset, limit)

    store.devices_page = devices_page
    yield offsets
    del store.devices_page


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_sync_killed_in_its_listing_and_again_in_its_lookups_asks_nothing_twice(
    viewer, own_product, listing_offsets, db_worker, dashboard_iot, settings
):
    settings.JOB_LEASE_SECONDS = 2
    settings.JOB_RUNS = 1  # only the watchdog can bring the job back after each kill
    product_key = own_product(60)  # two pages: 50, 10
    job = product_sync_start(owner=viewer, product_key=product_key)
    dashboard_iot.request_log.clear()
    # A slow listing, so that the first kill lands while a page is being fetched.
    dashboard_iot.set_fault(None, latency=1.0, actions=["QueryDevice"])

    first = db_worker()
    _wait_for(lambda: _job(job.pk).listing_next_page >= 2, timeout=60, what="the first page")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert not _job(job.pk).listing_complete

    second = db_worker()
    _wait_for(lambda: _job(job.pk).done >= 20, timeout=60, what="20 devices done")
    second.send_signal(signal.SIGKILL)
    second.wait(timeout=10)

    db_worker()
    _wait_for(lambda: not _job(job.pk).is_active, timeout=120, what="the job to end")
    job.refresh_from_db()
    assert (job.state, job.total, job.done, job.failed) == (JobState.FINISHED, 60, 60, 0)
    # The listing went on from the page saved: page 1 asked once, the page in flight at the
    # kill at most twice.
    assert listing_offsets.count(0) == 1
    assert sorted(set(listing_offsets)) == [0, 50]
    assert len(listing_offsets) <= 3
    # Every device asked, and only the one in flight at the second kill (asked, its answer
    # never recorded) asked twice.
    asked = Counter(
        entry.device_name
        for entry in dashboard_iot.request_log
        if entry.action == "QueryDeviceCert"
    )
    assert len(asked) == 60
    assert sum(1 for count in asked.values() if count > 1) <= 1
    assert max(asked.values()) <= 2


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_accounts_sync_at_once_each_within_its_own_quota(
    viewer, own_product, staging_iot, db_worker, settings
):
    from django.db import connection

    from certadmin.emulator.store import device_from_entry

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): two worker processes at once")
    settings.JOB_RUNS = 1
    count = 48
    default_product = own_product(count)
    gateway = staging_iot._gateway
    staging_store = gateway.account_stores[settings.DEMO_STAGING_ACCESS_KEY_ID]
    staging_product = default_product.replace("jobs", "stag")
    for number in range(1, count + 1):
        staging_store.add(
            device_from_entry(
                {
                    "product_key": staging_product,
                    "device_name": f"dev-{number:05d}",
                    "key_type": "ec",
                }
            )
        )
    # When each account's certificate answers were given, taken on the emulator's side.
    answered: dict[str, list[float]] = {"default": [], "staging": []}
    wrapped = {"default": gateway.store, "staging": staging_store}
    for account, store in wrapped.items():
        real_info = store.certificate_info

        def certificate_info(device, real_info=real_info, times=answered[account]):
            times.append(time.monotonic())
            return real_info(device)

        store.certificate_info = certificate_info
    try:
        jobs = [
            product_sync_start(owner=viewer, product_key=default_product),
            product_sync_start(owner=viewer, product_key=staging_product, account="staging"),
        ]
        db_worker()
        db_worker()
        for job in jobs:
            _wait_for(lambda job=job: not _job(job.pk).is_active, timeout=120, what="the syncs")
    finally:
        for store in wrapped.values():
            del store.certificate_info
    for job in jobs:
        job.refresh_from_db()
        assert (job.state, job.done, job.failed) == (JobState.FINISHED, count, 0)
    assert staging_iot.throttled == {}
    assert [len(times) for times in answered.values()] == [count, count]
    # While both ran, together they were answered faster than one account's quota (10 per
    # second) allows: each had its own.
    start = max(times[0] for times in answered.values())
    end = min(times[-1] for times in answered.values())
    assert end - start > 2
    both = sum(1 for times in answered.values() for moment in times if start <= moment <= end)
    assert both / (end - start) > 11
