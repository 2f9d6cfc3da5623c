"""*Verify now* as a job: the request only enqueues; a worker walks the trail, writing its
progress, and records the result as the button always has; one verification at a time."""

import time

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from certadmin.audit.models import AuditAction, AuditEvent, ChainVerification
from certadmin.audit.services import RequestContext
from certadmin.jobs import runner
from certadmin.jobs.models import Job, JobKind, JobState
from certadmin.jobs.services import chain_verification_start
from certadmin.jobs.tasks import chain_verification_work, job_work
from tests.support.audit_events import make_events, tamper
from tests.support.pages import HTMX_HEADERS

CONTEXT = RequestContext(ip_address="192.0.2.7", user_agent="pytest")


def _chain_runs() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path=chain_verification_work.module_path))


@pytest.mark.django_db
def test_the_button_enqueues_a_run_and_verifies_nothing_in_the_request(
    auditor, client_for, django_capture_on_commit_callbacks
):
    make_events(3)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(auditor).post(reverse("audit:verify"))
    job = Job.objects.get()
    assert (job.kind, job.state, job.owner, job.done) == (
        JobKind.CHAIN_VERIFY,
        JobState.QUEUED,
        auditor,
        0,
    )
    assert response["Location"] == reverse("audit:verify-run", args=[job.pk])
    assert [run.args_kwargs["args"] for run in _chain_runs()] == [[job.pk]]
    assert not DBTaskResult.objects.filter(task_path=job_work.module_path).exists()
    assert not ChainVerification.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.CHAIN_VERIFY).exists()


@pytest.mark.django_db
def test_a_second_click_points_to_the_running_verification(
    auditor, make_user, client_for, django_capture_on_commit_callbacks
):
    first = client_for(auditor).post(reverse("audit:verify"))
    other = make_user("Auditor")
    with django_capture_on_commit_callbacks(execute=True):
        second = client_for(other).post(reverse("audit:verify"), follow=True)
    job = Job.objects.get()
    assert second.redirect_chain == [(first["Location"], 302)]
    assert "A verification is already under way" in second.content.decode()
    assert _chain_runs() == []
    chain_page = client_for(other).get(reverse("audit:chain")).content.decode()
    assert reverse("audit:verify-run", args=[job.pk]) in chain_page
    # Once it has ended, the next click starts a new one.
    runner.chain_verification_work(job_id=job.pk)
    client_for(other).post(reverse("audit:verify"))
    assert Job.objects.filter(kind=JobKind.CHAIN_VERIFY).count() == 2


@pytest.mark.django_db
def test_the_database_allows_one_active_verification_only(auditor):
    chain_verification_start(owner=auditor, context=CONTEXT)
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(kind=JobKind.CHAIN_VERIFY, owner=auditor, state=JobState.RUNNING)
    # Ended ones do not count, nor do other kinds.
    Job.objects.create(kind=JobKind.CHAIN_VERIFY, owner=auditor, state=JobState.FINISHED)
    Job.objects.create(kind=JobKind.PRODUCT_SYNC, owner=auditor, state=JobState.RUNNING)


@pytest.mark.django_db
def test_the_run_writes_its_progress_after_each_batch(auditor, monkeypatch):
    make_events(7)
    job, started = chain_verification_start(owner=auditor, context=CONTEXT)
    assert started
    monkeypatch.setattr(runner, "CHAIN_VERIFY_BATCH", 2)
    seen: list[tuple[int, int]] = []
    real_verify = runner.chain_verify

    def observed_verify(**kwargs):
        report = kwargs["progress"]

        def progress(checked: int) -> None:
            report(checked)
            row = Job.objects.get(pk=job.pk)
            seen.append((row.done, row.total))

        return real_verify(**{**kwargs, "progress": progress})

    monkeypatch.setattr(runner, "chain_verify", observed_verify)
    assert runner.chain_verification_work(job_id=job.pk) == "finished"
    assert seen == [(0, 7), (2, 7), (4, 7), (6, 7)]
    job.refresh_from_db()
    assert (job.state, job.done, job.total) == (JobState.FINISHED, 7, 7)
    assert job.verification.ok
    assert job.verification.checked == 7


@pytest.mark.django_db
def test_the_page_shows_rows_checked_of_total_while_it_runs(auditor, client_for):
    job, _started = chain_verification_start(owner=auditor, context=CONTEXT)
    Job.objects.filter(pk=job.pk).update(state=JobState.RUNNING, done=3000, total=10000)
    url = reverse("audit:verify-run", args=[job.pk])
    partial = client_for(auditor).get(url, headers=HTMX_HEADERS).content.decode()
    assert "<html" not in partial
    assert 'hx-trigger="every' in partial
    assert '<progress max="10000" value="3000"' in partial
    assert "3000 of 10000 rows checked" in partial
    full = client_for(auditor).get(url).content.decode()
    assert "<html" in full
    assert "Reload to see the latest progress" in full


