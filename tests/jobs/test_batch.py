"""Batch lookups: the form, the job, its results page and CSV, the per-person limit."""

import csv
import io
import re

import pytest
from django.urls import reverse

from certadmin.devices.batch_csv import batch_csv_parse
from certadmin.devices.inventory_csv import INVENTORY_CSV_HEADER
from certadmin.devices.models import CertificateRecord
from certadmin.jobs import runner
from certadmin.jobs.models import ItemState, Job, JobItem, JobKind, JobState
from certadmin.jobs.services import batch_lookup_start, product_sync_start
from tests.support.iot_accounts import account_on
from tests.support.pages import HTMX_HEADERS

pytestmark = pytest.mark.django_db


def _results_csv(client, job: Job) -> list[list[str]]:
    response = client.get(reverse("jobs:results-csv", args=[job.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text)))


def test_uploaded_csv_becomes_a_job_whose_results_page_and_csv_list_every_device(
    client_for, viewer, own_product, dashboard_iot, emulator_counts
):
    product_key = own_product(3)
    upload = io.BytesIO(
        (
            "\ufeffProductKey,DeviceName\r\n"
            f"{product_key},dev-00001\r\n"
            f"{product_key},dev-00002\r\n"
            "\r\n"
            f"{product_key},dev-00001\r\n"
            f"{product_key},dev-99999\r\n"
        ).encode()
    )
    upload.name = "devices.csv"
    client = client_for(viewer)
    response = client.post(reverse("jobs:batch"), {"file": upload}, follow=True)
    job = Job.objects.get()
    assert response.redirect_chain == [(reverse("jobs:detail", args=[job.pk]), 302)]
    assert job.kind == JobKind.BATCH_LOOKUP
    assert job.owner == viewer
    assert job.total == 3
    page = response.content.decode()
    assert "1 row repeats a device listed before" in page
    assert "The results are listed here when the job ends." in page

    assert runner.job_work(job_id=job.pk) == "finished"
    job.refresh_from_db()
    assert (job.state, job.done, job.failed) == (JobState.FINISHED, 3, 1)
    assert set(emulator_counts.lookups.values()) == {1}

    page = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert 'hx-trigger="every' not in page
    assert '<progress max="3" value="3"' in page
    assert "dev-00001" in page
    assert "dev-00002" in page
    assert "iot.device.NotExistedDevice" in page
    assert reverse("jobs:results-csv", args=[job.pk]) in page
    assert f"{reverse('devices:certificate-export')}?job={job.pk}" in page

    rows = _results_csv(client, job)
    assert rows[0] == INVENTORY_CSV_HEADER
    by_name = {row[1]: dict(zip(INVENTORY_CSV_HEADER, row, strict=True)) for row in rows[1:]}
    assert sorted(by_name) == ["dev-00001", "dev-00002", "dev-99999"]
    assert by_name["dev-00001"]["state"] == "days_over_90"
    assert by_name["dev-00001"]["not_after"]
    assert by_name["dev-99999"]["error_code"] == "iot.device.NotExistedDevice"
    assert by_name["dev-99999"]["state"] == "failed"


def _problems(page: str) -> list[tuple[str, str, str]]:
    """The refused rows a batch page lists: (line, row text, why), as the HTML has them."""
    table = page.split('class="jobs-table table-stack batch-problems-table"', 1)[1]
    table = table.split("</table>", 1)[0]
    return re.findall(
        r'<tr><th scope="row" data-label="Line">(\d+)</th>'
        r'<td data-label="Row"><code class="break">(.*?)</code></td>'
        r'<td data-label="Why">(.*?)</td></tr>',
        table,
    )


def test_pasted_list_with_bad_rows_starts_nothing_and_lists_them_with_line_numbers(
    client_for, viewer
):
    # No platform behind: the products cannot be checked, the rows' own faults are listed.
    text = "ProductKey,DeviceName\na1Fleet5kXz,line1-unit-00001\na1Fleet5kXz,x\nbad key!,dev-0001\n"
    response = client_for(viewer).post(reverse("jobs:batch"), {"text": text})
    assert response.status_code == 400
    page = response.content.decode()
    assert "2 rows cannot be looked up" in page
    assert "could not be reached" in page
    problems = _problems(page)
    assert [(line, row) for line, row, _why in problems] == [
        ("3", "a1Fleet5kXz,x"),
        ("4", "bad key!,dev-0001"),
    ]
    assert "A DeviceName is 4–32 characters" in problems[0][2]
    assert not Job.objects.exists()


