"""Key custody in real browsers: a request approved by a second person and used once, a
break-glass release reviewed by an auditor, and a one-time hand-over link from its maker to its
recipient."""

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from playwright.sync_api import expect

from certadmin.audit.models import AuditAction, AuditOutcome
from certadmin.custody.models import BreakGlass, KeyRequest
from tests.browser.conftest import PASSWORD, log_in
from tests.support.key_material import events

pytestmark = pytest.mark.browser

PRODUCT_KEY = "a1Demo7Sh2x"
REASON = "OPS-6001: re-provision the boiler sensor after its board swap"
BREAK_GLASS_REASON = (
    "Plant outage tonight: the gateway lost its identity after a rollback and nobody "
    "can approve before the morning shift"
)


def test_a_request_is_approved_by_someone_else_used_once_and_break_glass_is_reviewed(
    new_page, page_problems, person, dashboard, settings, shot
):
    settings.KEY_APPROVALS = {"*": 1}
    page_problems.allow_http_errors()  # the key form's refusal and the second use answer 403
    custodian, approver, auditor = (
        person("Key custodian", "cust-ada"),
        person("Key approver", "appr-bo"),
        person("Auditor", "aud-cy"),
    )

    # The requester: the device page asks for approval instead of offering the key.
    mine = new_page()
    log_in(mine, custodian)
    mine.goto(f"/devices/{PRODUCT_KEY}/thermo-001/")
    panel = mine.locator("#reveal-panel")
    expect(panel).to_contain_text("only after 1 approval by a key approver")
    expect(panel.get_by_role("button", name="Reveal private key")).to_have_count(0)
    panel.get_by_label("Reveal it on the page").check()
    panel.get_by_label("Reason").fill(REASON)
    panel.get_by_label("Ticket").fill("OPS-6001")
    panel.get_by_role("button", name="Request approval").click()
    expect(mine.locator("[data-request-state]")).to_have_text("waiting for approval")
    request_url = mine.url
    key_request = KeyRequest.objects.get()
    shot(mine, "request-waiting")

    # The approver: a count in the menu and on the dashboard, the details, a decision.
    theirs = new_page()
    log_in(theirs, approver)
    expect(theirs.locator("[data-custody-count]")).to_have_text("1")
    expect(theirs.locator("[data-custody-waiting]")).to_contain_text(
        "1 key request waits for your decision"
    )
    theirs.get_by_role("link", name="Open Key custody").click()
    theirs.get_by_role("link", name=str(key_request.pk), exact=True).click()
    expect(theirs.locator("main")).to_contain_text(REASON)
    expect(theirs.locator("main")).to_contain_text("cust-ada")
    theirs.get_by_label("Approve").check()
    theirs.get_by_label("Your reason").fill("Ticket checked with the plant's on-call lead")
    theirs.get_by_role("button", name="Record my decision").click()
    expect(theirs.locator("[data-request-state]")).to_have_text("approved")
    expect(theirs.get_by_role("button", name="Reveal private key")).to_have_count(0)
    shot(theirs, "request-approved")

    # The requester uses the approval once.
    mine.goto(request_url)
    expect(mine.locator("[data-custody-count]")).to_have_text("1")
    mine.get_by_label("Your password").fill(PASSWORD)
    mine.get_by_role("button", name="Reveal private key").click()
    expect(mine.locator("#private-key")).to_contain_text("PRIVATE KEY-----")
    expect(mine.get_by_role("button", name="Copy key")).to_be_visible()
    shot(mine, "request-used")
    mine.goto(request_url)
    expect(mine.locator("[data-request-state]")).to_have_text("used")
    expect(mine.get_by_role("button", name="Reveal private key")).to_have_count(0)
    release = events(action=AuditAction.KEY_REVEAL, outcome=AuditOutcome.SUCCESS)[-1]
    assert release.detail == f"request {key_request.pk}"

    # Break-glass on another device: alone, with a ticket and a full reason.
    mine.goto(f"/devices/{PRODUCT_KEY}/thermo-002/")
    mine.get_by_role("link", name="Break glass").click()
    form = mine.locator("form.key-form")
    form.get_by_label("Reason").fill(BREAK_GLASS_REASON)
    form.get_by_label("Ticket").fill("INC-77")
    form.get_by_role("button", name="Break glass and release the key").click()
    expect(mine.locator("#private-key")).to_contain_text("PRIVATE KEY-----")
    expect(mine.locator("main")).to_contain_text("an auditor will review it")
    item = BreakGlass.objects.get()

    # The auditor reviews it; it leaves the list.
    checker = new_page()
    log_in(checker, auditor)
    expect(checker.locator("[data-custody-waiting]")).to_contain_text(
        "1 break-glass release waits for review"
    )
    checker.get_by_role("link", name="Open Key custody").click()
    listed = checker.locator(f'[data-break-glass="{item.event_id}"]')
    expect(listed).to_contain_text("INC-77")
    expect(listed).to_contain_text(BREAK_GLASS_REASON)
    shot(checker, "break-glass-listed")
    listed.get_by_label("Review").fill("Confirmed INC-77 with the plant manager by phone")
    listed.get_by_role("button", name="Mark as reviewed").click()
    expect(checker.locator(".messages")).to_contain_text("Your review was recorded")
    expect(checker.locator(f'[data-break-glass="{item.event_id}"]')).to_have_count(0)
    expect(checker.locator("main")).to_contain_text("Every break-glass release has been reviewed")
    shot(checker, "break-glass-reviewed")
    (review,) = events(action=AuditAction.BREAK_GLASS_REVIEW)
    assert review.actor_username == "aud-cy"


