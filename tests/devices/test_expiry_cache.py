"""The expiry overview's cached counts, chart and table: every inventory write shows at once,
a cached value is never read for another account, product, instance, query or language, and
the clock moves it on within a minute."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from certadmin.devices.expiry_cache import expiry_counts_cached, expiry_month_counts_cached
from certadmin.devices.inventory import (
    device_certificate_check,
    inventory_changed,
    inventory_listing_store,
    inventory_store_failure,
)
from certadmin.devices.models import CertificateRecord, InventoryVersion
from certadmin.emulator import DEMO_PRODUCT_KEY
from certadmin.iot.identity import DeviceRef
from certadmin.iot.results import DeviceListing
from tests.devices.test_expiry_page import counts_of
from tests.support.pages import page_text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("a_fresh_minute")]

PRODUCT = "a1CacheTest1"


def record(device_name: str, *, product_key: str = PRODUCT, **fields) -> CertificateRecord:
    now = timezone.now()
    defaults = {"status": 2, "not_after": now + timedelta(days=400), "last_checked": now}
    created = CertificateRecord.objects.create(
        product_key=product_key, device_name=device_name, **{**defaults, **fields}
    )
    # What every writer of the inventory does in its transaction.
    inventory_changed(
        account=created.account, product_key=product_key, iot_instance_id=created.iot_instance_id
    )
    return created


def product_scope(product_key: str = PRODUCT, **scope) -> dict:
    return {"product_key": product_key, "iot_instance_id": "", "account": "", **scope}


def test_counts_are_cached_until_a_write_changes_the_version():
    now = timezone.now()
    first = record("unit-1")
    assert expiry_counts_cached(scope=product_scope(), now=now)["days_over_90"] == 1
    # Written around the inventory functions (no signal): the cached value stands...
    CertificateRecord.objects.filter(pk=first.pk).update(not_after=now + timedelta(days=3))
    assert expiry_counts_cached(scope=product_scope(), now=now)["days_over_90"] == 1
    # ... until the product's version changes, as every writer does in its transaction.
    inventory_changed(account="", product_key=PRODUCT, iot_instance_id="")
    counts = expiry_counts_cached(scope=product_scope(), now=now)
    assert counts["days_over_90"] == 0
    assert counts["days_0_7"] == 1


def test_the_clock_moves_a_cached_value_on_within_a_minute():
    now = timezone.now()
    first = record("unit-1")
    assert expiry_counts_cached(scope=product_scope(), now=now)["days_over_90"] == 1
    CertificateRecord.objects.filter(pk=first.pk).update(not_after=now + timedelta(days=3))

    later = expiry_counts_cached(scope=product_scope(), now=now + timedelta(seconds=60))

    assert later["days_0_7"] == 1


def test_each_writer_changes_the_version():
    def version():
        return InventoryVersion.objects.get(product_key=PRODUCT).version

    record("unit-1")
    versions = [version()]
    inventory_store_failure(device=DeviceRef(PRODUCT, "unit-1"), code="iot.device.NotExistedDevice")
    versions.append(version())
    listings = [DeviceListing("unit-2", "", "ONLINE", "iot-id", "")]
    inventory_listing_store(product_key=PRODUCT, iot_instance_id="", listings=listings)
    versions.append(version())

    assert len(set(versions)) == 3


def test_no_two_scopes_share_a_cached_value():
    now = timezone.now()
    # A product of n records per scope: 1 here, 2 on another product, 3 on another instance,
    # 4 on another account (same ProductKey and DeviceNames).
    record("unit-1")
    for n in range(2):
        record(f"unit-{n}", product_key="a1CacheTest2")
    for n in range(3):
        record(f"unit-{n}", iot_instance_id="iot-cn-cache")
    for n in range(4):
        record(f"unit-{n}", account="staging")
    scopes = {
        1: product_scope(),
        2: product_scope("a1CacheTest2"),
        3: product_scope(iot_instance_id="iot-cn-cache"),
        4: product_scope(account="staging"),
    }
    for _round in range(2):
        for expected, scope in scopes.items():
            assert expiry_counts_cached(scope=scope, now=now)["days_over_90"] == expected
            assert sum(expiry_month_counts_cached(scope=scope, now=now)) == expected
    everything = {"product_key": None, "accounts": ["default"]}
    assert expiry_counts_cached(scope=everything, now=now)["days_over_90"] == 6
    assert (
        expiry_counts_cached(scope={**everything, "accounts": ["staging"]}, now=now)["days_over_90"]
        == 4
    )


def test_every_product_is_not_cached_while_a_product_has_no_version():
    now = timezone.now()
    record("unit-1")
    everything = {"product_key": None, "accounts": ["default"]}
    assert expiry_counts_cached(scope=everything, now=now)["days_over_90"] == 1
    # A bulk load around the inventory functions leaves its product without a version.
    CertificateRecord.objects.bulk_create(
        [
            CertificateRecord(
                product_key="a1BulkLoaded", device_name=f"bulk-{n}", last_checked=now, status=2
            )
            for n in range(2)
        ]
    )
    CertificateRecord.objects.filter(product_key="a1BulkLoaded").update(
        not_after=now + timedelta(days=400)
    )

    assert expiry_counts_cached(scope=everything, now=now)["days_over_90"] == 3


def test_a_certificate_lookup_shows_on_the_overview_at_once(iot, viewer, client_for):
    client = client_for(viewer)
    CertificateRecord.objects.create(product_key=DEMO_PRODUCT_KEY, device_name="thermo-001")
    url = f"/expiry/?product_key={DEMO_PRODUCT_KEY}"
    assert counts_of(page_text(client.get(url)))["never"] == 1
    assert counts_of(page_text(client.get("/expiry/")))["never"] == 1

    device_certificate_check(device=DeviceRef(DEMO_PRODUCT_KEY, "thermo-001"), client=iot)

    for shown in (
        counts_of(page_text(client.get(url))),
        counts_of(page_text(client.get("/expiry/"))),
    ):
        assert shown["never"] == 0
        assert sum(shown.values()) == 1


def test_a_failed_lookup_and_a_sync_listing_show_at_once(viewer, client_for):
    client = client_for(viewer)
    url = f"/expiry/?product_key={PRODUCT}"
    record("unit-1")
    assert counts_of(page_text(client.get(url)))["days_over_90"] == 1

    inventory_store_failure(device=DeviceRef(PRODUCT, "unit-1"), code="iot.device.NotExistedDevice")
    assert counts_of(page_text(client.get(url)))["failed"] == 1

    listings = [DeviceListing(f"new-{n}", "", "ONLINE", "iot-id", "") for n in range(2)]
    inventory_listing_store(product_key=PRODUCT, iot_instance_id="", listings=listings)
    assert counts_of(page_text(client.get(url)))["never"] == 2
    assert counts_of(page_text(client.get("/expiry/")))["never"] == 2


def test_table_rows_built_in_python_escape_every_stored_value(viewer, client_for):
    record(
        "<b>unit</b>",
        nickname='<script>alert("n")</script>',
        iot_instance_id="<i>iot</i>",
        last_error_code="<u>code</u>",
    )

    html = page_text(client_for(viewer).get("/expiry/"))

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;n&quot;)&lt;/script&gt;" in html
    assert "&lt;b&gt;unit&lt;/b&gt;" in html
    assert "(&lt;i&gt;iot&lt;/i&gt;)" in html
    assert '<code class="error-code">&lt;u&gt;code&lt;/u&gt;</code>' in html
    assert 'data-label="DeviceName"' in html


def _records_read(client, url: str, **headers) -> tuple[str, int]:
    """The page at ``url`` and how many queries counted or read the inventory's records for it
    (the product picker's probes for the products aside)."""
    with CaptureQueriesContext(connection) as queries:
        html = client.get(url, headers=headers).content.decode()
    reads = [
        q
        for q in queries.captured_queries
        if "COUNT(" in q["sql"] or '"devices_certificaterecord"."id"' in q["sql"]
    ]
    return html, len(reads)


def test_the_counts_and_table_are_written_once_and_every_write_shows_at_once(viewer, client_for):
    client = client_for(viewer)
    url = f"/expiry/?product_key={PRODUCT}"
    record("unit-1", nickname="first name")
    html, reads = _records_read(client, url)
    assert "first name" in html
    assert reads >= 1
    html, reads = _records_read(client, url)
    assert ("first name" in html, reads) == (True, 0)
    # The htmx partial is the same cached part.
    partial, reads = _records_read(client, url, **{"HX-Request": "true"})
    assert ("first name" in partial, reads, "<html" in partial) == (True, 0, False)
    # Written around the inventory functions: the cached table stands...
    CertificateRecord.objects.filter(device_name="unit-1").update(nickname="second name")
    assert "first name" in _records_read(client, url)[0]
    # ... until the product's version changes, as every writer does in its transaction.
    inventory_changed(account="", product_key=PRODUCT, iot_instance_id="")
    html, reads = _records_read(client, url)
    assert ("second name" in html, "first name" in html, reads >= 1) == (True, False, True)
    listings = [DeviceListing("unit-2", "listed now", "ONLINE", "iot-id", "")]
    inventory_listing_store(product_key=PRODUCT, iot_instance_id="", listings=listings)
    for headers in ({}, {"HX-Request": "true"}):
        shown = _records_read(client, url, **headers)[0]
        assert "unit-2" in shown
        assert counts_of(shown)["never"] == 1


def test_each_query_and_language_has_a_table_of_its_own(viewer, client_for):
    client = client_for(viewer)
    url = f"/expiry/?product_key={PRODUCT}"
    record("unit-a", not_after=timezone.now() + timedelta(days=3, hours=2))
    record("unit-b")
    by_name = _records_read(client, f"{url}&sort=name")[0]
    assert by_name.index("unit-a") < by_name.index("unit-b")
    reversed_names = _records_read(client, f"{url}&sort=-name")[0]
    assert reversed_names.index("unit-b") < reversed_names.index("unit-a")
    soon = _records_read(client, f"{url}&state=days_0_7")[0]
    assert ("unit-a" in soon, "unit-b" in soon) == (True, False)
    english = _records_read(client, url)[0]
    chinese = _records_read(client, url, **{"Accept-Language": "zh-hans"})[0]
    assert "3 days left" in english
    assert "剩余 3 天" in chinese
    assert "3 days left" in _records_read(client, url)[0]