def test_one_pass_lists_every_bad_row_with_its_line_and_text_unknown_products_included(
    client_for, viewer, own_product, dashboard_iot
):
    product_key = own_product(2)
    long_row = f"{product_key}," + "d" * 300
    text = "\n".join(
        [
            "ProductKey,DeviceName",  # 1
            f"{product_key},dev-00001",  # 2 fine
            "nosuchproduct1,dev-00001",  # 3 unknown product
            f"{product_key},x",  # 4 DeviceName too short
            f"{product_key},dev-00001",  # 5 a repeat: not a problem
            "nosuchproduct1,dev-00002",  # 6 unknown product again
            long_row,  # 7 too long
            "<b>=cmd|x</b>,dev-0003",  # 8 ProductKey, shown escaped
            f"{product_key},dev-00002",  # 9 fine
        ]
    )
    response = client_for(viewer).post(reverse("jobs:batch"), {"text": text})
    assert response.status_code == 400
    page = response.content.decode()
    assert "5 rows cannot be looked up (below)" in page
    problems = _problems(page)
    assert [line for line, _row, _why in problems] == ["3", "4", "6", "7", "8"]
    by_line = {line: (row, why) for line, row, why in problems}
    assert by_line["3"] == (
        "nosuchproduct1,dev-00001",
        "There is no product nosuchproduct1 in this account. (iot.prod.NotExistedProduct)",
    )
    assert by_line["6"][0] == "nosuchproduct1,dev-00002"
    assert by_line["7"][0] == f"{long_row[:120]}… (312 characters)"
    assert "312 characters long" in by_line["7"][1]
    assert by_line["8"][0] == "&lt;b&gt;=cmd|x&lt;/b&gt;,dev-0003"
    assert "<b>=cmd" not in page
    assert not Job.objects.exists()


def test_a_refused_upload_is_kept_in_the_box_and_fixed_there(
    client_for, viewer, own_product, dashboard_iot
):
    product_key = own_product(2)
    data = f"\ufeffProductKey,DeviceName\r\n{product_key},dev-00001\r\n{product_key},x\r\n"
    upload = io.BytesIO(data.encode())
    upload.name = "fleet <list>.csv"
    client = client_for(viewer)
    response = client.post(reverse("jobs:batch"), {"file": upload})
    assert response.status_code == 400
    page = response.content.decode()
    assert [(line, row) for line, row, _why in _problems(page)] == [("3", f"{product_key},x")]
    # The file's rows, in the box on the same lines; the box marked as a kept upload.
    kept = data.removeprefix("\ufeff")
    assert '<textarea name="text" cols="40" rows="8" spellcheck="false"' in page
    assert f">\n{kept}</textarea>" in page
    assert '<input type="hidden" name="kept" value="on"' in page
    assert "The rows of fleet &lt;list&gt;.csv are in the box below" in page
    assert not Job.objects.exists()

    # Fixed in the box and sent again: the job starts.
    fixed = kept.replace(f"{product_key},x", f"{product_key},dev-00002")
    response = client.post(reverse("jobs:batch"), {"text": fixed, "kept": "on"})
    assert response.status_code == 302
    assert Job.objects.get().total == 2


def test_a_new_file_replaces_a_kept_upload_in_the_box(
    client_for, viewer, own_product, dashboard_iot
):
    product_key = own_product(1)
    upload = io.BytesIO(f"{product_key},dev-00001\n".encode())
    upload.name = "fixed.csv"
    client = client_for(viewer)
    response = client.post(
        reverse("jobs:batch"), {"text": f"{product_key},x", "kept": "on", "file": upload}
    )
    assert response.status_code == 302
    assert Job.objects.get().total == 1