def test_a_hand_over_link_gives_the_recipient_a_p12_once_and_its_reuse_is_reported(
    new_page, page_problems, person, dashboard, shot
):
    page_problems.allow_http_errors()  # the second use answers 410
    creator = person("Key custodian", "cust-dora")
    recipient = person("Viewer", "field-eli")
    assert recipient.is_active

    mine = new_page()
    log_in(mine, creator)
    mine.goto(f"/devices/{PRODUCT_KEY}/thermo-003/")
    mine.get_by_role("link", name="Hand over the key").click()
    mine.get_by_label("Recipient's username").fill("field-eli")
    mine.get_by_label("a PKCS#12 file, under a passphrase shown once").check()
    mine.get_by_label("Reason").fill("OPS-6002: field engineer flashes the spare board")
    mine.get_by_label("Your password").fill(PASSWORD)
    mine.get_by_role("button", name="Make the hand-over link").click()
    link = mine.locator("[data-handover-link]").inner_text().strip()
    expect(mine.get_by_role("button", name="Copy link")).to_be_visible()
    shot(mine, "handover-made")

    # The recipient follows the link: logs in as themselves, then confirms their password.
    theirs = new_page()
    theirs.goto(link)
    theirs.get_by_label("Username").fill("field-eli")
    theirs.get_by_label("Password").fill(PASSWORD)
    with theirs.expect_navigation():
        theirs.get_by_role("button", name="Log in").click()
    expect(theirs.locator("main")).to_contain_text("cust-dora hands you the private key")
    theirs.get_by_label("Your password").fill(PASSWORD)
    theirs.get_by_role("button", name="Receive the key").click()
    passphrase = theirs.locator("[data-handover-passphrase]").inner_text().strip()
    assert len(passphrase.replace("-", "")) == 24
    shot(theirs, "handover-passphrase")
    with theirs.expect_download() as download_info:
        theirs.get_by_role("button", name="Download the PKCS#12 file").click()
    data = Path(download_info.value.path()).read_bytes()
    key, cert, _ = pkcs12.load_key_and_certificates(data, passphrase.encode())
    assert key is not None
    assert cert is not None

    # The link again: refused, and its maker is told.
    theirs.goto(link)
    expect(theirs.locator("main")).to_contain_text("already been used")
    mine.goto("/custody/")
    expect(mine.locator("[data-notice]")).to_contain_text("Possible interception")
    expect(mine.locator("[data-custody-count]")).to_have_text("1")
    shot(mine, "handover-interception")
    mine.get_by_role("button", name="Dismiss").click()
    expect(mine.locator("[data-notice]")).to_have_count(0)
