"""Job pages: who sees what, the live progress partial, starting and cancelling."""

import itertools

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from certadmin.jobs.models import Job, JobItem, JobKind, JobState
from tests.support.iot_accounts import account_on
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


def test_viewer_lists_own_jobs_apart_from_others_on_products_they_may_see(
    client, make_user, superuser
):
    alice, bob = make_user("Viewer"), make_user("Viewer")
    mine, theirs, cron = _job(alice), _job(bob), _job(None)
    client.force_login(alice)
    listing = client.get(reverse("jobs:list")).content.decode()
    own_part, others_part = listing.split('id="other-jobs-heading"')
    assert reverse("jobs:detail", args=[mine.pk]) in own_part
    assert reverse("jobs:detail", args=[theirs.pk]) in others_part
    assert reverse("jobs:detail", args=[cron.pk]) in others_part
    assert reverse("jobs:detail", args=[theirs.pk]) not in own_part
    client.force_login(superuser)
    listing = client.get(reverse("jobs:list")).content.decode()
    assert reverse("jobs:detail", args=[theirs.pk]) in listing


def test_another_viewer_follows_a_job_read_only(client, make_user):
    alice, bob = make_user("Viewer"), make_user("Viewer")
    job = _job(alice, state=JobState.RUNNING)
    client.force_login(bob)
    page = client.get(reverse("jobs:detail", args=[job.pk]))
    assert page.status_code == 200
    assert "Cancel job" not in page.content.decode()
    assert client.get(reverse("jobs:cancel", args=[job.pk])).status_code == 403
    assert client.post(reverse("jobs:cancel", args=[job.pk])).status_code == 403
    job.refresh_from_db()
    assert job.state == JobState.RUNNING


@pytest.mark.parametrize("owner", ["nobody", "another"])
def test_command_line_jobs_are_visible(client_for, make_user, viewer, owner):
    # cert_sync leaves the owner empty, or names whoever ran it (--owner).
    job = _job(None if owner == "nobody" else make_user("Viewer"), state=JobState.RUNNING)
    assert client_for(viewer).get(reverse("jobs:detail", args=[job.pk])).status_code == 200


def test_jobs_of_an_account_the_viewer_may_not_use_stay_hidden(client, make_user, settings):
    account_on(
        settings, "secret", access_key_id="LTAIsecret", access_key_secret="s", groups=("Secret",)
    )
    alice, bob = make_user("Viewer"), make_user("Viewer")
    alice.groups.add(Group.objects.create(name="Secret"))
    job = _job(alice, account="secret")
    client.force_login(bob)
    assert client.get(reverse("jobs:detail", args=[job.pk])).status_code == 404
    assert (
        reverse("jobs:detail", args=[job.pk])
        not in client.get(reverse("jobs:list")).content.decode()
    )
    client.force_login(alice)
    assert client.get(reverse("jobs:detail", args=[job.pk])).status_code == 200


def test_finished_job_links_to_the_products_device_list_and_expiry_view(
    client_for, viewer, settings
):
    account_on(settings, "staging", groups=())
    sync = _job(None, state=JobState.FINISHED, done=10, account="staging", iot_instance_id="iot-1")
    page = client_for(viewer).get(reverse("jobs:detail", args=[sync.pk])).content.decode()
    query = f"?product_key={sync.product_key}&amp;instance=iot-1&amp;account=staging"
    assert reverse("devices:list") + query in page
    assert reverse("devices:expiry") + query in page


def test_finished_batch_links_to_each_products_device_list(client_for, viewer):
    batch = _job(viewer, kind=JobKind.BATCH_LOOKUP, product_key="", state=JobState.FINISHED)
    for product_key in ("a1BatchOne", "a1BatchTwo"):
        JobItem.objects.create(job=batch, product_key=product_key, device_name="d1")
    page = client_for(viewer).get(reverse("jobs:detail", args=[batch.pk])).content.decode()
    for product_key in ("a1BatchOne", "a1BatchTwo"):
        assert f'{reverse("devices:list")}?product_key={product_key}"' in page
        assert f'{reverse("devices:expiry")}?product_key={product_key}"' in page


def test_running_job_has_no_product_links(client_for, viewer):
    job = _job(viewer, state=JobState.RUNNING)
    page = client_for(viewer).get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert reverse("devices:expiry") + "?" not in page


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


def test_waiting_job_says_it_waits_for_the_persons_other_jobs(
    client_for, viewer, make_user, settings
):
    settings.JOBS_PER_PERSON = 2
    now = timezone.now()
    for _ in range(2):
        _job(viewer, state=JobState.RUNNING, admitted_at=now, started_at=now)
    job = _job(viewer, state=JobState.QUEUED)
    detail = reverse("jobs:detail", args=[job.pk])
    page = client_for(viewer).get(detail).content.decode()
    reason = "Waiting for your other 2 running jobs to end (at most 2 run at once per person)."
    assert reason in page
    # Whoever else follows the job reads whose jobs it waits for.
    other = make_user("superuser")
    page = client_for(other).get(detail).content.decode()
    assert f"Waiting for the other 2 running jobs of {viewer.username} to end" in page


