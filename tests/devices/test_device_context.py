"""Device context in the inventory's pages: the device list and search, the expiry overview and
its CSV filter by device status and node type together with the certificate's state (one URL
each), and the certificate page shows the node type, firmware and activation a sync recorded."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from certadmin.devices.models import CertificateRecord, NodeType, ProductSync
from certadmin.jobs import runner
from certadmin.jobs.services import product_sync_start
from tests.support.pages import HTMX_HEADERS, page_text

pytestmark = pytest.mark.django_db

PRODUCT_KEY = "a1Context01"


def record(device_name: str, *, product_key: str = PRODUCT_KEY, **fields) -> CertificateRecord:
    now = timezone.now()
    defaults = {
        "status": 2,
        "not_after": now + timedelta(days=400),
        "last_checked": now,
        "device_status": "ONLINE",
        "node_type": NodeType.DEVICE,
        "context_checked_at": now,
    }
    return CertificateRecord.objects.create(
        product_key=product_key, device_name=device_name, **{**defaults, **fields}
    )


@pytest.fixture
def fleet():
    """Expired and valid certificates on devices of every status, gateways among them."""
    now = timezone.now()
    expired = now - timedelta(days=3)
    record("exp-online-1", not_after=expired)
    record("exp-online-gw", not_after=expired, node_type=NodeType.GATEWAY)
    record("exp-offline-1", not_after=expired, device_status="OFFLINE")
    record("exp-disabled-1", not_after=expired, device_status="DISABLE")
    record("ok-online-1")
    record("ok-disabled-1", device_status="DISABLE")
    record("ok-unactive-1", device_status="UNACTIVE", activated_at=None)
    record("ok-unactive-gw", device_status="UNACTIVE", node_type=NodeType.GATEWAY)
    record("soon-disabled-1", device_status="DISABLE", not_after=now + timedelta(days=5))
    record("never-online-1", last_checked=None, status=None, not_after=None)
    record("other-online-1", product_key="a1Context02", not_after=expired)
    ProductSync.objects.create(product_key=PRODUCT_KEY, device_count=10, synced_at=now)
    return now


def shown(html: str) -> list[str]:
    return sorted(re.findall(r'<a class="mono" href="[^"]*">([^<]+)</a>', html))


def counts_of(html: str) -> dict[str, int]:
    found = re.findall(
        r'class="expiry-count expiry-(\w+)"[^>]*><span class="count-number">(\d+)</span>', html
    )
    return {state: int(number) for state, number in found}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # "Expired certificate, device online".
        ("state=expired&device=online", ["exp-online-1", "exp-online-gw"]),
        # "Valid certificate, device disabled or never activated".
        (
            "state=valid&device=disabled&device=never_activated",
            ["ok-disabled-1", "ok-unactive-1", "ok-unactive-gw", "soon-disabled-1"],
        ),
        ("node=gateway", ["exp-online-gw", "ok-unactive-gw"]),
        ("state=expired&device=online&node=device", ["exp-online-1"]),
        ("device=offline", ["exp-offline-1"]),
    ],
)
def test_the_device_list_filters_by_certificate_state_device_status_and_node_type(
    fleet, viewer, client_for, query, expected
):
    client = client_for(viewer)
    page = client.get(f"/devices/?product_key={PRODUCT_KEY}&{query}")
    partial = client.get(f"/devices/?product_key={PRODUCT_KEY}&{query}", headers=HTMX_HEADERS)

    assert page.status_code == partial.status_code == 200
    assert shown(page_text(page)) == expected
    assert shown(page_text(partial)) == expected


def test_the_table_shows_device_status_and_node_type_and_keeps_the_filters_ticked(
    fleet, viewer, client_for
):
    response = client_for(viewer).get(
        f"/devices/?product_key={PRODUCT_KEY}&device=online&device=disabled&node=gateway"
    )
    html = page_text(response)

    assert response.status_code == 200
    assert shown(html) == ["exp-online-gw"]
    assert 'class="badge badge-info node-type-gateway">gateway</span>' in html
    assert "device-status-online" in html
    assert re.search(r'<input[^>]*name="device"[^>]*value="online"[^>]*checked', html)
    assert re.search(r'<input[^>]*name="device"[^>]*value="disabled"[^>]*checked', html)
    assert not re.search(r'<input[^>]*name="device"[^>]*value="offline"[^>]*checked', html)
    assert re.search(r'<option value="gateway" selected>', html)


def test_an_unknown_device_status_filter_is_refused_plainly(fleet, viewer, client_for):
    response = client_for(viewer).get(f"/devices/?product_key={PRODUCT_KEY}&device=sleeping")
    assert response.status_code == 400
    assert "sleeping" in page_text(response)


def test_the_expiry_overview_counts_and_lists_only_the_devices_filtered(fleet, viewer, client_for):
    client = client_for(viewer)
    response = client.get(f"/expiry/?product_key={PRODUCT_KEY}&device=online")
    html = page_text(response)

    assert response.status_code == 200
    assert counts_of(html)["expired"] == 2
    assert counts_of(html)["days_over_90"] == 1
    assert counts_of(html)["never"] == 1
    assert shown(html) == ["exp-online-1", "exp-online-gw", "never-online-1", "ok-online-1"]

    everything = counts_of(page_text(client.get(f"/expiry/?product_key={PRODUCT_KEY}")))
    assert everything["expired"] == 4

    valid_disabled = client.get(
        f"/expiry/?product_key={PRODUCT_KEY}&state=valid&device=disabled", headers=HTMX_HEADERS
    )
    assert shown(page_text(valid_disabled)) == ["ok-disabled-1", "soon-disabled-1"]
    assert "2 devices" in page_text(valid_disabled)


def test_the_expiry_csv_is_what_the_device_filters_show(fleet, viewer, client_for):
    response = client_for(viewer).get(
        f"/expiry/csv/?product_key={PRODUCT_KEY}&state=expired&device=online"
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    assert sorted(row["device_name"] for row in rows) == ["exp-online-1", "exp-online-gw"]
    assert {row["node_type"] for row in rows} == {"device", "gateway"}
    assert {row["device_status"] for row in rows} == {"ONLINE"}


def test_picking_a_product_keeps_the_device_filters(fleet, viewer, client_for):
    response = client_for(viewer).get(
        "/expiry/",
        {"product": f"default/{PRODUCT_KEY}/", "state": "expired", "device": ["online", "offline"]},
    )
    assert response.status_code == 302
    assert "device=online&device=offline" in response.url
    assert "state=expired" in response.url


def test_the_certificate_page_shows_what_the_sync_recorded(viewer, client_for, dashboard_iot):
    dashboard_iot.add_device(
        {
            "product_key": "a1Context03",
            "device_name": "edge-gateway-1",
            "node_type": 1,
            "firmware_version": "3.1.4-ctx",
            "key_type": "ec",
        }
    )
    job = product_sync_start(owner=viewer, product_key="a1Context03")
    assert runner.job_work(job_id=job.pk) == "finished"
    activated = CertificateRecord.objects.get(device_name="edge-gateway-1").activated_at
    assert activated is not None

    html = page_text(client_for(viewer).get("/devices/a1Context03/edge-gateway-1/"))

    context = re.search(r'<p class="device-context-line" id="device-context">(.*?)</p>', html, re.S)
    assert context is not None
    assert "node-type-gateway" in context.group(1)
    assert "3.1.4-ctx" in context.group(1)
    assert activated.strftime("%Y-%m-%d") in context.group(1)
    # The live status stays, asked of the platform beside the certificate.
    assert 'id="device-presence"' in html
    # Served from the inventory: the one record gives the certificate and this line.
    with CaptureQueriesContext(connection) as queries:
        again = page_text(client_for(viewer).get("/devices/a1Context03/edge-gateway-1/"))
    assert context.group(0) in again
    read = [q["sql"] for q in queries.captured_queries if "devices_certificaterecord" in q["sql"]]
    assert len(read) == 1, read


def test_the_certificate_page_of_a_device_no_sync_described_has_no_context_line(
    viewer, client_for, dashboard_iot
):
    dashboard_iot.add_device(
        {"product_key": "a1Context04", "device_name": "lone-1", "key_type": "ec"}
    )
    html = page_text(client_for(viewer).get("/devices/a1Context04/lone-1/"))
    assert 'id="device-presence"' in html
    assert 'id="device-context"' not in html
