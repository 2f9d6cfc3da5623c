"""The fleet-health page, its CSV and the certificate page's findings card, per role and per
API account the person may use."""

import csv
import io

import pytest
from django.urls import reverse

from certadmin.findings.models import Finding
from tests.findings.conftest import PRODUCT, days, leaf_expiring_in
from tests.support.iot_accounts import account_on
from tests.support.pages import HTMX_HEADERS

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (None, 403),
        ("Viewer", 200),
        ("Key custodian", 200),
        ("Auditor", 403),
        ("Fleet manager", 200),
        ("superuser", 200),
    ],
)
def test_fleet_page_and_csv_per_role(make_user, client_for, dashboard_iot, role, status):
    client = client_for(make_user(role))
    assert client.get(reverse("findings:fleet")).status_code == status
    assert client.get(reverse("findings:fleet-csv")).status_code == status


def test_the_menu_offers_fleet_health_to_whoever_sees_certificates(
    viewer_client, make_user, client_for
):
    assert reverse("findings:fleet") in viewer_client.get(reverse("devices:home")).content.decode()
    auditor = client_for(make_user("Auditor"))
    assert reverse("findings:fleet") not in auditor.get(reverse("audit:events")).content.decode()


def test_counts_and_riskiest_first_online_before_offline(store, run, viewer_client):
    offline = store(leaf_expiring_in(-days(1)), device_status="OFFLINE")
    online = store(leaf_expiring_in(-days(1)))
    low = store(leaf_expiring_in(days(25)))
    run()
    page = viewer_client.get(reverse("findings:fleet"))
    text = page.content.decode()
    assert page.status_code == 200
    # Critical before low; of the criticals, the online device first.
    assert (
        text.index(online.device_name)
        < text.index(offline.device_name)
        < text.index(low.device_name)
    )
    counts = {(row["code"], row["severity"]): row["count"] for row in page.context["counts"]}
    assert counts[("cert.expired", 50)] == 2
    assert counts[("cert.expired_device_online", 50)] == 1
    assert counts[("cert.expiring", 20)] == 1


def test_filters_and_htmx_partial(store, run, viewer_client):
    expired = store(leaf_expiring_in(-days(1)))
    failed = store(status=1)
    run()
    page = viewer_client.get(
        reverse("findings:fleet"), {"code": "cert.generation_failed"}, headers=HTMX_HEADERS
    )
    text = page.content.decode()
    assert "<html" not in text
    assert failed.device_name in text
    assert expired.device_name not in text
    page = viewer_client.get(reverse("findings:fleet"), {"severity": "critical"})
    assert expired.device_name in page.content.decode()
    assert failed.device_name not in page.content.decode()
    # Closed findings appear under "closed" only.
    store(device_name=failed.device_name)
    run()
    assert failed.device_name not in viewer_client.get(reverse("findings:fleet")).content.decode()
    closed = viewer_client.get(reverse("findings:fleet"), {"state": "closed"})
    assert failed.device_name in closed.content.decode()
    assert viewer_client.get(reverse("findings:fleet"), {"severity": "nope"}).status_code == 400


def test_csv_holds_the_filtered_findings_safe_for_spreadsheets(store, run, viewer_client):
    record = store(status=1, device_name="=cmd|calc")  # a hostile name, if the platform sent one
    store(leaf_expiring_in(-days(1)))
    run()
    response = viewer_client.get(reverse("findings:fleet-csv"), {"code": "cert.generation_failed"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["severity", "code", "account"]
    assert len(rows) == 2
    assert rows[1][:2] == ["high", "cert.generation_failed"]
    assert rows[1][5] == "'" + record.device_name


def test_findings_of_an_account_the_person_may_not_use_stay_hidden(
    store, run, settings, make_user, client_for, staging_iot
):
    account_on(settings, "staging", groups=("Staging team",))
    mine = store(status=1)
    theirs = store(status=1, account="staging", product_key="a1Stage0001")
    run()
    viewer = make_user("Viewer")
    page = client_for(viewer).get(reverse("findings:fleet"))
    assert mine.device_name in page.content.decode()
    assert theirs.device_name not in page.content.decode()
    response = client_for(viewer).get(reverse("findings:fleet-csv"))
    assert theirs.device_name not in b"".join(response.streaming_content).decode()
    assert (
        client_for(viewer).get(reverse("findings:fleet"), {"account": "staging"}).status_code == 400
    )
    assert Finding.objects.filter(account="staging").count() == 1


def test_the_certificate_page_shows_the_device_findings(store, run, viewer_client, dashboard_iot):
    dashboard_iot.add_device(
        {"product_key": PRODUCT, "device_name": "card-device", "key_type": "ec"}
    )
    store(status=1, device_name="card-device")
    run()
    page = viewer_client.get(reverse("devices:device", args=[PRODUCT, "card-device"]))
    text = page.content.decode()
    assert 'id="device-findings"' in text
    assert "cert.generation_failed" in text


def test_the_suppress_link_only_for_fleet_managers(store, run, viewer_client, fleet_manager_client):
    store(status=1)
    run()
    link = reverse("findings:suppressions") + "?finding="
    assert link not in viewer_client.get(reverse("findings:fleet")).content.decode()
    assert link in fleet_manager_client.get(reverse("findings:fleet")).content.decode()
