"""Finding a device in a real browser: Enter does what the person means, the list
lives in the URL, the list works without JavaScript, the form suggests known products, the
certificate page's errors lead somewhere, and device statuses read as words in their colours."""

import re

import pytest
from playwright.sync_api import Page, expect

from certadmin.emulator import ENTERPRISE_INSTANCE_ID, ENTERPRISE_PRODUCT_KEY
from certadmin.emulator.seed import FLEET_PRODUCT_KEY
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

PRODUCT_KEY = "a1Demo7Sh2x"


def list_names(page: Page) -> list[str]:
    return page.locator("#device-list li .mono").all_inner_texts()


def test_enter_opens_the_only_match_or_the_whole_name_else_shows_the_list(
    page, person, dashboard, shot
):
    log_in(page, person("Viewer"))
    page.get_by_label("ProductKey", exact=True).fill(PRODUCT_KEY)
    page.get_by_label("DeviceName").fill("0042")
    expect(page.locator("#device-list li")).to_have_count(1)
    page.get_by_label("DeviceName").press("Enter")
    page.wait_for_url(f"**/devices/{PRODUCT_KEY}/sensor-0042/")
    expect(page.locator(".badge-ok", has_text="Certificate ready")).to_be_visible()

    # "← Find a device" comes back to the product's list, not to an empty form.
    page.get_by_role("link", name="← Find a device").click()
    expect(page.get_by_label("ProductKey", exact=True)).to_have_value(PRODUCT_KEY)
    expect(page.locator("#device-list li").first).to_be_visible()

    # Several matches: Enter shows them (no "There is no device", no validation error).
    page.get_by_label("DeviceName").fill("therm")
    page.get_by_label("DeviceName").press("Enter")
    page.wait_for_url(re.compile(r"/devices/\?product_key=a1Demo7Sh2x&device_name=therm$"))
    assert list_names(page) == ["thermo-001", "thermo-002", "thermo-003"]
    expect(page.locator(".errorlist")).to_have_count(0)
    shot(page, "several-matches")

    # Part of a name that only one device contains opens it too (other tests add devices to
    # the session emulator's demo product, so the part is one of this device alone).
    page.get_by_label("DeviceName").fill("probe@")
    page.get_by_label("DeviceName").press("Enter")
    page.wait_for_url(f"**/devices/{PRODUCT_KEY}/lab.probe@b2/")

    # The whole name opens the device.
    page.goto("/")
    page.get_by_label("ProductKey", exact=True).fill(PRODUCT_KEY)
    page.get_by_label("DeviceName").fill("thermo-002")
    page.get_by_role("button", name="Find").click()
    page.wait_for_url(f"**/devices/{PRODUCT_KEY}/thermo-002/")


def test_the_list_is_in_the_url_so_back_reload_and_links_show_it_again(
    page, person, dashboard, shot
):
    log_in(page, person("Viewer"))
    page.get_by_label("ProductKey", exact=True).fill(PRODUCT_KEY)
    page.get_by_label("DeviceName").fill("sensor")
    expect(page).to_have_url(re.compile(r"product_key=a1Demo7Sh2x&device_name=sensor"))
    expect(page.locator("#device-list .pager")).to_contain_text("Page 1 of 2")
    page.locator("#device-list").get_by_role("link", name="Next").click()
    expect(page.locator("#device-list .pager")).to_contain_text("Page 2 of 2")
    expect(page).to_have_url(re.compile(r"page=2"))
    on_page_two = list_names(page)

    page.locator("#device-list li a").first.click()
    page.wait_for_url(re.compile(r"/devices/a1Demo7Sh2x/sensor-\d+/$"))
    page.go_back()
    expect(page.locator("#device-list .pager")).to_contain_text("Page 2 of 2")
    assert list_names(page) == on_page_two
    expect(page.get_by_label("DeviceName")).to_have_value("sensor")

    page.go_back()
    expect(page.locator("#device-list .pager")).to_contain_text("Page 1 of 2")
    page.reload()
    expect(page.locator("#device-list .pager")).to_contain_text("Page 1 of 2")
    expect(page.get_by_label("ProductKey", exact=True)).to_have_value(PRODUCT_KEY)

    shared = page.context.new_page()
    shared.goto(page.url)
    expect(shared.locator("#device-list .pager")).to_contain_text("Page 1 of 2")
    shot(shared, "shared-link")
    shared.close()


def test_without_javascript_a_product_key_alone_lists_its_devices(
    new_page, person, dashboard, shot
):
    page = new_page(java_script_enabled=False)
    log_in(page, person("Viewer"))
    page.get_by_label("ProductKey", exact=True).fill(PRODUCT_KEY)
    page.get_by_role("button", name="Find").click()

    page.wait_for_url(re.compile(r"/devices/\?product_key=a1Demo7Sh2x$"))
    expect(page.get_by_text("This field is required.")).to_have_count(0)
    expect(page.locator("#device-list li")).to_have_count(50)
    page.locator("#device-list").get_by_role("link", name="Next").click()
    expect(page.locator("#device-list .pager")).to_contain_text("Page 2 of 2")

    page.get_by_label("DeviceName").fill("therm")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#device-list li")).to_have_count(3)
    shot(page, "filtered-no-js")


