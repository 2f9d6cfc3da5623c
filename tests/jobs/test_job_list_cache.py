"""The jobs list's sections cached while no job changes (issue 24: 100 jobs read and 200 times
written out on every view): read from the cache until a job is added, an active job moves,
a job ends or progress is written after its end; never another person's, page's or
language's."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from certadmin.jobs.list_cache import _jobs_state
from certadmin.jobs.models import Job, JobKind, JobState
from certadmin.jobs.services import job_end
from certadmin.jobs.views import JOBS_LISTED
from tests.support.databases import query_plan

pytestmark = pytest.mark.django_db


def _job(owner, *, state=JobState.FINISHED, **fields) -> Job:
    now = timezone.now()
    ended = state in (JobState.FINISHED, JobState.FAILED, JobState.CANCELLED)
    values = {
        "kind": JobKind.PRODUCT_SYNC,
        "owner": owner,
        "state": state,
        "account": "default",
        "product_key": "a1Cache0001",
        "total": 40,
        "done": 40 if ended else 3,
        "admitted_at": now,
        "started_at": None if state == JobState.QUEUED else now - timedelta(minutes=5),
        "finished_at": now if ended else None,
        **fields,
    }
    return Job.objects.create(**values)


def _listed(client, **query) -> tuple[str, int]:
    """The list's page, and how many queries read a section's jobs."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("jobs:list"), query)
    assert response.status_code == 200
    reads = [q for q in queries.captured_queries if f"LIMIT {JOBS_LISTED + 1}" in q["sql"]]
    return response.content.decode(), len(reads)


def _tables(page: str) -> str:
    return page[page.index('<section aria-labelledby="jobs-heading">') :]


def _row(page: str, job: Job) -> str:
    start = page.index(f">#{job.pk}</a>")
    return page[start : page.index("</tr>", start)]


def test_the_list_is_read_once_while_no_job_changes(viewer, client_for):
    mine = [_job(viewer) for _ in range(3)]
    client = client_for(viewer)
    page, reads = _listed(client)
    assert reads == 2
    again, reads = _listed(client)
    assert reads == 0
    assert _tables(again) == _tables(page)
    assert all(f">#{job.pk}</a>" in again for job in mine)


def _added(owner, running):
    return _job(owner, product_key="a1Cache0002")


def _progressed(owner, running):
    Job.objects.filter(pk=running.pk).update(done=17, last_progress_at=timezone.now())


def _listing_counted(owner, running):
    # The end of a sync's listing sets its total, and no progress time.
    Job.objects.filter(pk=running.pk).update(total=55)


def _ended(owner, running):
    assert job_end(job_id=running.pk, state=JobState.FAILED, error="Throttling.User")


@pytest.mark.parametrize("change", [_added, _progressed, _listing_counted, _ended])
def test_each_change_of_a_job_shows_at_once(viewer, client_for, change):
    _job(viewer)
    running = _job(viewer, state=JobState.RUNNING)
    client = client_for(viewer)
    before, _ = _listed(client)
    assert _listed(client)[1] == 0
    change(viewer, running)
    after, reads = _listed(client)
    assert reads == 2
    assert after != before
    expected = Job.objects.get(pk=running.pk)
    row = _row(after, expected)
    assert f"{expected.done}/{expected.total}" in row
    assert f"job-state-{expected.state}" in row


def test_progress_written_after_a_jobs_end_shows_at_once(viewer, client_for):
    running = _job(viewer, state=JobState.RUNNING)
    job_end(job_id=running.pk, state=JobState.CANCELLED)
    client = client_for(viewer)
    assert "3/40" in _row(_listed(client)[0], running)
    assert _listed(client)[1] == 0
    # A worker's last batch, written after the job was cancelled.
    Job.objects.filter(pk=running.pk).update(done=11, last_progress_at=timezone.now())
    page, reads = _listed(client)
    assert reads == 2
    assert "11/40" in _row(page, running)


def test_a_queued_job_admitted_shows_its_new_waiting_text_at_once(viewer, client_for, settings):
    settings.JOBS_PER_PERSON = 1
    _job(viewer, state=JobState.RUNNING)
    waiting = _job(viewer, state=JobState.QUEUED, admitted_at=None, product_key="a1Cache0003")
    client = client_for(viewer)
    assert "Waiting for your other" in _row(_listed(client)[0], waiting)
    Job.objects.filter(pk=waiting.pk).update(admitted_at=timezone.now())
    assert "Waiting for your other" not in _row(_listed(client)[0], waiting)


def test_a_cached_list_is_never_another_persons(viewer, make_user, client_for):
    other = make_user("Viewer")
    theirs = _job(other)
    mine = _job(viewer)
    for _ in range(2):  # the second time from the cache
        own_page = _listed(client_for(viewer))[0]
        their_page = _listed(client_for(other))[0]
        yours, others = own_page.split("Other people")
        assert f">#{mine.pk}</a>" in yours
        assert f">#{theirs.pk}</a>" in others
        yours, others = their_page.split("Other people")
        assert f">#{theirs.pk}</a>" in yours
        assert f">#{mine.pk}</a>" in others


def test_each_page_and_language_is_a_list_of_its_own(viewer, client_for):
    jobs = [_job(viewer) for _ in range(JOBS_LISTED + 2)]
    client = client_for(viewer)
    first = _listed(client)[0]
    older = _listed(client, before=jobs[2].pk)[0]
    assert f">#{jobs[-1].pk}</a>" in first
    assert f">#{jobs[-1].pk}</a>" not in older
    assert f">#{jobs[0].pk}</a>" in older
    client.cookies["django_language"] = "zh-hans"
    chinese, reads = _listed(client)
    assert reads == 2
    assert chinese != first


def test_the_keys_jobs_state_is_read_from_indexes(viewer):
    Job.objects.bulk_create(
        Job(kind=JobKind.BATCH_LOOKUP, owner=viewer, state=JobState.FINISHED, total=1, done=1)
        for _ in range(2000)
    )
    _job(viewer, state=JobState.RUNNING, last_progress_at=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        _jobs_state()
    (sql,) = [q["sql"] for q in queries.captured_queries]
    with connection.cursor() as cursor:
        # With statistics: most jobs have ended, which steered SQLite past job_state.
        cursor.execute("ANALYZE jobs_job")
    plan = query_plan(sql, reindexed=["jobs_job"])
    assert "job_last_progress" in plan
    assert "job_active" in plan
