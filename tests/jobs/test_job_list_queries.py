"""The jobs list with hundreds of jobs (issue 24): the columns it shows and their owners' names
in one query per section, the queue read once for every waiting job, rows exactly as the page
wrote them when it loaded whole jobs and asked the queue once per waiting job, and each
section's pages."""

import itertools
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from certadmin.jobs.models import Job, JobKind, JobState
from certadmin.jobs.progress import job_waiting_text
from certadmin.jobs.rows import job_rows_html
from certadmin.jobs.selectors import jobs_visible
from certadmin.jobs.views import JOBS_LISTED

pytestmark = pytest.mark.django_db

_numbers = itertools.count(1)
_STATES = [
    JobState.FINISHED,
    JobState.FAILED,
    JobState.CANCELLED,
    JobState.QUEUED,
    JobState.FINISHED,
    JobState.QUEUED,
    JobState.FINISHED,
]


def _fill(count: int, owners: list, *, start: int = 0) -> None:
    """``count`` jobs of every kind the list shows, in every state, of ``owners`` in turn
    (None: the command line), queued ones admitted or not, with errors and stored text that
    needs escaping."""
    now = timezone.now().replace(microsecond=0)
    jobs = []
    for n in range(start, start + count):
        state = _STATES[n % len(_STATES)]
        sync = n % 2 == 0
        ended = state in (JobState.FINISHED, JobState.FAILED, JobState.CANCELLED)
        jobs.append(
            Job(
                kind=JobKind.PRODUCT_SYNC if sync else JobKind.BATCH_LOOKUP,
                owner=owners[n % len(owners)],
                state=state,
                product_key=(f"a1List{next(_numbers):05d}" + ("<&>" if n % 11 == 0 else ""))
                if sync
                else "",
                # Some batches are long (queued with the syncs), most short.
                total=900 if n % 5 == 0 else 40,
                done=40 if ended else n % 40,
                failed=n % 3,
                admitted_at=now if n % 3 else None,
                started_at=None if state == JobState.QUEUED else now - timedelta(hours=n),
                finished_at=now - timedelta(minutes=n) if ended else None,
                error="Throttling.User: Request was denied due to user flow control."
                if state == JobState.FAILED
                else "",
                user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0",
            )
        )
    Job.objects.bulk_create(jobs)


def _workers_held(owner) -> None:
    # Three long jobs (one being cancelled) and a short one on the workers, so waiting jobs
    # have something to wait for.
    now = timezone.now()
    for kind, total, key, state in (
        (JobKind.PRODUCT_SYNC, 10, "a1Holding1", JobState.RUNNING),
        (JobKind.PRODUCT_SYNC, 10, "a1Holding2", JobState.RUNNING),
        (JobKind.BATCH_LOOKUP, 900, "", JobState.CANCELLING),
        (JobKind.BATCH_LOOKUP, 5, "", JobState.RUNNING),
    ):
        Job.objects.create(
            kind=kind,
            owner=owner,
            state=state,
            total=total,
            product_key=key,
            admitted_at=now,
            started_at=now,
        )


def _rows_as_before(viewer, *, own: bool) -> str:
    # What the list wrote before issue 24: whole jobs, the queue asked once per waiting job.
    visible = jobs_visible(user=viewer)
    listed = visible.filter(owner=viewer) if own else visible.exclude(owner=viewer)
    jobs = list(listed[:JOBS_LISTED])
    for job in jobs:
        job.waiting_text = job_waiting_text(job=job, viewer=viewer)
    return job_rows_html(jobs)


def _list_page(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("jobs:list"))
    assert response.status_code == 200
    table = Job._meta.db_table
    return response, [query["sql"] for query in queries.captured_queries if table in query["sql"]]


@pytest.fixture
def people(make_user, viewer):
    return [viewer, make_user("Viewer", username="alice"), make_user("Viewer"), None]


