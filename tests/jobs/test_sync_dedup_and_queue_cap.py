"""Identical syncs are not queued twice, and the queue has a cap.

A product has at most one sync queued or running per account and instance (a database
constraint holds to it): starting it again points to that job, in the dashboard and in
``cert_sync``. One person may have at most ``JOBS_QUEUED_PER_PERSON`` jobs waiting, and the
queue at most ``JOBS_QUEUED_TOTAL``; one more is refused with a message, before anything asks
the platform.
"""

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.urls import reverse

from certadmin.devices.batch_csv import batch_csv_parse
from certadmin.jobs import runner, services
from certadmin.jobs.models import Job, JobKind, JobState
from certadmin.jobs.services import (
    JOB_QUEUE_FULL,
    JobStartError,
    ProductSyncActive,
    batch_lookup_start,
    job_cancel,
    product_sync_start,
)
from tests.support.pages import HTMX_HEADERS

pytestmark = pytest.mark.django_db


def platform_calls(emulator) -> int:
    return len(emulator.request_log)


def _queued(owner, count: int, **fields) -> list[Job]:
    return [
        Job.objects.create(kind=JobKind.BATCH_LOOKUP, owner=owner, state=JobState.QUEUED, **fields)
        for _ in range(count)
    ]


# --- One sync per product ------------------------------------------------------------------------


def test_starting_a_queued_sync_again_points_to_it_and_queues_nothing(
    make_user, own_product, dashboard_iot
):
    alice, bob = make_user("Viewer"), make_user("Viewer")
    product_key = own_product(2)
    first = product_sync_start(owner=alice, product_key=product_key)
    calls = platform_calls(dashboard_iot)

    for person in (alice, bob, None):
        with pytest.raises(ProductSyncActive) as again:
            product_sync_start(owner=person, product_key=product_key)
        assert again.value.job == first
        assert f"already queued (job {first.pk})" in again.value.message

    assert list(Job.objects.values_list("pk", flat=True)) == [first.pk]
    assert platform_calls(dashboard_iot) == calls  # refused before any platform call


def test_a_running_sync_is_not_started_twice_but_an_ended_or_cancelling_one_is(viewer, own_product):
    product_key = own_product(2)
    first = product_sync_start(owner=viewer, product_key=product_key)
    Job.objects.filter(pk=first.pk).update(state=JobState.RUNNING)
    with pytest.raises(ProductSyncActive, match="already running"):
        product_sync_start(owner=viewer, product_key=product_key)

    job_cancel(job=first, actor=viewer)  # cancelling: the workers stop it between two devices
    second = product_sync_start(owner=viewer, product_key=product_key)
    assert runner.job_work(job_id=second.pk) == "finished"
    third = product_sync_start(owner=viewer, product_key=product_key)
    assert third.pk not in (first.pk, second.pk)


def test_the_database_refuses_a_second_active_sync_of_a_product(viewer):
    product = {"kind": JobKind.PRODUCT_SYNC, "owner": viewer, "product_key": "a1Dedup0001"}
    Job.objects.create(**product)
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(**product, state=JobState.RUNNING)
    Job.objects.create(**product, state=JobState.FINISHED)
    Job.objects.create(**product, state=JobState.CANCELLING)
    # The same ProductKey on another instance or another account is another product.
    Job.objects.create(**product, iot_instance_id="iot-06z00ep2pjifrby")
    Job.objects.create(**product, account="staging")
    Job.objects.create(**(product | {"kind": JobKind.BATCH_LOOKUP}))


def test_two_starts_that_race_past_the_check_still_make_one_job(
    make_user, own_product, monkeypatch
):
    alice, bob = make_user("Viewer"), make_user("Viewer")
    product_key = own_product(1)
    first = product_sync_start(owner=alice, product_key=product_key)
    # Bob's start looked before Alice's job existed: the constraint catches it.
    real_active = services.product_sync_active
    looks = iter([None])
    monkeypatch.setattr(
        services, "product_sync_active", lambda **kw: next(looks, None) or real_active(**kw)
    )

    with pytest.raises(ProductSyncActive) as again:
        product_sync_start(owner=bob, product_key=product_key)

    assert again.value.job == first
    assert Job.objects.count() == 1


