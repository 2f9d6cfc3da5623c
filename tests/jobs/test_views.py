"""Job pages: who sees what, the live progress partial, starting and cancelling."""

import itertools

import pytest
from django.urls import reverse

from certadmin.jobs.models import Job, JobKind, JobState
from tests.support.pages import HTMX_HEADERS

pytestmark = pytest.mark.django_db


_product_keys = itertools.count(1)


def _job(owner, **fields) -> Job:
    # A product of its own: a product has one sync queued or running at a time.
    product_key = f"a1Views{next(_product_keys):04d}"
    defaults = {"kind": JobKind.PRODUCT_SYNC, "product_key": product_key, "total": 10}
    return Job.objects.create(owner=owner, **(defaults | fields))


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("jobs:list"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_auditor_without_viewer_permission_is_refused(client_for, auditor):
    assert client_for(auditor).get(reverse("jobs:list")).status_code == 403


def test_viewer_sees_own_jobs_only_and_superuser_sees_all(client, make_user, superuser):
    alice, bob = make_user("Viewer"), make_user("Viewer")
    mine, theirs = _job(alice), _job(bob)
    client.force_login(alice)
    listing = client.get(reverse("jobs:list")).content.decode()
    assert reverse("jobs:detail", args=[mine.pk]) in listing
    assert reverse("jobs:detail", args=[theirs.pk]) not in listing
    assert client.get(reverse("jobs:detail", args=[theirs.pk])).status_code == 404
    client.force_login(superuser)
    listing = client.get(reverse("jobs:list")).content.decode()
    assert reverse("jobs:detail", args=[theirs.pk]) in listing


def test_progress_partial_polls_while_active_and_stops_when_ended(client_for, viewer):
    job = _job(viewer, state=JobState.RUNNING, done=4, failed=1)
    client = client_for(viewer)
    url = reverse("jobs:detail", args=[job.pk])
    partial = client.get(url, headers=HTMX_HEADERS).content.decode()
    assert "<html" not in partial
    assert 'hx-trigger="every' in partial
    assert '<progress max="10" value="4"' in partial
    assert "1 failure" in partial
    assert "left" in partial  # estimated time left
    full = client.get(url).content.decode()
    assert "<html" in full
    assert "Reload to see the latest progress" in full
    Job.objects.filter(pk=job.pk).update(state=JobState.FINISHED, done=10)
    ended = client.get(url, headers=HTMX_HEADERS).content.decode()
    assert "hx-trigger" not in ended
    assert "Reload" not in ended


def test_waiting_job_says_it_waits_for_the_persons_other_jobs(client_for, viewer):
    job = _job(viewer, state=JobState.QUEUED)
    page = client_for(viewer).get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert "Waiting" in page
    assert "at most 2 at once" in page


def test_sync_of_unknown_product_starts_nothing_and_says_why(client_for, viewer, dashboard_iot):
    response = client_for(viewer).post(
        reverse("jobs:product-sync"), {"product_key": "nosuchproduct1"}
    )
    assert response.status_code == 400
    assert "There is no product nosuchproduct1" in response.content.decode()
    assert not Job.objects.exists()


def test_malformed_product_key_starts_nothing(client_for, viewer):
    response = client_for(viewer).post(reverse("jobs:product-sync"), {"product_key": "bad key!"})
    assert response.status_code == 400
    assert not Job.objects.exists()


def test_sync_of_a_product_redirects_to_its_job(client_for, viewer, own_product):
    product_key = own_product(2)
    response = client_for(viewer).post(reverse("jobs:product-sync"), {"product_key": product_key})
    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("jobs:detail", args=[job.pk])
    assert job.owner == viewer


def test_cancel_by_owner_and_by_superuser_but_not_by_another_viewer(client, make_user, superuser):
    alice, bob = make_user("Viewer"), make_user("Viewer")
    running = _job(alice, state=JobState.RUNNING, admitted_at="2026-01-01T00:00:00Z")
    waiting = _job(alice, state=JobState.QUEUED)
    client.force_login(bob)
    assert client.post(reverse("jobs:cancel", args=[running.pk])).status_code == 404
    client.force_login(alice)
    assert client.get(reverse("jobs:cancel", args=[running.pk])).status_code == 405
    client.post(reverse("jobs:cancel", args=[running.pk]))
    running.refresh_from_db()
    assert running.state == JobState.CANCELLING
    client.force_login(superuser)
    client.post(reverse("jobs:cancel", args=[waiting.pk]))
    waiting.refresh_from_db()
    assert waiting.state == JobState.CANCELLED