def test_a_queued_job_nothing_holds_waits_for_a_worker(client_for, viewer):
    job = _job(viewer, kind=JobKind.BATCH_LOOKUP, product_key="", admitted_at=timezone.now())
    page = client_for(viewer).get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert "Waiting for a worker to pick the job up." in page


def test_a_queued_sync_names_the_long_job_that_holds_the_sync_workers(
    client_for, viewer, make_user
):
    alice = make_user("Viewer", username="alice")
    now = timezone.now()
    running = _job(alice, state=JobState.RUNNING, admitted_at=now, started_at=now)
    waiting = _job(viewer, admitted_at=now)
    client = client_for(viewer)
    reason = (
        f"Waiting for a free sync worker: the sync of {running.product_key}, started by alice, "
        "is running."
    )
    assert reason in client.get(reverse("jobs:detail", args=[waiting.pk])).content.decode()
    assert reason in client.get(reverse("jobs:list")).content.decode()
    # A short job is not held by syncs: it waits for a worker of its own.
    batch = _job(viewer, kind=JobKind.BATCH_LOOKUP, product_key="", admitted_at=now)
    page = client.get(reverse("jobs:detail", args=[batch.pk])).content.decode()
    assert "Waiting for a worker to pick the job up." in page


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
    assert client.post(reverse("jobs:cancel", args=[running.pk])).status_code == 403
    client.force_login(alice)
    client.post(reverse("jobs:cancel", args=[running.pk]))
    running.refresh_from_db()
    assert running.state == JobState.CANCELLING
    client.force_login(superuser)
    client.post(reverse("jobs:cancel", args=[waiting.pk]))
    waiting.refresh_from_db()
    assert waiting.state == JobState.CANCELLED


def test_cancel_button_asks_first_with_and_without_javascript(client_for, viewer):
    job = _job(viewer, state=JobState.RUNNING, admitted_at="2026-01-01T00:00:00Z")
    client = client_for(viewer)
    cancel_url = reverse("jobs:cancel", args=[job.pk])
    page = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    # Without JavaScript the button GETs the confirmation page; htmx confirms, then posts.
    assert f'<form method="get" action="{cancel_url}"' in page
    assert f'hx-post="{cancel_url}" hx-confirm="Cancel job #{job.pk}?' in page
    confirmation = client.get(cancel_url)
    assert confirmation.status_code == 200
    text = confirmation.content.decode()
    assert f"Cancel job #{job.pk} (Product sync of {job.product_key})?" in text
    assert "Cancel the job" in text
    assert f'href="{reverse("jobs:detail", args=[job.pk])}">Keep it running' in text
    job.refresh_from_db()
    assert job.state == JobState.RUNNING  # asking never cancels
    response = client.post(cancel_url)
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.state == JobState.CANCELLING
    # Nothing left to confirm: back to the job page.
    assert client.get(cancel_url)["Location"] == reverse("jobs:detail", args=[job.pk])


def test_cancel_through_htmx_redirects_the_page(client_for, viewer):
    job = _job(viewer, state=JobState.QUEUED)
    response = client_for(viewer).post(reverse("jobs:cancel", args=[job.pk]), headers=HTMX_HEADERS)
    assert response["HX-Redirect"] == reverse("jobs:detail", args=[job.pk])
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED


def test_batch_confirmation_names_its_device_count(client_for, viewer):
    batch = _job(viewer, kind=JobKind.BATCH_LOOKUP, product_key="", total=3)
    text = client_for(viewer).get(reverse("jobs:cancel", args=[batch.pk])).content.decode()
    assert f"Cancel job #{batch.pk} (Batch lookup of 3 devices)?" in text


def test_each_job_row_shows_its_cells_in_the_persons_time_zone_and_escapes_what_it_stores(
    client_for, viewer, settings
):
    """The rows are built in Python (``jobs.rows``, issue 24): every cell the template showed,
    values escaped, times as every page writes them."""
    from certadmin.web.times import local_time_html

    started = timezone.now().replace(microsecond=0)
    job = _job(
        viewer,
        product_key="<b>a1Evil</b>",
        state=JobState.FINISHED,
        done=7,
        failed=2,
        started_at=started,
        finished_at=started,
    )
    cli = _job(None, kind=JobKind.BATCH_LOOKUP, product_key="")

    html = client_for(viewer).get(reverse("jobs:list")).content.decode()

    assert f'<a href="{reverse("jobs:detail", args=[job.pk])}">#{job.pk}</a>' in html
    assert '<code class="break">&lt;b&gt;a1Evil&lt;/b&gt;</code>' in html
    assert "<b>a1Evil" not in html
    assert f'class="break">{viewer.get_username()}</td>' in html
    assert '<span class="job-state job-state-finished">finished</span>' in html
    assert '<td data-label="Done">7/10</td>' in html
    assert '<td data-label="Failures">2</td>' in html
    assert f'<td data-label="Started">{local_time_html(started)}</td>' in html
    assert f'<td data-label="Finished">{local_time_html(started)}</td>' in html
    assert f"#{cli.pk}</a>" in html
    assert "command line" in html
    assert '<td data-label="Started">—</td>' in html
