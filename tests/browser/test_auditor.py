"""An Auditor in a real browser: find a custodian's reveal, filter, export, verify the chain."""

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from certadmin.audit.evidence_export import export_manifest_verify
from certadmin.audit.models import AuditAction, AuditOutcome
from certadmin.audit.services import RequestContext, audit_record
from certadmin.iot.identity import DeviceRef
from tests.browser.chain_verify import verify_now
from tests.browser.conftest import PASSWORD, log_in

pytestmark = pytest.mark.browser

PRODUCT_KEY = "a1Demo7Sh2x"
REASON = "OPS-3141: audit drill, reveal for the browser test"


def test_auditor_finds_filters_exports_and_verifies_a_custodians_reveal(
    new_page, page_problems, person, dashboard, shot
):
    # Someone else's event, so that filtering by the custodian has something to leave out.
    audit_record(
        action=AuditAction.CERT_DOWNLOAD,
        outcome=AuditOutcome.SUCCESS,
        actor=person("Viewer", "decoy-viewer"),
        context=RequestContext(ip_address="192.0.2.7", user_agent="browser-test"),
        device=DeviceRef(PRODUCT_KEY, "gateway-07"),
        detail="pem",
    )

    # The custodian reveals a key, in a browser of their own.
    custodian = person("Key custodian", "cust-olivia")
    custodian_page = new_page()
    log_in(custodian_page, custodian)
    custodian_page.goto(f"/devices/{PRODUCT_KEY}/thermo-002/")
    panel = custodian_page.locator("#reveal-panel")
    panel.get_by_label("Reason").fill(REASON)
    panel.get_by_label("Your password").fill(PASSWORD)
    panel.get_by_role("button", name="Reveal private key").click()
    expect(panel.locator("#private-key")).to_contain_text("PRIVATE KEY")
    custodian_page.context.close()

    page = new_page()
    # After logging in an Auditor is sent from the device search to the audit trail.
    log_in(page, person("Auditor"))
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Devices")).to_have_count(0)
    nav.get_by_role("link", name="Audit trail").click()
    page.wait_for_url("**/audit/")
    rows = page.locator(".audit-table tbody tr")
    expect(rows).to_have_count(2)
    reveal_row = rows.filter(has_text="cust-olivia")
    expect(reveal_row).to_contain_text("Private key reveal")
    expect(reveal_row).to_contain_text("Success")
    expect(reveal_row).to_contain_text(f"{PRODUCT_KEY}/thermo-002")
    expect(reveal_row).to_contain_text(REASON)
    shot(page, "events")

    # "Who saw a thermo key": part of the name in another case, any key access, a quick range.
    page.get_by_label("User").fill("CUST-OL")
    page.get_by_label("DeviceName").fill("THERMO")
    page.get_by_label("Any key access (reveal or key bundle)").check()
    with page.expect_response(lambda r: "user=CUST-OL" in r.url) as answer:
        page.get_by_role("button", name="Filter").click()
    assert answer.value.request.headers.get("hx-request") == "true"
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("cust-olivia")
    assert "user=CUST-OL" in page.url, "the filter is pushed to the address bar"
    assert "action=key_access" in page.url
    page.get_by_role("navigation", name="Quick date ranges").get_by_role(
        "link", name="Last 7 days"
    ).click()
    page.wait_for_url("**date_to=*")
    expect(rows).to_have_count(1)
    assert "user=CUST-OL" in page.url, "a quick range keeps the other filters"
    shot(page, "filtered")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export these events (ZIP: CSV and signed manifest)").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".zip")
    content = Path(download.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        exported = list(csv.DictReader(io.StringIO(archive.read("events.csv").decode())))
        manifest = json.loads(archive.read("manifest.json"))
    assert [row["actor_username"] for row in exported] == ["cust-olivia"]
    assert exported[0]["reason"] == REASON
    assert exported[0]["action"] == "key_reveal"
    assert exported[0]["device_name"] == "thermo-002"
    assert manifest["rows"] == 1
    assert manifest["filters"]["user"] == "CUST-OL"
    assert export_manifest_verify(content) == (True, "")

    rows.first.get_by_role("link", name=f"{PRODUCT_KEY}/thermo-002").click()
    page.wait_for_url(f"**/audit/devices/{PRODUCT_KEY}/thermo-002/")
    viewers = page.locator("section", has=page.get_by_role("heading", name="Who has seen this key"))
    expect(viewers).to_contain_text("cust-olivia")
    expect(viewers).to_contain_text(REASON)
    shot(page, "device")

    page.goto("/audit/")
    page.get_by_role("link", name="Chain verification").click()
    page.wait_for_url("**/audit/chain/")
    status = verify_now(page)
    expect(status.locator(".audit-verdict")).to_have_text("Chain intact")
    expect(status).to_contain_text("Rows checked")
    shot(page, "chain-verified")


def test_an_auditor_lands_on_a_page_they_may_see_after_logging_in(page, person, dashboard):
    log_in(page, person("Auditor"))
    assert page.get_by_role("heading", name="Not allowed").count() == 0