def test_the_sync_form_redirects_to_the_sync_already_queued_with_a_message(
    client_for, viewer, own_product
):
    product_key = own_product(2)
    browser = client_for(viewer)
    browser.post(reverse("jobs:product-sync"), {"product_key": product_key})
    job = Job.objects.get()

    response = browser.post(reverse("jobs:product-sync"), {"product_key": product_key}, follow=True)
    partial = browser.post(
        reverse("jobs:product-sync"), {"product_key": product_key}, headers=HTMX_HEADERS
    )

    assert response.redirect_chain == [(reverse("jobs:detail", args=[job.pk]), 302)]
    assert f"A sync of product {product_key} is already queued (job {job.pk})." in (
        response.content.decode()
    )
    assert partial["HX-Redirect"] == reverse("jobs:detail", args=[job.pk])
    assert Job.objects.count() == 1


def test_someone_elses_sync_is_opened_to_follow(client_for, make_user, own_product):
    alice, bob = make_user("Viewer"), make_user("Viewer")
    product_key = own_product(2)
    alices = product_sync_start(owner=alice, product_key=product_key)

    response = client_for(bob).post(
        reverse("jobs:product-sync"), {"product_key": product_key}, follow=True
    )

    # Whoever may see the product may follow its sync, read-only.
    assert response.redirect_chain == [(reverse("jobs:detail", args=[alices.pk]), 302)]
    assert f"already queued (job {alices.pk})" in response.content.decode()
    assert "Cancel job" not in response.content.decode()
    assert Job.objects.count() == 1


def test_cert_sync_names_the_sync_already_queued_and_waits_on_it(own_product, capsys):
    product_key = own_product(3)
    call_command("cert_sync", "--product-key", product_key)
    job = Job.objects.get()
    capsys.readouterr()

    call_command("cert_sync", "--product-key", product_key)
    assert f"Job {job.pk}: a sync of {product_key} is already queued; not queued again." in (
        capsys.readouterr().out
    )
    call_command("cert_sync", "--product-key", product_key, "--wait")
    out = capsys.readouterr().out

    assert f"Job {job.pk} finished: 3 devices, 0 failed." in out
    assert Job.objects.count() == 1
    job.refresh_from_db()
    assert job.state == JobState.FINISHED


# --- The queue's cap -----------------------------------------------------------------------------


def test_a_person_with_a_full_queue_is_refused_before_the_platform_is_asked(
    make_user, own_product, settings, dashboard_iot
):
    settings.JOBS_QUEUED_PER_PERSON = 2
    alice, bob = make_user("Viewer"), make_user("Viewer")
    _queued(alice, 2)
    product_key = own_product(1)
    calls = platform_calls(dashboard_iot)

    with pytest.raises(JobStartError) as refused:
        product_sync_start(owner=alice, product_key=product_key)
    with pytest.raises(JobStartError) as refused_batch:
        batch_lookup_start(owner=alice, batch=batch_csv_parse(f"{product_key},dev-00001"))

    for error in (refused.value, refused_batch.value):
        assert error.code == JOB_QUEUE_FULL
        assert "You already have 2 jobs waiting in the queue" in error.message
    assert platform_calls(dashboard_iot) == calls
    assert Job.objects.filter(owner=alice).count() == 2
    # Someone else, and cron, still may.
    product_sync_start(owner=bob, product_key=product_key)
    assert Job.objects.filter(owner=bob).count() == 1


def test_a_full_queue_refuses_everyone_and_cron(make_user, own_product, settings):
    settings.JOBS_QUEUED_TOTAL = 3
    alice, bob = make_user("Viewer"), make_user("Viewer")
    _queued(alice, 3)
    product_key = own_product(1)

    for owner in (bob, None):
        with pytest.raises(JobStartError, match=r"The job queue is full \(3 jobs waiting\)"):
            product_sync_start(owner=owner, product_key=product_key)
    Job.objects.filter(owner=alice).update(state=JobState.RUNNING)
    assert product_sync_start(owner=bob, product_key=product_key).state == JobState.QUEUED


def test_the_sync_and_batch_forms_say_the_queue_is_full(client_for, viewer, settings):
    settings.JOBS_QUEUED_PER_PERSON = 1
    _queued(viewer, 1)
    browser = client_for(viewer)

    sync = browser.post(reverse("jobs:product-sync"), {"product_key": "a1BwAGV1234"})
    batch = browser.post(reverse("jobs:batch"), {"text": "a1BwAGV1234,dev-00001"})

    for response in (sync, batch):
        assert response.status_code == 429
        assert response["Retry-After"]
        assert "You already have 1 job waiting in the queue" in response.content.decode()
    assert Job.objects.count() == 1


def test_cert_sync_says_the_queue_is_full(own_product, settings):
    from django.core.management import CommandError

    settings.JOBS_QUEUED_TOTAL = 1
    _queued(None, 1)
    with pytest.raises(CommandError, match=r"The job queue is full.*\(JobQueueFull\)"):
        call_command("cert_sync", "--product-key", own_product(1))
