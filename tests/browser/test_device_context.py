"""Filtering a synced product's device list by device status and certificate state in a real
browser: ticking a status and choosing an expiry state narrow the table in place, the address
says so (one URL: "expired certificate, device online"), and the URL alone shows the same list."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from certadmin.devices.models import CertificateRecord, NodeType, ProductSync
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

PRODUCT_KEY = "a1ContextWeb"


@pytest.fixture
def synced(transactional_db):
    now = timezone.now()
    expired = now - timedelta(days=4)
    rows = [
        ("exp-online", "ONLINE", NodeType.DEVICE, expired),
        ("exp-online-gw", "ONLINE", NodeType.GATEWAY, expired),
        ("exp-offline", "OFFLINE", NodeType.DEVICE, expired),
        ("ok-online", "ONLINE", NodeType.DEVICE, now + timedelta(days=300)),
        ("ok-disabled", "DISABLE", NodeType.DEVICE, now + timedelta(days=300)),
    ]
    CertificateRecord.objects.bulk_create(
        CertificateRecord(
            product_key=PRODUCT_KEY,
            device_name=name,
            device_status=status,
            node_type=node_type,
            status=2,
            not_after=not_after,
            last_checked=now,
            context_checked_at=now,
        )
        for name, status, node_type, not_after in rows
    )
    ProductSync.objects.create(product_key=PRODUCT_KEY, device_count=len(rows), synced_at=now)


def device_names(page: Page) -> list[str]:
    return sorted(page.locator(".inventory-table tbody tr td:first-child").all_inner_texts())


def test_expired_certificate_device_online_is_one_url_that_shows_the_same_list(
    new_page, person, synced, shot
):
    page = new_page(viewport={"width": 1280, "height": 900})
    log_in(page, person("Viewer"))
    page.goto(f"/devices/?product_key={PRODUCT_KEY}")
    expect(page.locator(".inventory-table tbody tr")).to_have_count(5)

    page.get_by_label("Expiry", exact=True).select_option("expired")
    expect(page.locator(".inventory-table tbody tr")).to_have_count(3)
    page.get_by_role("checkbox", name="online", exact=True).check()
    expect(page).to_have_url(re.compile(r"state=expired.*device=online"))
    expect(page.locator(".inventory-table tbody tr")).to_have_count(2)
    assert device_names(page) == ["exp-online", "exp-online-gw"]
    expect(page.locator(".inventory-table .node-type-gateway")).to_have_count(1)
    shot(page, "expired-online")

    # The address alone, in a fresh page: the same list, the same boxes ticked.
    shared = page.url
    again = new_page(viewport={"width": 390, "height": 800})
    log_in(again, person("Viewer", "viewer-shared"))
    again.goto(shared)
    assert device_names(again) == ["exp-online", "exp-online-gw"]
    expect(again.get_by_role("checkbox", name="online", exact=True)).to_be_checked()
    expect(again.get_by_label("Expiry", exact=True)).to_have_value("expired")
    width = again.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    shot(again, "expired-online-phone")
