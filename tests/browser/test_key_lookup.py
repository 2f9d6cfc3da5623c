"""An Auditor in a real browser pastes a device's certificate and sees who was given its key."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, log_in
from tests.support.key_material import api_answer

pytestmark = pytest.mark.browser

PRODUCT_KEY = "a1Demo7Sh2x"
REASON = "OPS-2718: key custody drill for the browser test"


def test_auditor_pastes_a_certificate_and_sees_the_reveal_of_its_key(
    new_page, person, dashboard, shot
):
    custodian_page = new_page()
    log_in(custodian_page, person("Key custodian", "cust-kim"))
    custodian_page.goto(f"/devices/{PRODUCT_KEY}/thermo-002/")
    panel = custodian_page.locator("#reveal-panel")
    panel.get_by_label("Reason").fill(REASON)
    panel.get_by_label("Your password").fill(PASSWORD)
    panel.get_by_role("button", name="Reveal private key").click()
    expect(panel.locator("#private-key")).to_contain_text("PRIVATE KEY")
    custodian_page.context.close()

    certificate = api_answer(dashboard, "thermo-002").certificate
    page = new_page()
    log_in(page, person("Auditor"))
    page.goto("/audit/")
    page.get_by_role("link", name="Who has seen this key?").click()
    page.wait_for_url("**/audit/keys/")
    page.get_by_label("Certificate or key").fill(certificate)
    page.get_by_role("button", name="Look up").click()

    section = page.locator("#key-lookup")
    expect(section).to_contain_text("certificate (X.509, PEM)")
    expect(section.locator("table").first).to_contain_text(f"{PRODUCT_KEY}/thermo-002")
    releases = section.locator(".audit-table tbody tr").filter(has_text="cust-kim")
    expect(releases).to_have_count(1)
    expect(releases).to_contain_text("Private key reveal")
    expect(releases).to_contain_text(REASON)
    # Nothing pasted is written back into the page.
    expect(page.get_by_label("Certificate or key")).to_have_value("")
    shot(page, "key-lookup")
