"""The product device list and search: from the inventory once a product is synced, from a
live scan (that says how much it covered) before."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from certadmin.devices.inventory import inventory_listing_store
from certadmin.devices.models import CertificateRecord, ProductSync
from certadmin.devices.selectors import inventory_devices
from certadmin.emulator.seed import FLEET_PRODUCT_KEY
from certadmin.iot.results import DeviceListing
from certadmin.jobs import runner
from certadmin.jobs.services import product_sync_start
from tests.support.emulator import api_calls
from tests.support.pages import HTMX_HEADERS, page_text

pytestmark = pytest.mark.django_db

PRODUCT_KEY = "a1Search001"
FINGERPRINT = ":".join(["AB"] * 31 + ["0F"])


def make_record(device_name: str, *, product_key: str = PRODUCT_KEY, **fields):
    now = timezone.now()
    defaults = {
        "status": 2,
        "not_after": now + timedelta(days=365),
        "last_checked": now,
        "device_status": "ONLINE",
    }
    return CertificateRecord.objects.create(
        product_key=product_key, device_name=device_name, **{**defaults, **fields}
    )


def synced(product_key: str = PRODUCT_KEY, count: int = 0) -> ProductSync:
    return ProductSync.objects.create(
        product_key=product_key, device_count=count, synced_at=timezone.now()
    )


def names(records) -> list[str]:
    return [r.device_name for r in records]


@pytest.fixture
def fleet():
    now = timezone.now()
    make_record("pump-0001", nickname="Boiler room", not_after=now + timedelta(days=3))
    make_record(
        "pump-0002",
        cert_sn="9911223344",
        serial="0A:1B:2C",
        not_after=now + timedelta(days=200),
    )
    make_record("valve-0001", sha256_fingerprint=FINGERPRINT, not_after=now - timedelta(days=2))
    make_record("valve-0002", last_checked=None, status=None, not_after=None)
    make_record("gauge-0001", last_checked=now - timedelta(hours=48))
    make_record("pump-0003", product_key="a1Other0001")
    return now


# --- the selector ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("PUMP", ["pump-0001", "pump-0002"]),
        ("boiler", ["pump-0001"]),
        ("9911223344", ["pump-0002"]),
        ("0a:1b:2c", ["pump-0002"]),
        ("A1B2C", ["pump-0002"]),
        (FINGERPRINT.replace(":", "").lower(), ["valve-0001"]),
        (FINGERPRINT, ["valve-0001"]),
        ("991122", []),  # a CertSN matches whole, not in part
        ("nothing-like-it", []),
    ],
)
def test_search_by_name_nickname_certsn_serial_and_fingerprint(fleet, q, expected):
    found = inventory_devices(product_key=PRODUCT_KEY, q=q)

    assert names(found) == expected


def test_search_stays_inside_the_product_unless_asked_for_every_product(fleet):
    assert names(inventory_devices(product_key=PRODUCT_KEY, q="pump-0003")) == []
    assert names(inventory_devices(product_key=None, q="pump-0003")) == ["pump-0003"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["gauge-0001", "pump-0001", "pump-0002", "valve-0001", "valve-0002"]),
        ("-name", ["valve-0002", "valve-0001", "pump-0002", "pump-0001", "gauge-0001"]),
        # Days left, fewest first, devices without a date last.
        ("days", ["valve-0001", "pump-0001", "pump-0002", "gauge-0001", "valve-0002"]),
        ("-days", ["gauge-0001", "pump-0002", "pump-0001", "valve-0001", "valve-0002"]),
        # The most urgent state first: expired, within 7, valid…, never checked.
        ("status", ["valve-0001", "pump-0001", "gauge-0001", "pump-0002", "valve-0002"]),
        ("checked", ["valve-0002", "gauge-0001"]),
    ],
)
def test_sorting(fleet, sort, expected):
    found = names(inventory_devices(product_key=PRODUCT_KEY, sort=sort))

    assert found[: len(expected)] == expected


def test_state_filter_uses_the_expiry_classification(fleet):
    assert names(inventory_devices(product_key=PRODUCT_KEY, state="expired")) == ["valve-0001"]
    assert names(inventory_devices(product_key=PRODUCT_KEY, state="days_0_7")) == ["pump-0001"]
    assert names(inventory_devices(product_key=PRODUCT_KEY, state="never")) == ["valve-0002"]


def test_listing_store_upserts_in_bulk_and_keeps_what_lookups_found(
    fleet, django_assert_max_num_queries
):
    listings = [
        DeviceListing(
            device_name=f"new-{n:04d}",
            nickname=f"n{n}",
            device_status="OFFLINE",
            iot_id="",
            created="",
        )
        for n in range(1200)
    ] + [
        DeviceListing(
            device_name="pump-0002",
            nickname="renamed",
            device_status="DISABLE",
            iot_id="",
            created="",
        )
    ]

    with django_assert_max_num_queries(6):
        listed = inventory_listing_store(
            product_key=PRODUCT_KEY, iot_instance_id="", listings=listings
        )

    assert listed == 1201
    new = CertificateRecord.objects.get(product_key=PRODUCT_KEY, device_name="new-0007")
    assert (new.nickname, new.device_status, new.last_checked, new.status) == (
        "n7",
        "OFFLINE",
        None,
        None,
    )
    kept = CertificateRecord.objects.get(product_key=PRODUCT_KEY, device_name="pump-0002")
    assert (kept.nickname, kept.device_status, kept.cert_sn) == ("renamed", "DISABLE", "9911223344")
    assert kept.last_checked is not None


# --- the device list page ------------------------------------------------------------------------


@pytest.fixture
def large_synced_product():
    now = timezone.now()
    CertificateRecord.objects.bulk_create(
        CertificateRecord(
            product_key=PRODUCT_KEY,
            device_name=f"unit-{n:04d}",
            status=2,
            not_after=now + timedelta(days=n),
            last_checked=now,
        )
        for n in range(1, 131)
    )
    return synced(count=130)


def test_synced_product_is_listed_from_the_inventory_with_real_totals_and_numbered_pages(
    large_synced_product, viewer, client_for, dashboard_iot
):
    response = client_for(viewer).get(
        f"/devices/?product_key={PRODUCT_KEY}&page=3", headers=HTMX_HEADERS
    )

    html = page_text(response)
    assert response.status_code == 200
    assert "130 devices" in html
    assert "Page 3 of 3" in html
    assert "unit-0101" in html
    assert "unit-0130" in html
    assert "unit-0100" not in html
    assert 'aria-current="page"' in html
    assert "Served from the inventory" in html
    assert 'hx-push-url="true"' in html
    assert dashboard_iot.request_log == [], "a synced product's list costs no API call"


def test_the_unfiltered_lists_total_is_the_coverage_it_shows_without_counting_again(
    large_synced_product, viewer, client_for
):
    CertificateRecord.objects.filter(device_name__in=["unit-0001", "unit-0002"]).update(
        removed_at=timezone.now()
    )
    client = client_for(viewer)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/devices/?product_key={PRODUCT_KEY}&page=3", headers=HTMX_HEADERS)

    html = page_text(response)
    assert "128 devices" in html
    assert "Coverage: 128 of 128 devices listed" in html
    assert "unit-0130" in html
    counts = [q["sql"] for q in queries.captured_queries if 'COUNT(*) AS "__count"' in q["sql"]]
    assert counts == [], "the coverage's own count is the total"
    # A filter counts what it selects.
    filtered = page_text(client.get(f"/devices/?product_key={PRODUCT_KEY}&q=unit-00"))
    assert "97 devices" in filtered


def test_name_filter_of_a_synced_product_searches_every_device(
    large_synced_product, viewer, client_for
):
    response = client_for(viewer).get(
        f"/devices/?product_key={PRODUCT_KEY}&device_name=0127", headers=HTMX_HEADERS
    )

    html = page_text(response)
    assert "1 device" in html
    assert f'href="/devices/{PRODUCT_KEY}/unit-0127/"' in html


def test_sort_by_days_left_and_the_sort_links_keep_the_search(
    large_synced_product, viewer, client_for
):
    response = client_for(viewer).get(
        f"/devices/?product_key={PRODUCT_KEY}&q=unit-01&sort=-days", headers=HTMX_HEADERS
    )

    html = page_text(response)
    shown = re.findall(r'class="mono" href="[^"]+">(unit-\d+)<', html)
    assert shown[:3] == ["unit-0130", "unit-0129", "unit-0128"]
    assert 'aria-sort="descending"' in html
    assert re.search(r'href="/devices/\?product_key=a1Search001&amp;q=unit-01&amp;sort=days"', html)


def test_full_page_of_a_synced_product_works_without_javascript(
    large_synced_product, viewer, client_for
):
    response = client_for(viewer).get(f"/devices/?product_key={PRODUCT_KEY}&q=unit-0042")

    html = page_text(response)
    assert "<html" in html
    assert "unit-0042" in html
    assert 'action="/jobs/sync/"' in html


def test_stale_records_are_marked(fleet, viewer, client_for, settings):
    synced()
    settings.INVENTORY_STALE_HOURS = 24

    html = page_text(
        client_for(viewer).get(f"/devices/?product_key={PRODUCT_KEY}&q=gauge", headers=HTMX_HEADERS)
    )
    fresh = page_text(
        client_for(viewer).get(
            f"/devices/?product_key={PRODUCT_KEY}&q=pump-0001", headers=HTMX_HEADERS
        )
    )

    assert "stale-marker" in html
    assert "stale-marker" not in fresh


def test_never_synced_large_product_says_how_much_the_scan_covered_when_nothing_matched(
    dashboard_iot, viewer, client_for
):
    response = client_for(viewer).get(
        f"/devices/?product_key={FLEET_PRODUCT_KEY}&device_name=04321", headers=HTMX_HEADERS
    )

    html = page_text(response)
    assert "No device matches." not in html
    assert "Searched the first 1,000 of 5,000 devices" in html
    assert "No device among the first 1,000 matches." in html
    assert "Sync product" in html


def test_never_synced_large_product_broad_filter_does_not_claim_a_total(
    dashboard_iot, viewer, client_for
):
    response = client_for(viewer).get(
        f"/devices/?product_key={FLEET_PRODUCT_KEY}&device_name=unit", headers=HTMX_HEADERS
    )

    html = page_text(response)
    assert "1000 devices" not in html
    assert "1000 matches" in html
    assert "Searched the first 1,000 of 5,000 devices" in html


def enter(client, product_key: str, name: str):
    """Enter in the search form (a GET of the form, as with or without JavaScript)."""
    return client.get("/devices/lookup/", {"product_key": product_key, "device_name": name})


def fleet_listed(*names: str) -> None:
    """Part of the fleet product's devices in the inventory, as a sync stopped part way leaves
    it (listed, not checked, no complete sync)."""
    inventory_listing_store(
        product_key=FLEET_PRODUCT_KEY,
        iot_instance_id="",
        listings=[DeviceListing(name, "", "ONLINE", f"iot-{name}", "") for name in names],
    )


def test_enter_on_part_of_a_name_beyond_a_large_products_scan_shows_the_choice_not_a_lookup(
    dashboard_iot, viewer, client_for
):
    client = client_for(viewer)

    response = enter(client, FLEET_PRODUCT_KEY, "04321")

    # A valid DeviceName by its characters, but only part of line3-unit-04321, which lies
    # beyond the first 1,000 devices the scan reaches: not opened as a device of that name.
    assert response.status_code == 302
    assert response["Location"] == f"/devices/?product_key={FLEET_PRODUCT_KEY}&device_name=04321"
    html = page_text(client.get(response["Location"]))
    assert "Searched the first 1,000 of 5,000 devices" in html
    assert (
        "“04321” is not in the inventory, and the inventory of this product is incomplete "
        "(0 of 5,000 devices synced)." in html
    )
    assert f'<a href="/devices/{FLEET_PRODUCT_KEY}/04321/"><span class="mono">04321</span>' in html
    assert api_calls(dashboard_iot, "QueryDeviceCert") == 0


def test_enter_in_a_product_synced_part_way_searches_the_inventory_it_has(
    dashboard_iot, viewer, client_for
):
    fleet_listed("line3-unit-04321", "line3-unit-04322")
    client = client_for(viewer)

    partial = enter(client, FLEET_PRODUCT_KEY, "unit-0432")
    whole = enter(client, FLEET_PRODUCT_KEY, "line3-unit-04322")

    assert partial["Location"] == (
        f"/devices/?product_key={FLEET_PRODUCT_KEY}&device_name=unit-0432"
    )
    html = page_text(client.get(partial["Location"], headers=HTMX_HEADERS))
    assert "(2 of 5,000 devices synced)" in html
    offered = re.search(r'<div class="alert alert-info name-offer".*?</div>', html, re.S).group(0)
    assert re.findall(r'<span class="mono">([^<]+)</span>', offered) == [
        "unit-0432",
        "line3-unit-04321",
        "line3-unit-04322",
    ]
    # The whole name of a device the inventory has opens it, with no scan of the platform.
    assert whole["Location"] == f"/devices/{FLEET_PRODUCT_KEY}/line3-unit-04322/"
    assert api_calls(dashboard_iot, "QueryDeviceCert") == 0


def test_enter_on_a_name_no_device_of_a_synced_product_has_says_so_and_offers_the_lookup(
    fleet, viewer, client_for
):
    synced(count=5)
    client = client_for(viewer)

    response = enter(client, PRODUCT_KEY, "pump-0009")
    html = page_text(client.get(response["Location"]))

    assert response["Location"] == f"/devices/?product_key={PRODUCT_KEY}&device_name=pump-0009"
    assert "No device in the inventory is named exactly “pump-0009”, and the inventory held" in html
    assert (
        f'<a href="/devices/{PRODUCT_KEY}/pump-0009/"><span class="mono">pump-0009</span>' in html
    )
    # Text that cannot be a DeviceName is only searched for.
    spaced = page_text(client.get(f"/devices/?product_key={PRODUCT_KEY}&device_name=pump 9"))
    assert "name-offer" not in spaced


def test_a_whole_name_a_complete_scan_lacks_is_still_one_click_from_a_lookup(
    dashboard_iot, viewer, client_for
):
    client = client_for(viewer)

    response = enter(client, "a1Demo7Sh2x", "thermo-0042")
    html = page_text(client.get(response["Location"]))

    assert response["Location"] == "/devices/?product_key=a1Demo7Sh2x&device_name=thermo-0042"
    assert "The platform lists no device of this product named exactly “thermo-0042”." in html
    assert '<a href="/devices/a1Demo7Sh2x/thermo-0042/">' in html
    assert "name-offer" not in page_text(
        client.get("/devices/?product_key=a1Demo7Sh2x&device_name=thermo-001")
    )


def test_a_real_small_sync_makes_the_product_searchable_from_the_inventory(
    dashboard_iot, viewer, client_for
):
    product_key = "a1SyncSrch01"
    for number in range(1, 8):
        dashboard_iot.add_device(
            {"product_key": product_key, "device_name": f"small-{number:03d}", "key_type": "ec"}
        )
    job = product_sync_start(owner=viewer, product_key=product_key)
    assert runner.job_work(job_id=job.pk) == "finished"

    response = client_for(viewer).get(
        f"/devices/?product_key={product_key}&q=SMALL-00", headers=HTMX_HEADERS
    )

    html = page_text(response)
    assert "7 devices" in html
    assert "Served from the inventory" in html
    assert "small-007" in html
    fingerprint = CertificateRecord.objects.get(device_name="small-003").sha256_fingerprint
    by_fingerprint = client_for(viewer).get(
        f"/devices/?product_key={product_key}&q={fingerprint.replace(':', '')}",
        headers=HTMX_HEADERS,
    )
    assert "1 device" in page_text(by_fingerprint)
    assert "small-003" in page_text(by_fingerprint)


def test_search_form_suggests_each_product_and_instance_of_the_inventory_once(viewer, settings):
    from certadmin.devices.selectors import PRODUCT_SUGGESTIONS_KEPT, product_suggestions

    settings.IOT_INSTANCE_ID = ""
    for n in range(3):
        make_record(f"dev-{n}", product_key="a1Bbb000001")
    make_record("dev-0", product_key="a1Bbb000001", iot_instance_id="iot-06z00bbb")
    make_record("dev-0", product_key="a1Aaa000001")
    make_record("dev-9", product_key="a1Ccc000001", iot_instance_id="iot-06z00ccc")

    known = product_suggestions(user=viewer)

    assert known.product_keys == ["a1Aaa000001", "a1Bbb000001", "a1Ccc000001"]
    assert known.instances == ["iot-06z00bbb", "iot-06z00ccc"]

    for n in range(PRODUCT_SUGGESTIONS_KEPT + 5):
        make_record("dev-0", product_key=f"a1Zzz{n:06d}")
    known = product_suggestions(user=viewer)
    assert PRODUCT_SUGGESTIONS_KEPT - 5 < len(known.product_keys) <= PRODUCT_SUGGESTIONS_KEPT
    assert known.product_keys[:3] == ["a1Aaa000001", "a1Bbb000001", "a1Ccc000001"]
