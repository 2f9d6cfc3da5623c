"""A Viewer in a real browser: find a device, read its certificate, download it."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

PRODUCT_KEY = "a1Demo7Sh2x"


def search_product(page: Page) -> None:
    page.get_by_label("ProductKey", exact=True).fill(PRODUCT_KEY)
    page.wait_for_selector("#device-list li")


def kv_value(page: Page, label: str):
    """The value cell of a ``th``/``td`` row of the certificate tables."""
    return page.locator("tr", has=page.locator("th", has_text=re.compile(rf"^\s*{label}"))).locator(
        "td"
    )


def test_viewer_finds_a_device_in_the_live_list_and_reads_its_certificate(
    page, person, dashboard, shot
):
    log_in(page, person("Viewer"))
    expect(page.get_by_role("heading", name="Find a device")).to_be_visible()
    search_product(page)
    expect(page.locator("#device-list")).to_contain_text("thermo-001")
    shot(page, "device-list")

    page.get_by_label("DeviceName").fill("therm")
    expect(page.locator("#device-list li")).to_have_count(3)
    expect(page.locator("#device-list li .mono")).to_have_text(
        ["thermo-001", "thermo-002", "thermo-003"]
    )
    # Typing stays on the search page; the URL carries the list so Back and reload keep it.
    assert page.url.endswith(
        f"/devices/?product_key={PRODUCT_KEY}&device_name=therm&instance=&account=default"
    )

    page.get_by_role("link", name=re.compile("thermo-001")).click()
    page.wait_for_url(f"**/devices/{PRODUCT_KEY}/thermo-001/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"{PRODUCT_KEY} / thermo-001")
    shot(page, "certificate")

    summary = page.locator("section", has=page.get_by_role("heading", name="Summary"))
    expect(summary.locator(".badge-ok")).to_have_text("Valid")
    expect(summary).to_contain_text(re.compile(r"expires in \d+ days"))
    expect(summary).to_contain_text("RSA 2048")
    expect(page.locator(".badge-ok", has_text="Certificate ready")).to_be_visible()
    expect(page.locator("#device-presence")).to_contain_text(re.compile(r"online\s+last online"))

    expect(kv_value(page, "Issuer").first).to_contain_text("CN=Alibaba Cloud IoT Operation CA1")
    fingerprint = kv_value(page, "SHA-256 fingerprint").inner_text().strip()
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", fingerprint, re.IGNORECASE), fingerprint

    basic_constraints = page.locator("h3", has_text="Basic constraints").locator(
        "xpath=following-sibling::table[1]"
    )
    expect(
        basic_constraints.locator("tr", has=page.locator("th", has_text=re.compile("^CA$")))
    ).to_contain_text("No")

    expect(kv_value(page, "Chain").locator(".badge")).to_have_text("Verified")
    expect(kv_value(page, "Private key matches certificate").locator(".badge")).to_have_text("Yes")
    expect(page.locator("#certificate-pem")).to_contain_text("BEGIN CERTIFICATE")

    assert "PRIVATE KEY" not in page.content()
    expect(page.get_by_role("button", name="Reveal private key")).to_have_count(0)
    expect(page.get_by_text("Download with the private key")).to_have_count(0)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Certificate (PEM)").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pem")
    pem = Path(download.path()).read_text(encoding="ascii")
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    assert pem.strip() == page.locator("#certificate-pem").inner_text().strip()
    assert "PRIVATE KEY" not in pem


def test_refresh_asks_the_platform_again_in_place(page, person, dashboard, shot):
    log_in(page, person("Viewer"))
    page.goto(f"/devices/{PRODUCT_KEY}/thermo-002/")
    status = page.locator(".summary-line").first
    expect(status).to_contain_text("checked just now")
    calls_first = [e.action for e in dashboard.request_log].count("QueryDeviceCert")

    page.reload()  # within the freshness window: served from the inventory
    expect(status).to_contain_text("checked just now")  # under a minute old
    calls_before = [e.action for e in dashboard.request_log].count("QueryDeviceCert")
    assert calls_before == calls_first, "a reload within the freshness window asks nothing"

    with page.expect_response(lambda r: "refresh=1" in r.url) as refresh:
        page.get_by_role("link", name="Refresh").click()
    assert refresh.value.request.headers.get("hx-request") == "true", "Refresh must go via htmx"
    expect(status).to_contain_text("checked just now")
    assert page.url.endswith(f"/devices/{PRODUCT_KEY}/thermo-002/"), "swapped in place"
    calls_after = [e.action for e in dashboard.request_log].count("QueryDeviceCert")
    assert calls_after == calls_before + 1, "Refresh must ask the platform"
    shot(page, "refreshed")


def test_device_list_pages_through_a_large_product(page, person, dashboard, shot):
    log_in(page, person("Viewer"))
    search_product(page)
    listing = page.locator("#device-list")
    total = int(re.search(r"(\d+) devices", listing.inner_text()).group(1))
    assert total > 50
    expect(listing.locator("li")).to_have_count(50)
    expect(listing.get_by_role("navigation")).to_contain_text("Page 1 of 2")

    listing.get_by_role("link", name="Next").click()
    expect(listing.get_by_role("navigation")).to_contain_text("Page 2 of 2")
    expect(listing.locator("li")).to_have_count(total - 50)
    assert "page=2" in page.url, "the pager swaps the list in place and pushes its URL"
    shot(page, "page-2")

    listing.get_by_role("link", name="Previous").click()
    expect(listing.get_by_role("navigation")).to_contain_text("Page 1 of 2")


def test_invalid_device_name_is_refused_beside_the_field(
    page, page_problems, person, dashboard, shot
):
    # Part of a name is a filter now (see test_finding_a_device); too long a name is refused.
    page_problems.allow_http_errors()  # the refused lookup answers 400
    log_in(page, person("Viewer"))
    page.get_by_label("ProductKey", exact=True).fill(PRODUCT_KEY)
    page.get_by_label("DeviceName").evaluate("input => input.removeAttribute('maxlength')")
    page.get_by_label("DeviceName").fill("x" * 33)
    calls_before = len(dashboard.request_log)
    page.get_by_role("button", name="Find").click()

    device_name = page.get_by_label("DeviceName")
    expect(device_name).to_have_attribute("aria-invalid", "true")
    error = page.locator("#id_device_name_error")
    expect(error).to_contain_text("at most 32 characters")
    expect(device_name).to_have_attribute(
        "aria-describedby", re.compile(r"\bid_device_name_error\b")
    )
    expect(device_name).to_have_value("x" * 33)
    assert not [
        entry for entry in dashboard.request_log[calls_before:] if entry.action == "QueryDeviceCert"
    ], "a refused DeviceName must not reach the IoT API"
    shot(page, "refused")


def test_search_works_without_javascript(new_page, person, dashboard, shot):
    page = new_page(java_script_enabled=False)
    log_in(page, person("Viewer"))
    page.get_by_label("ProductKey", exact=True).fill(PRODUCT_KEY)
    page.get_by_label("DeviceName").fill("thermo-003")
    page.get_by_role("button", name="Find").click()

    page.wait_for_url(f"**/devices/{PRODUCT_KEY}/thermo-003/")
    expect(page.locator(".badge-ok", has_text="Certificate ready")).to_be_visible()
    expect(kv_value(page, "Chain").locator(".badge")).to_have_text("Verified")
    shot(page, "certificate-no-js")


DEVICE_PAGES = [
    # (path after /devices/, what the page must show)
    (f"{PRODUCT_KEY}/sensor-gen/", "Certificate being generated"),
    (f"{PRODUCT_KEY}/sensor-fail/", "Certificate generation failed"),
    (f"{PRODUCT_KEY}/meter-expiring/", "Expiring soon"),
    (f"{PRODUCT_KEY}/meter-expired/", "Expired"),
    (f"{PRODUCT_KEY}/legacy-b64/", "Valid"),
    (f"{PRODUCT_KEY}/cam-lobby:01/", "Valid"),
    (f"{PRODUCT_KEY}/lab.probe@b2/", "Valid"),
    ("a1Ent0Prd9k/ent-gw-01/?instance=iot-06z00demo0ent", "Valid"),
]


def test_every_kind_of_device_page_renders_cleanly(page, page_problems, person, dashboard, shot):
    """Each status, validity and odd name renders with no script error or CSP violation."""
    log_in(page, person("Viewer"))
    for path, shown in DEVICE_PAGES:
        page.goto(f"/devices/{path}")
        expect(page.locator(".badge", has_text=re.compile(rf"^{shown}$")).first).to_be_visible()
        shot(page, re.sub(r"[^A-Za-z0-9-]+", "_", path.split("?")[0]).strip("_"))

    # An enterprise device asked for without its IotInstanceId: the platform's refusal, named.
    page_problems.allow_http_errors(on_path="/devices/a1Ent0Prd9k/ent-gw-01/")
    page.goto("/devices/a1Ent0Prd9k/ent-gw-01/")
    alert = page.locator("#certificate").get_by_role("alert")
    expect(alert).to_contain_text("IotInstanceId")
    expect(alert.locator("code").first).to_have_text("iot.system.InstanceNotFound")
    shot(page, "enterprise-without-instance")