def test_a_full_queue_keeps_the_upload_too(client_for, viewer, own_product, settings):
    settings.JOBS_QUEUED_TOTAL = 0
    product_key = own_product(1)
    upload = io.BytesIO(f"{product_key},dev-00001\n".encode())
    upload.name = "devices.csv"
    response = client_for(viewer).post(reverse("jobs:batch"), {"file": upload})
    assert response.status_code == 429
    page = response.content.decode()
    assert "The job queue is full" in page
    assert f">\n{product_key},dev-00001\n</textarea>" in page


def test_htmx_swaps_the_refused_rows_and_the_form_only(
    client_for, viewer, own_product, dashboard_iot
):
    product_key = own_product(1)
    client = client_for(viewer)
    response = client.post(
        reverse("jobs:batch"), {"text": f"{product_key},x"}, headers=HTMX_HEADERS
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="batch">')
    assert "<h1>" not in page
    assert [line for line, _row, _why in _problems(page)] == ["1"]
    response = client.post(
        reverse("jobs:batch"), {"text": f"{product_key},dev-00001"}, headers=HTMX_HEADERS
    )
    assert response["HX-Redirect"] == reverse("jobs:detail", args=[Job.objects.get().pk])


def test_a_non_utf8_file_is_refused_with_a_clear_message(client_for, viewer):
    upload = io.BytesIO("a1Fleet5kXz,caf\u00e9-unit\n".encode("latin-1"))
    upload.name = "devices.csv"
    response = client_for(viewer).post(reverse("jobs:batch"), {"file": upload})
    assert response.status_code == 400
    assert "not UTF-8" in response.content.decode()
    assert not Job.objects.exists()


def test_empty_form_and_both_inputs_are_refused(client_for, viewer):
    client = client_for(viewer)
    assert client.post(reverse("jobs:batch"), {"text": "  "}).status_code == 400
    upload = io.BytesIO(b"a1Fleet5kXz,line1-unit-00001\n")
    upload.name = "devices.csv"
    response = client.post(
        reverse("jobs:batch"), {"text": "a1Fleet5kXz,line1-unit-00001", "file": upload}
    )
    assert response.status_code == 400
    assert "not both" in response.content.decode()
    assert not Job.objects.exists()


def test_unknown_product_starts_nothing(client_for, viewer, dashboard_iot):
    response = client_for(viewer).post(
        reverse("jobs:batch"), {"text": "nosuchproduct1,dev-00001\n"}
    )
    assert response.status_code == 400
    assert _problems(response.content.decode()) == [
        (
            "1",
            "nosuchproduct1,dev-00001",
            "There is no product nosuchproduct1 in this account. (iot.prod.NotExistedProduct)",
        )
    ]
    assert not Job.objects.exists()


def test_a_third_job_waits_and_its_page_says_why(client_for, viewer, own_product, settings):
    settings.JOBS_PER_PERSON = 2
    product_key = own_product(1)
    client = client_for(viewer)
    for _ in range(3):
        response = client.post(reverse("jobs:batch"), {"text": f"{product_key},dev-00001"})
        assert response.status_code == 302
    waiting = Job.objects.order_by("pk").last()
    assert waiting.admitted_at is None
    page = client.get(reverse("jobs:detail", args=[waiting.pk])).content.decode()
    reason = "Waiting for your other 2 running jobs to end (at most 2 run at once per person)."
    assert reason in page
    # The jobs list says it too, beside the job's state.
    assert reason in client.get(reverse("jobs:list")).content.decode()


def test_batch_page_needs_the_viewer_permission(client, client_for, auditor):
    assert client.get(reverse("jobs:batch")).status_code == 302
    assert client_for(auditor).get(reverse("jobs:batch")).status_code == 403
    assert client_for(auditor).post(reverse("jobs:batch"), {"text": "x"}).status_code == 403


def test_results_csv_follows_the_job_page_and_is_batches_only(
    client_for, make_user, superuser, settings
):
    # Whoever may follow the job (may use its API account) may read its results.
    account_on(
        settings, "secret", access_key_id="LTAIsecret", access_key_secret="s", groups=("Secret",)
    )
    alice, bob = make_user("Viewer"), make_user("Viewer")
    job = Job.objects.create(kind=JobKind.BATCH_LOOKUP, owner=alice, state=JobState.FINISHED)
    hidden = Job.objects.create(
        kind=JobKind.BATCH_LOOKUP, owner=alice, state=JobState.FINISHED, account="secret"
    )
    sync = Job.objects.create(kind=JobKind.PRODUCT_SYNC, owner=alice, product_key="a1BwAGV1234")
    url = reverse("jobs:results-csv", args=[job.pk])
    assert client_for(bob).get(url).status_code == 200
    assert client_for(bob).get(reverse("jobs:results-csv", args=[hidden.pk])).status_code == 404
    assert client_for(alice).get(reverse("jobs:results-csv", args=[sync.pk])).status_code == 404
    assert client_for(superuser).get(url).status_code == 200


def test_results_csv_neutralises_formulas_and_only_lists_the_jobs_devices(client_for, viewer):
    job = Job.objects.create(kind=JobKind.BATCH_LOOKUP, owner=viewer, state=JobState.FINISHED)
    JobItem.objects.create(
        job=job, product_key="a1BwAGV1234", device_name="=cmd|x", state=ItemState.DONE
    )
    CertificateRecord.objects.create(product_key="a1BwAGV1234", device_name="=cmd|x")
    CertificateRecord.objects.create(product_key="a1BwAGV1234", device_name="not-in-job")
    rows = _results_csv(client_for(viewer), job)
    assert [row[1] for row in rows[1:]] == ["'=cmd|x"]


def test_results_say_whether_a_certificate_is_being_generated_or_failed(
    client_for, viewer, dashboard_iot
):
    # The emulator's demo product has one device of each (certadmin/emulator/seed.py).
    text = "a1Demo7Sh2x,sensor-gen\na1Demo7Sh2x,sensor-fail\na1Demo7Sh2x,thermo-001\n"
    client = client_for(viewer)
    assert client.post(reverse("jobs:batch"), {"text": text}).status_code == 302
    job = Job.objects.get()
    assert runner.job_work(job_id=job.pk) == "finished"

    page = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    table = page.split('class="jobs-table table-stack batch-results-table"', 1)[1]
    states = dict(
        re.findall(
            r'>(sensor-gen|sensor-fail|thermo-001)</a>.*?class="expiry-state[^"]*">([^<]+)<',
            table,
            re.S,
        )
    )
    assert states == {
        "sensor-gen": "Certificate being generated",
        "sensor-fail": "Certificate generation failed",
        "thermo-001": "Expires in more than 90 days",
    }
    assert "Not issued" not in page

    rows = _results_csv(client, job)
    by_name = {row[1]: dict(zip(INVENTORY_CSV_HEADER, row, strict=True)) for row in rows[1:]}
    assert {name: row["state_text"] for name, row in by_name.items()} == states
    assert by_name["sensor-gen"]["cert_status"] == "0"
    assert by_name["sensor-fail"]["cert_status"] == "1"


def _queued_runs(job) -> set[tuple[str, int]]:
    from django_tasks_db.models import DBTaskResult

    runs = DBTaskResult.objects.filter(task_path__endswith=".job_work", args_kwargs__args__0=job.pk)
    return {(run.queue_name, run.priority) for run in runs}


def test_a_short_batch_queues_as_interactive_and_a_large_one_with_the_syncs(
    viewer, own_product, settings, django_capture_on_commit_callbacks
):
    settings.JOB_INTERACTIVE_MAX_ITEMS = 2
    settings.JOBS_PER_PERSON = 3
    product_key = own_product(3)
    names = [f"{product_key},dev-{n:05d}" for n in (1, 2, 3)]
    with django_capture_on_commit_callbacks(execute=True):
        short = batch_lookup_start(owner=viewer, batch=batch_csv_parse("\n".join(names[:2])))
        large = batch_lookup_start(owner=viewer, batch=batch_csv_parse("\n".join(names)))
        sync = product_sync_start(owner=viewer, product_key=own_product(1))
    assert _queued_runs(short) == {("interactive", 10)}
    assert _queued_runs(large) == {("sync", 0)}
    assert _queued_runs(sync) == {("sync", 0)}
