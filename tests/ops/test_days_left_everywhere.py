"""Days left is one rule (``certs.details.expiry_days_left``: whole days, toward zero): the
device table, the expiry CSV, ``cert_expiry_report`` and the metrics say the same of the same
certificate."""

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from certadmin.devices.management.commands.cert_expiry_report import Command
from certadmin.devices.models import CertificateRecord

pytestmark = pytest.mark.django_db

PRODUCT_KEY = "a1DaysLeft1"
TOKEN = "scrape-token-for-tests"


def _record(device_name: str, not_after_from_now: timedelta) -> None:
    now = timezone.now()
    CertificateRecord.objects.create(
        product_key=PRODUCT_KEY,
        device_name=device_name,
        status=2,
        not_after=now + not_after_from_now,
        last_checked=now,
    )


def _table_text(html: str, device_name: str) -> str:
    """The text of the device table's row for ``device_name``, tags removed."""
    row = next(part for part in html.split("<tr") if f">{device_name}<" in part)
    return " ".join(re.sub(r"<[^>]+>", " ", row).split())


@pytest.mark.parametrize(
    ("not_after_from_now", "days_left", "table_text", "state"),
    [
        (-timedelta(days=2, hours=1), -2, "2 days ago", "expired"),
        (-timedelta(hours=25), -1, "1 day ago", "expired"),
        (-timedelta(hours=1), 0, "0 days ago", "expired"),
        (timedelta(hours=1), 0, "0 days left", "days_0_7"),
        (timedelta(hours=23), 0, "0 days left", "days_0_7"),
        (timedelta(hours=25), 1, "1 day left", "days_0_7"),
        (timedelta(days=2, hours=23), 2, "2 days left", "days_0_7"),
        (timedelta(days=7, hours=23), 7, "7 days left", "days_0_7"),
        (timedelta(days=8, hours=1), 8, "8 days left", "days_8_30"),
    ],
)
def test_table_csv_report_and_metrics_agree_on_one_certificate(
    not_after_from_now, days_left, table_text, state, viewer, client_for, settings
):
    settings.METRICS_TOKEN, settings.METRICS_ALLOW = TOKEN, []
    _record("the-device", not_after_from_now)
    browser = client_for(viewer)

    table = browser.get(f"/expiry/?product_key={PRODUCT_KEY}").content.decode()
    csv_text = b"".join(
        browser.get(f"/expiry/csv/?product_key={PRODUCT_KEY}").streaming_content
    ).decode()
    report_out = io.StringIO()
    call_command(Command(), "--format", "json", "--product-key", PRODUCT_KEY, stdout=report_out)
    metrics = browser.get(
        "/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
    ).content.decode()

    row_text = _table_text(table, "the-device")
    assert table_text in row_text
    # The row's badge names the window its days left are in.
    assert f"expiry-{state}" in table
    (csv_row,) = csv.DictReader(io.StringIO(csv_text))
    assert (int(csv_row["days_left"]), csv_row["state"]) == (days_left, state)
    (reported,) = json.loads(report_out.getvalue())["devices"]
    assert (reported["days_left"], reported["state"]) == (days_left, state)
    assert f'certadmin_certificates{{product_key="{PRODUCT_KEY}",state="{state}"}} 1.0' in metrics
