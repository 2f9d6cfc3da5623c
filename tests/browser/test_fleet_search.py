"""A fleet in a real browser: a 5,000-device synced product searched from the inventory, and
the expiry overview on a phone."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from certadmin.devices.models import CertificateRecord, ProductSync
from certadmin.emulator.seed import FLEET_PRODUCT_KEY, FLEET_SIZE, FLEET_UNITS_PER_LINE
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def fleet_name(unit: int) -> str:
    return f"line{(unit - 1) // FLEET_UNITS_PER_LINE + 1}-unit-{unit:05d}"


@pytest.fixture
def synced_fleet(transactional_db):
    """The emulator's fleet product as a finished sync leaves it, written straight to the DB."""
    now = timezone.now()
    CertificateRecord.objects.bulk_create(
        (
            CertificateRecord(
                product_key=FLEET_PRODUCT_KEY,
                device_name=fleet_name(unit),
                nickname=f"Unit {unit}",
                device_status="ONLINE",
                status=2,
                cert_sn=f"{unit:012d}",
                not_after=now + timedelta(days=unit % 900 - 30),
                last_checked=now,
            )
            for unit in range(1, FLEET_SIZE + 1)
        ),
        batch_size=1000,
    )
    ProductSync.objects.create(
        product_key=FLEET_PRODUCT_KEY, device_count=FLEET_SIZE, synced_at=now
    )


def test_search_a_5000_device_product_for_a_device_on_its_last_page(
    page, person, dashboard, synced_fleet, shot
):
    log_in(page, person("Viewer"))
    page.get_by_label("ProductKey", exact=True).fill(FLEET_PRODUCT_KEY)
    listing = page.locator("#device-list")
    expect(listing.locator(".inventory-total")).to_contain_text("5000 devices")
    expect(listing.locator(".inventory-total")).to_contain_text("Page 1 of 100")
    shot(page, "first-page")

    # The last page, by its number in the pager: the URL follows, so Back comes back.
    listing.get_by_role("link", name="Page 100").click()
    expect(listing.locator(".inventory-total")).to_contain_text("Page 100 of 100")
    expect(listing.get_by_role("link", name="line3-unit-05000")).to_be_visible()
    assert "page=100" in page.url
    listing.get_by_role("link", name="Previous").click()
    expect(listing.locator(".inventory-total")).to_contain_text("Page 99 of 100")
    page.go_back()
    expect(page.locator("#device-list .inventory-total")).to_contain_text("Page 100 of 100")
    expect(page.get_by_role("heading", name="Find a device")).to_have_count(1)
    page.reload()
    expect(page.locator("#device-list .inventory-total")).to_contain_text("Page 100 of 100")

    # Search: a device that sorts onto the last page, found among all 5,000.
    page.get_by_role("searchbox", name="Search").fill("04987")
    expect(page.locator("#device-list .inventory-total")).to_contain_text("1 device")
    shot(page, "found")
    page.get_by_role("link", name="line3-unit-04987").click()
    page.wait_for_url(f"**/devices/{FLEET_PRODUCT_KEY}/line3-unit-04987/")
    # The demo has two API accounts: the heading names the device's.
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"{FLEET_PRODUCT_KEY} / line3-unit-04987 Account: default"
    )


def test_expiry_overview_does_not_scroll_sideways_on_a_phone(
    new_page, person, dashboard, synced_fleet, shot
):
    page = new_page(viewport={"width": 390, "height": 844})
    log_in(page, person("Viewer"))
    page.goto(f"/expiry/?product_key={FLEET_PRODUCT_KEY}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Certificate expiry")
    expect(page.locator(".inventory-table")).to_be_visible()

    expired = page.locator(".expiry-count.expiry-expired")
    expect(expired).to_contain_text(re.compile(r"\d+"))
    expired.click()
    expect(page.locator('.expiry-count.expiry-expired[aria-current="true"]')).to_be_visible()
    expect(page).to_have_url(re.compile(r"state=expired"))

    widths = page.evaluate(
        "({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    assert widths["scroll"] <= widths["inner"] + 1, f"the page scrolls sideways: {widths}"
    shot(page, "expiry-phone")
