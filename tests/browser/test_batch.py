"""A Viewer in a real browser: upload a CSV of devices, watch the job's progress bar reach
100 % through htmx polling, read the results and download them as CSV.

Jobs need a worker. Here the worker is ``runner.job_work`` (what each ``job_work`` task run of
``db_worker`` executes) in a thread of the test process, on the live server's database: the
same code a worker runs, without a second process to start and stop.
"""

import csv
import io
import re
import threading

import pytest
from django.db import connection
from playwright.sync_api import expect

from certadmin.devices.inventory_csv import INVENTORY_CSV_HEADER
from certadmin.jobs import runner
from certadmin.jobs.models import Job
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

PRODUCT_KEY = "batchBrowser1"
DEVICES = 24  # at the jobs' 8 QPS, about 3 s: long enough for the page to poll


def _worker(job_id: int) -> threading.Thread:
    def work() -> None:
        try:
            runner.job_work(job_id=job_id)
        finally:
            connection.close()

    thread = threading.Thread(target=work, name=f"job-{job_id}", daemon=True)
    thread.start()
    return thread


def test_viewer_uploads_a_csv_watches_the_progress_and_downloads_the_results(
    page, person, dashboard, shot
):
    for number in range(1, DEVICES + 1):
        dashboard.add_device(
            {"product_key": PRODUCT_KEY, "device_name": f"unit-{number:04d}", "key_type": "ec"}
        )
    names = [f"unit-{number:04d}" for number in range(1, DEVICES + 1)]
    upload = "ProductKey,DeviceName\r\n" + "".join(f"{PRODUCT_KEY},{n}\r\n" for n in names)
    upload += f"{PRODUCT_KEY},unit-0001\r\n{PRODUCT_KEY},no-such-unit\r\n"

    log_in(page, person("Viewer"))
    page.goto("/jobs/")
    page.get_by_role("link", name="Look up a list of devices (CSV)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Batch lookup")
    page.get_by_label("or upload a CSV file").set_input_files(
        files=[{"name": "devices.csv", "mimeType": "text/csv", "buffer": upload.encode()}]
    )
    shot(page, "form")
    page.get_by_role("button", name="Start lookup").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get()
    expect(page.locator(".messages")).to_contain_text("looked up once")
    progress = page.locator("#job-progress progress")
    expect(progress).to_have_attribute("max", str(DEVICES + 1))
    expect(page.locator("#job-progress")).to_have_attribute("hx-trigger", re.compile("every"))

    polls: list[str] = []
    page.on(
        "request",
        lambda request: polls.append(request.url) if request.headers.get("hx-request") else None,
    )
    worker = _worker(job.pk)
    expect(progress).to_have_attribute("value", str(DEVICES + 1), timeout=60_000)
    expect(page.locator(".job-progress-text")).to_contain_text("(100 %)")
    expect(page.locator("#job-progress .job-state")).to_have_text("finished")
    worker.join(timeout=30)
    assert polls, "the progress was not polled through htmx"
    expect(page.locator("#job-progress")).not_to_have_attribute("hx-trigger", re.compile("."))
    results = page.locator(".batch-results-table tbody tr")
    expect(results).to_have_count(DEVICES + 1)
    expect(page.locator(".batch-results-table")).to_contain_text("iot.device.NotExistedDevice")
    shot(page, "results")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the results (CSV)").click()
    download = download_info.value
    assert download.suggested_filename == f"batch-{job.pk}-results.csv"
    with open(download.path(), encoding="utf-8") as file:
        rows = list(csv.reader(io.StringIO(file.read())))
    assert rows[0] == INVENTORY_CSV_HEADER
    by_name = {row[1]: dict(zip(INVENTORY_CSV_HEADER, row, strict=True)) for row in rows[1:]}
    assert sorted(by_name) == sorted([*names, "no-such-unit"])
    assert all(by_name[name]["state"] == "days_over_90" for name in names)
    assert all(by_name[name]["product_key"] == PRODUCT_KEY for name in names)
    assert by_name["no-such-unit"]["error_code"] == "iot.device.NotExistedDevice"


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_refused_upload_lists_every_bad_row_and_is_fixed_in_the_box(
    new_page, page_problems, person, dashboard, shot, javascript
):
    for number in (1, 2, 3):
        dashboard.add_device(
            {"product_key": PRODUCT_KEY, "device_name": f"unit-{number:04d}", "key_type": "ec"}
        )
    upload = (
        "ProductKey,DeviceName\r\n"
        f"{PRODUCT_KEY},unit-0001\r\n"
        f"{PRODUCT_KEY},x\r\n"
        "nosuchproduct1,unit-0002\r\n"
        f"{PRODUCT_KEY},unit-0002\r\n"
        "nosuchproduct1,unit-0003\r\n"
    )
    page_problems.allow_http_errors(on_path="/jobs/batch/")  # the refusal is a 400
    page = new_page(java_script_enabled=javascript)
    swaps: list[str] = []
    page.on("request", lambda r: swaps.append(r.url) if r.headers.get("hx-request") else None)
    log_in(page, person("Viewer"))
    page.goto("/jobs/batch/")
    page.get_by_label("or upload a CSV file").set_input_files(
        files=[{"name": "fleet.csv", "mimeType": "text/csv", "buffer": upload.encode()}]
    )
    page.get_by_role("button", name="Start lookup").click()

    # Every bad row at once, by line, with its text: the row's own fault and the unknown product.
    rows = page.locator(".batch-problems-table tbody tr")
    expect(rows).to_have_count(3)
    assert [rows.nth(n).locator("th").inner_text() for n in range(3)] == ["3", "4", "6"]
    assert [rows.nth(n).locator("code").inner_text() for n in range(3)] == [
        f"{PRODUCT_KEY},x",
        "nosuchproduct1,unit-0002",
        "nosuchproduct1,unit-0003",
    ]
    expect(rows.nth(1)).to_contain_text("There is no product nosuchproduct1")
    expect(page.get_by_role("alert").first).to_contain_text("3 rows cannot be looked up")
    assert bool(swaps) is javascript, "htmx posts the form only when JavaScript runs"
    assert Job.objects.count() == 0

    # The file's rows are in the box on the same lines; the file input is empty.
    box = page.get_by_label("Paste the list")
    assert box.input_value() == upload.replace("\r\n", "\n")
    expect(page.locator(".batch-kept")).to_contain_text("The rows of fleet.csv are in the box")
    assert page.get_by_label("or upload a CSV file").input_value() == ""
    shot(page, "refused")

    # Fixed in place and sent again: the job starts.
    lines = box.input_value().split("\n")
    lines[2], lines[3], lines[5] = f"{PRODUCT_KEY},unit-0003", "", ""
    box.fill("\n".join(lines))
    page.get_by_role("button", name="Start lookup").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get()
    assert job.total == 3