def test_jobs_list_reads_the_same_few_queries_at_20_and_at_200_jobs(
    client_for, viewer, people, settings
):
    settings.JOBS_PER_PERSON = 1
    _workers_held(people[1])
    _fill(20, people)
    client = client_for(viewer)
    _, few = _list_page(client)
    _fill(400, people, start=20)
    response, many = _list_page(client)

    assert response.context["jobs_count"] == response.context["other_jobs_count"] == JOBS_LISTED
    # The cache key's jobs state, two lists, the short jobs on the workers, the first long ones
    # and how many there are, and every listed owner's admitted jobs at once: none per row.
    assert len(many) == len(few) <= 7
    listing = [sql for sql in many if f"LIMIT {JOBS_LISTED + 1}" in sql]
    assert len(listing) == 2
    for sql in listing:
        # Only what the page shows: no tokens, user agents or addresses of 200 jobs.
        assert "user_agent" not in sql
        assert "listing_next_token" not in sql
        assert "password" not in sql


def test_jobs_list_rows_are_written_as_before(client_for, viewer, people, settings):
    settings.JOBS_PER_PERSON = 1
    _fill(420, people)
    _workers_held(people[1])

    response, _ = _list_page(client_for(viewer))

    own, others = response.context["jobs_rows"], response.context["other_jobs_rows"]
    assert own == _rows_as_before(viewer, own=True)
    assert others == _rows_as_before(viewer, own=False)
    # The set covers what a row can say: every state and kind, the command line, escaping,
    # and each kind of waiting text.
    page = own + others
    for state in JobState.values:
        assert f"job-state-{state}" in page
    assert "Batch lookup" in page
    assert "Product sync" in page
    assert "command line" in page
    assert "alice" in page
    assert "a1List" in page
    assert "&lt;&amp;&gt;" in page
    assert "Waiting for your other " in page
    assert " of alice to end" in page
    assert " running command-line jobs to end" in page
    assert "Waiting for a free worker: 1 other short job is running." in page
    assert "Waiting for a free sync worker: the sync of a1Holding1 and 2 other long jobs" in page


def _listed_ids(rows_html: str) -> list[int]:
    return [int(number) for number in re.findall(r">#(\d+)</a>", rows_html)]


def test_each_section_pages_through_every_job_once_newest_first(client_for, viewer, people):
    _fill(500, people)
    # Jobs started in the same instant are still paged by their ids.
    Job.objects.filter(pk__in=Job.objects.order_by("pk").values("pk")[100:200]).update(
        created_at=timezone.now()
    )
    client = client_for(viewer)
    expected = list(
        Job.objects.filter(owner=viewer).order_by("-created_at", "-pk").values_list("pk", flat=True)
    )
    others_first = None
    seen, url = [], reverse("jobs:list")
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += _listed_ids(response.context["jobs_rows"])
        # The other section stays on its first page while this one pages.
        others = _listed_ids(response.context["other_jobs_rows"])
        assert others == (others_first := others_first or others)
        page = response.content.decode()
        pager = re.search(r'aria-label="Pages of your jobs">(.*?)</nav>', page, re.DOTALL)
        older = re.search(r'<a href="([^"]*)" rel="next">Older jobs</a>', pager.group(1))
        url = reverse("jobs:list") + older.group(1).replace("&amp;", "&") if older else None
    assert seen == expected
    assert len(expected) > 2 * JOBS_LISTED
    assert "Newest jobs" in page
    # The other section pages the same way, under its own parameter.
    first = client.get(reverse("jobs:list")).content.decode()
    assert f'href="?others_before={others_first[-1]}" rel="next">Older jobs</a>' in first


def test_an_unreadable_page_shows_the_newest_jobs(client_for, viewer, people):
    _fill(120, people)
    client = client_for(viewer)
    newest = client.get(reverse("jobs:list")).context["jobs_rows"]
    for query in ("?before=abc", "?before=-4", "?others_before=x&before=0"):
        response = client.get(reverse("jobs:list") + query)
        assert response.status_code == 200
        assert response.context["jobs_rows"] == newest


def test_a_page_after_a_job_the_person_may_not_see_lists_nothing(
    client_for, viewer, people, make_user
):
    _fill(40, people)
    hidden = Job.objects.create(
        kind=JobKind.BATCH_LOOKUP, owner=make_user(None), total=1, account="not-configured"
    )
    assert not jobs_visible(user=viewer).filter(pk=hidden.pk).exists()
    response = client_for(viewer).get(reverse("jobs:list") + f"?before={hidden.pk}")
    assert response.status_code == 200
    assert response.context["jobs_count"] == 0
    assert "Newest jobs" in response.content.decode()
