"""One inventory, one set of numbers: the overview's cards and summary, its chart, its CSV,
``cert_expiry_report`` and the metrics count every expiry state alike, and "within 30 days"
has one answer (not expired yet, at most 30 days left: 0–7 plus 8–30 days)."""

import csv
import io
import json
import re
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from certadmin.devices.expiry import STATE_LABELS, UNEXPIRED_STATES
from certadmin.devices.management.commands.cert_expiry_report import Command
from certadmin.devices.models import CertificateRecord
from tests.devices.test_expiry_page import counts_of
from tests.support.pages import page_text

pytestmark = pytest.mark.django_db

PRODUCT_KEY = "a1Agreement"
TOKEN = "scrape-token-for-tests"
HALF_DAY = timedelta(hours=12)
# Days ahead of each ready certificate (half a day off every edge: the clock runs on between
# the page, the CSV, the report and the scrape), and how many of each state the fleet has.
AHEAD = {
    "expired": [-400, -31, -8, -1, -0.25],
    "days_0_7": [0.1, 3, 7.5],  # 7.5 days ahead is "7 days left"
    "days_8_30": [8, 15, 20, 29, 30.5],  # 30.5 days ahead is "30 days left"
    "days_31_90": [31, 60],
    "days_over_90": [91, 200, 500, 600],
}
EXPECTED = {
    **{state: len(days) for state, days in AHEAD.items()},
    "not_issued": 2,
    "failed": 1,
    "never": 3,
}


@pytest.fixture
def fleet():
    now = timezone.now()
    rows = []
    for state, days_ahead in AHEAD.items():
        for n, days in enumerate(days_ahead):
            rows.append(
                CertificateRecord(
                    device_name=f"{state}-{n}",
                    status=2,
                    not_after=now + timedelta(days=days) + (HALF_DAY if days >= 0 else -HALF_DAY),
                    last_checked=now,
                )
            )
    rows += [
        CertificateRecord(device_name=f"making-{n}", status=n, last_checked=now) for n in (0, 1)
    ]
    rows.append(
        CertificateRecord(
            device_name="failed-0", last_error_code="Throttling.User", last_checked=now
        )
    )
    rows += [CertificateRecord(device_name=f"never-{n}") for n in range(3)]
    for row in rows:
        row.product_key = PRODUCT_KEY
    CertificateRecord.objects.bulk_create(rows)
    CertificateRecord.objects.create(
        product_key="a1Elsewhere1", device_name="other-0", status=2, not_after=now, last_checked=now
    )


def test_cards_chart_csv_report_and_metrics_agree_on_every_state(
    fleet, viewer, client_for, settings
):
    settings.METRICS_TOKEN, settings.METRICS_ALLOW = TOKEN, []
    browser = client_for(viewer)
    page = page_text(browser.get(f"/expiry/?product_key={PRODUCT_KEY}"))
    csv_text = b"".join(
        browser.get(f"/expiry/csv/?product_key={PRODUCT_KEY}").streaming_content
    ).decode()
    out = io.StringIO()
    call_command(Command(), "--format", "json", "--product-key", PRODUCT_KEY, stdout=out)
    report = json.loads(out.getvalue())
    metrics = browser.get(
        "/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
    ).content.decode()

    within_30 = EXPECTED["days_0_7"] + EXPECTED["days_8_30"]
    # The cards: one per state, each exactly its own records.
    assert counts_of(page) == EXPECTED
    assert f"{within_30} certificates expire within 30 days" in page
    # The chart: the certificates not expired yet, every one in a month of the chart.
    chart_table = page[page.index('class="expiry-chart-table"') :]
    chart_counts = [int(n) for n in re.findall(r"</th><td>(\d+)</td>", chart_table)]
    assert len(chart_counts) == 24
    assert sum(chart_counts) == sum(EXPECTED[state] for state in UNEXPIRED_STATES)
    # The CSV: one row per record, its state column as the cards count.
    assert Counter(row["state"] for row in csv.DictReader(io.StringIO(csv_text))) == EXPECTED
    # The report: the same counts; "within 30 days" leaves the expired out and lists them apart.
    assert report["counts"] == EXPECTED
    assert report["expiring_within_days"] == within_30
    listed = Counter(device["state"] for device in report["devices"])
    assert listed == {
        "expired": EXPECTED["expired"],
        "days_0_7": EXPECTED["days_0_7"],
        "days_8_30": EXPECTED["days_8_30"],
    }
    # The metrics: per state, and within 7, 30 and 90 days as the overview adds them up.
    for state in STATE_LABELS:
        sample = f'certadmin_certificates{{product_key="{PRODUCT_KEY}",state="{state}"}}'
        assert f"{sample} {EXPECTED[state]}.0" in metrics
    expiring = {
        "7": EXPECTED["days_0_7"],
        "30": within_30,
        "90": within_30 + EXPECTED["days_31_90"],
    }
    for days, count in expiring.items():
        sample = (
            f'certadmin_certificates_expiring_within_days{{days="{days}",'
            f'product_key="{PRODUCT_KEY}"}}'
        )
        assert f"{sample} {count}.0" in metrics


def test_within_30_days_from_the_report_is_the_sum_of_the_two_cards(fleet, viewer, client_for):
    out = io.StringIO()
    call_command(Command(), "--product-key", PRODUCT_KEY, "--within", "30", stdout=out)
    cards = counts_of(page_text(client_for(viewer).get(f"/expiry/?product_key={PRODUCT_KEY}")))
    within = cards["days_0_7"] + cards["days_8_30"]
    assert f"Expire within 30 days (not expired yet): {within}" in out.getvalue()
    assert f"Expired: {cards['expired']}" in out.getvalue()