@pytest.mark.django_db
def test_a_run_taken_over_by_the_watchdog_stops_and_records_nothing(auditor, monkeypatch):
    make_events(5)
    job, _started = chain_verification_start(owner=auditor, context=CONTEXT)
    monkeypatch.setattr(runner, "CHAIN_VERIFY_BATCH", 2)
    real_verify = runner.chain_verify

    def taken_over(**kwargs):
        report = kwargs["progress"]

        def progress(checked: int) -> None:
            if checked:  # a newer run claims the job while this one walks
                Job.objects.filter(pk=job.pk).update(listing_token="newer")
            report(checked)

        return real_verify(**{**kwargs, "progress": progress})

    monkeypatch.setattr(runner, "chain_verify", taken_over)
    assert runner.chain_verification_work(job_id=job.pk) == "replaced"
    assert not ChainVerification.objects.exists()
    assert Job.objects.get(pk=job.pk).state == JobState.RUNNING


@pytest.mark.django_db
def test_the_watchdog_restarts_a_verification_whose_worker_died(
    auditor, settings, django_capture_on_commit_callbacks
):
    job, _started = chain_verification_start(owner=auditor, context=CONTEXT)
    stale = timezone.now() - timezone.timedelta(seconds=settings.JOB_LEASE_SECONDS * 2)
    Job.objects.filter(pk=job.pk).update(state=JobState.RUNNING, last_progress_at=stale)
    with django_capture_on_commit_callbacks(execute=True):
        assert runner.job_watch(job_id=job.pk) == "revived"
    assert [run.args_kwargs["args"] for run in _chain_runs()] == [[job.pk]]
    assert not DBTaskResult.objects.filter(task_path=job_work.module_path).exists()
    # The restarted run walks the trail again from the start and ends the job.
    assert runner.chain_verification_work(job_id=job.pk) == "finished"
    assert Job.objects.get(pk=job.pk).verification is not None


@pytest.mark.django_db
def test_who_may_follow_a_verification(auditor, make_user, viewer, client_for):
    job, _started = chain_verification_start(owner=auditor, context=CONTEXT)
    url = reverse("audit:verify-run", args=[job.pk])
    assert client_for(make_user("Auditor")).get(url).status_code == 200
    assert client_for(viewer).get(url).status_code == 403
    sync = Job.objects.create(kind=JobKind.PRODUCT_SYNC, owner=auditor)
    not_a_verification = reverse("audit:verify-run", args=[sync.pk])
    assert client_for(auditor).get(not_a_verification).status_code == 404
    # The device jobs' pages do not list it.
    assert client_for(viewer).get(reverse("jobs:detail", args=[job.pk])).status_code == 404


def _wait_for(condition, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _ended(job_id: int) -> Job | None:
    job = Job.objects.select_related("verification").get(pk=job_id)
    return None if job.is_active else job


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_verifies_and_the_page_shows_the_result(
    auditor, client_for, db_worker, settings
):
    events = make_events(30)
    client = client_for(auditor)
    db_worker(CERTADMIN_AUDIT_CHECKPOINT_DIR=str(settings.AUDIT_CHECKPOINT_DIR))

    url = client.post(reverse("audit:verify"), headers={"user-agent": "pytest-ua"})["Location"]
    job = _wait_for(lambda: _ended(int(url.rstrip("/").rsplit("/", 1)[1])), timeout=120, what="run")
    assert job.state == JobState.FINISHED
    assert (job.done, job.total) == (30, 30)
    assert job.verification.ok
    assert job.verification.run_by == auditor.username
    html = client.get(url).content.decode()
    assert "Chain intact" in html
    assert job.verification.head_hash in html
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.action, event.actor_username, event.user_agent) == (
        AuditAction.CHAIN_VERIFY,
        auditor.username,
        "pytest-ua",
    )

    tamper("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [events[4].id])
    url = client.post(reverse("audit:verify"))["Location"]
    job = _wait_for(lambda: _ended(int(url.rstrip("/").rsplit("/", 1)[1])), timeout=120, what="run")
    assert job.state == JobState.FINISHED
    assert not job.verification.ok
    html = client.get(url, headers=HTMX_HEADERS).content.decode()
    assert "Chain broken" in html
    assert f"Row {events[4].id} was edited" in html
