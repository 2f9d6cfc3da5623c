"""The audit pages on a 390 px phone: nothing scrolls the page sideways, the events come before
the folded filter form, Outcome is on screen; and the chain page checks a pasted anchor."""

import pytest
from playwright.sync_api import expect

from certadmin.audit.models import AuditAction, AuditOutcome
from certadmin.audit.services import RequestContext, audit_record
from certadmin.iot.identity import DeviceRef
from tests.browser.chain_verify import verify_now
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True}
PRODUCT_KEY = "a1Demo7Sh2x"
DEVICE = "thermo-with-a-long-name-000001"


def _events(person):
    custodian = person("Key custodian", "custodian-with-a-long-username")
    context = RequestContext(ip_address="2001:db8:85a3::8a2e:370:7334", user_agent="browser-test")
    for outcome, detail in [
        (AuditOutcome.SUCCESS, ""),
        (AuditOutcome.REFUSED, "no valid reason given"),
        (AuditOutcome.DENIED, "re-authentication failed"),
        (AuditOutcome.FAILED, "p12: the private key could not be decoded"),
    ]:
        audit_record(
            action=AuditAction.KEY_REVEAL,
            outcome=outcome,
            actor=custodian,
            context=context,
            device=DeviceRef(PRODUCT_KEY, DEVICE, "iot-06z00ep2pjifrby"),
            key_fingerprint="AB:" * 31 + "AB",
            reason="OPS-4711: a reason that is long enough to wrap over several lines on a phone",
            detail=detail,
        )
    return custodian


def _no_sideways_scroll(page, path):
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert width <= inner, f"{path} scrolls sideways: {width} > {inner}"


def test_every_audit_page_fits_a_390_px_screen(new_page, person, dashboard, shot):
    custodian = _events(person)
    page = new_page(**PHONE)
    log_in(page, person("Auditor"))
    expect(verify_now(page).locator(".audit-verdict")).to_have_text("Chain intact")
    paths = [
        "/audit/",
        f"/audit/?device_name={DEVICE}&action=key_access",
        f"/audit/devices/{PRODUCT_KEY}/{DEVICE}/",
        f"/audit/users/{custodian.username}/",
        "/audit/chain/",
    ]
    for number, path in enumerate(paths):
        page.goto(path)
        page.wait_for_load_state("load")
        _no_sideways_scroll(page, path)
        shot(page, f"page-{number}")

    page.goto("/audit/")
    filters = page.locator("details.audit-filters")
    expect(filters).not_to_have_attribute("open", "")
    outcome = page.locator(".audit-table tbody tr").first.locator(".audit-outcome")
    expect(outcome).to_be_in_viewport()
    # Opening the folded form, filtering, and getting the results with the form folded again.
    filters.locator("summary").click()
    page.get_by_label("DeviceName").fill("THERMO")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**device_name=THERMO*")
    expect(page.locator(".audit-table tbody tr")).to_have_count(4)
    expect(page.locator("details.audit-filters")).not_to_have_attribute("open", "")
    _no_sideways_scroll(page, page.url)


def test_the_filter_form_is_open_on_a_wide_screen(new_page, person, dashboard):
    _events(person)
    page = new_page(viewport={"width": 1280, "height": 900})
    log_in(page, person("Auditor"))
    page.goto("/audit/")
    expect(page.get_by_label("DeviceName")).to_be_visible()
    badges = page.locator(".audit-table .audit-outcome")
    colours = {badges.nth(i).evaluate("b => getComputedStyle(b).backgroundColor") for i in range(4)}
    assert len(colours) == 4, "each outcome has its own badge colour"


def test_the_auditor_checks_a_pasted_anchor_on_the_chain_page(
    new_page, page_problems, person, dashboard
):
    _events(person)
    page = new_page()
    log_in(page, person("Auditor"))
    head = verify_now(page).locator(".audit-facts code").first.inner_text()

    status = verify_now(page, anchor=head.upper())
    expect(status).to_contain_text("Found in the chain")
    expect(status.locator(".audit-verdict")).to_have_text("Chain intact")

    status = verify_now(page, anchor="0f" * 32)
    expect(status).to_contain_text("Not in the chain")
    expect(status.locator(".audit-verdict")).to_have_text("Chain broken")

    page_problems.allow_http_errors(on_path="/audit/chain/")
    page.goto("/audit/chain/")
    page.get_by_label("Anchored head hash (optional)").fill("not a hash")
    page.get_by_role("button", name="Verify now").click()
    expect(page.locator("#chain-status")).to_contain_text("64 hexadecimal characters")
