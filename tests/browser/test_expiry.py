"""The expiry overview in a real browser: the Order box tells the rows' order and Show keeps
it, the product picker works without JavaScript and keeps the filters, and the chart's labels
stay apart and readable at 1280 and 390 px."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from certadmin.devices.models import CertificateRecord
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

PRODUCT_KEY = "a1ExpiryWeb1"
OTHER_PRODUCT_KEY = "a1ExpiryWeb2"
# Readable: no label's box is less high than this many CSS pixels.
READABLE_PX = 9


@pytest.fixture
def inventory(transactional_db):
    """Two products; in the first, name order and days-left order differ, and certificates
    expire across two years, so the chart has a year change."""
    now = timezone.now()
    rows = [
        CertificateRecord(
            product_key=PRODUCT_KEY,
            device_name=f"unit-{n:02d}",
            status=2,
            # unit-00 expires last, unit-23 first: A–Z is the reverse of days left.
            not_after=now + timedelta(days=20 + 29 * (23 - n)),
            last_checked=now,
        )
        for n in range(24)
    ]
    rows.append(
        CertificateRecord(
            product_key=OTHER_PRODUCT_KEY,
            device_name="other-expired",
            status=2,
            not_after=now - timedelta(days=3),
            last_checked=now,
        )
    )
    CertificateRecord.objects.bulk_create(rows)


def device_names(page: Page) -> list[str]:
    return page.locator(".inventory-table tbody tr td:first-child").all_inner_texts()


def test_the_order_box_shows_the_rows_order_and_show_does_not_resort(
    new_page, person, inventory, shot
):
    page = new_page(viewport={"width": 1280, "height": 900})
    log_in(page, person("Viewer"))
    page.goto(f"/expiry/?product_key={PRODUCT_KEY}")
    order = page.get_by_label("Order", exact=True)
    expect(order).to_have_value("days")
    expect(order.locator("option:checked")).to_have_text("Days left, fewest first")
    first = device_names(page)
    assert first[:3] == ["unit-23", "unit-22", "unit-21"]

    page.locator(".inventory-filter").get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"sort=days"))
    expect(page.locator(".inventory-table tbody tr").first).to_contain_text("unit-23")
    assert device_names(page) == first
    expect(order).to_have_value("days")
    shot(page, "order-kept")


def test_the_product_picker_works_without_javascript_and_keeps_the_filters(
    new_page, person, inventory, shot
):
    page = new_page(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
    log_in(page, person("Viewer"))
    page.goto("/expiry/?state=expired")
    picker = page.get_by_label("Product", exact=True)
    expect(picker).to_have_value("")
    picker.select_option(label=OTHER_PRODUCT_KEY)
    with page.expect_navigation():
        page.get_by_role("button", name="Show product").click()
    expect(page).to_have_url(re.compile(rf"product_key={OTHER_PRODUCT_KEY}.*state=expired"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(OTHER_PRODUCT_KEY)
    expect(page.get_by_label("Product", exact=True)).to_have_value(f"default/{OTHER_PRODUCT_KEY}/")
    expect(page.get_by_label("Expiry", exact=True)).to_have_value("expired")
    assert device_names(page) == ["other-expired"]
    shot(page, "picked")


def label_boxes(page: Page) -> list[dict]:
    """The boxes of the visible chart's text labels (ticks, months, years), in CSS pixels."""
    svg = page.locator(".expiry-chart-svg:visible")
    expect(svg).to_have_count(1)
    return svg.evaluate(
        """svg => [...svg.querySelectorAll("text")].map(t => {
            const r = t.getBoundingClientRect();
            return {text: t.textContent, cls: t.getAttribute("class"),
                    x: r.x, y: r.y, width: r.width, height: r.height};
        })"""
    )


def overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


@pytest.mark.parametrize("width", [1280, 390])
def test_chart_labels_do_not_collide_and_are_readable(new_page, person, inventory, shot, width):
    page = new_page(viewport={"width": width, "height": 900})
    log_in(page, person("Viewer"))
    page.goto(f"/expiry/?product_key={PRODUCT_KEY}")
    boxes = label_boxes(page)
    years = [box for box in boxes if box["cls"] == "expiry-chart-year"]
    assert len(years) >= 2, "the chart spans two years"
    assert sum(box["cls"] == "expiry-chart-label" for box in boxes) >= 6
    collisions = [
        (a["text"], b["text"]) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if overlap(a, b)
    ]
    assert not collisions, f"labels overlap at {width} px: {collisions}"
    small = [box["text"] for box in boxes if box["height"] < READABLE_PX]
    assert not small, f"labels under {READABLE_PX} px high at {width} px: {small}"
    chart = page.locator(".expiry-chart-svg:visible").bounding_box()
    for box in boxes:
        assert chart["x"] <= box["x"], f"{box['text']} sticks out on the left"
        assert box["x"] + box["width"] <= chart["x"] + chart["width"], box["text"]
    # The whole page, and the chart alone beside it, in test-artifacts/.
    page_shot = shot(page, f"page-{width}")
    page.locator(".expiry-chart").screenshot(
        path=str(page_shot.with_name(f"expiry-chart-{width}.png"))
    )