def test_the_search_form_suggests_products_and_instances_it_has_seen(page, person, dashboard):
    log_in(page, person("Viewer"))
    page.goto(f"/devices/{ENTERPRISE_PRODUCT_KEY}/ent-gw-01/?instance={ENTERPRISE_INSTANCE_ID}")
    expect(page.locator(".badge-ok", has_text="Certificate ready")).to_be_visible()
    page.goto("/")

    product_key = page.get_by_label("ProductKey", exact=True)
    expect(product_key).to_have_attribute("list", "product-suggestions")
    options = page.locator("#product-suggestions option")
    assert ENTERPRISE_PRODUCT_KEY in [o.get_attribute("value") for o in options.all()]
    expect(page.get_by_label("IotInstanceId")).to_have_attribute("list", "instance-suggestions")
    expect(
        page.locator(f'#instance-suggestions option[value="{ENTERPRISE_INSTANCE_ID}"]')
    ).to_have_count(1)


def test_certificate_page_errors_lead_to_the_fix_not_a_dead_end(
    page, page_problems, person, dashboard, shot
):
    page_problems.allow_http_errors()  # both misses answer 404
    log_in(page, person("Viewer"))

    page.goto(f"/devices/{ENTERPRISE_PRODUCT_KEY}/ent-gw-01/")
    alert = page.locator("#certificate").get_by_role("alert")
    expect(alert.locator("code").first).to_have_text("iot.system.InstanceNotFound")
    shot(page, "instance-not-found")
    page.locator("#certificate").get_by_label("IotInstanceId").fill(ENTERPRISE_INSTANCE_ID)
    page.get_by_role("button", name="Try with this IotInstanceId").click()
    page.wait_for_url(re.compile(rf"/ent-gw-01/\?instance={ENTERPRISE_INSTANCE_ID}$"))
    expect(page.locator(".badge-ok", has_text="Certificate ready")).to_be_visible()

    page.goto(f"/devices/{PRODUCT_KEY}/thermo-0042/")
    expect(page.get_by_role("link", name="Try again")).to_have_count(0)
    page.get_by_role("link", name="List the devices whose names contain “thermo-0042”").click()
    expect(page.get_by_label("DeviceName")).to_have_value("thermo-0042")
    expect(page.locator("#device-list")).to_contain_text("No device matches.")


def test_device_statuses_read_as_words_in_their_own_colours(page, person, dashboard, shot):
    log_in(page, person("Viewer"))
    page.get_by_label("ProductKey", exact=True).fill(PRODUCT_KEY)
    colours = {}
    for typed, status, words in (
        ("thermo", "ONLINE", "online"),
        ("thermo", "OFFLINE", "offline"),
        ("sensor-g", "UNACTIVE", "not activated"),
    ):
        page.get_by_label("DeviceName").fill(typed)
        badge = page.locator(f"#device-list .device-status-{status.lower()}").first
        expect(badge).to_have_text(words)
        expect(page.locator("#device-list")).not_to_contain_text(status)
        colours[status] = badge.evaluate("b => getComputedStyle(b).backgroundColor")
    assert len(set(colours.values())) == 3, colours
    shot(page, "statuses")


def test_enter_on_part_of_a_name_in_a_product_not_synced_in_full_searches_first(
    new_page, page_problems, person, dashboard, shot
):
    # The fleet product: 5,000 devices, never synced, so the live scan reaches the first 1,000.
    # "04321" is a valid DeviceName by its characters but only part of line3-unit-04321.
    page_problems.allow_http_errors()  # the exact name's lookup answers 404
    for javascript in (True, False):
        page = new_page(java_script_enabled=javascript)
        log_in(page, person("Viewer"))
        page.get_by_label("ProductKey", exact=True).fill(FLEET_PRODUCT_KEY)
        page.get_by_label("DeviceName").fill("04321")
        page.get_by_label("DeviceName").press("Enter")

        page.wait_for_url(
            re.compile(rf"/devices/\?product_key={FLEET_PRODUCT_KEY}&device_name=04321$")
        )
        offer = page.locator(".name-offer")
        expect(offer).to_contain_text(
            "“04321” is not in the inventory, and the inventory of this product is incomplete "
            "(0 of 5,000 devices synced)."
        )
        expect(page.get_by_text("There is no device")).to_have_count(0)
        shot(page, f"partial-name-js-{javascript}")

    # The exact name is one click away, and the platform answers for it.
    offer.get_by_role("link", name="04321").click()
    page.wait_for_url(f"**/devices/{FLEET_PRODUCT_KEY}/04321/")
    expect(page.locator("#certificate")).to_contain_text(
        f"There is no device 04321 in product {FLEET_PRODUCT_KEY}."
    )
