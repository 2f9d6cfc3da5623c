"""A Key custodian in a real browser: reveal a private key, download a PKCS#12 file."""

import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from playwright.sync_api import Page, expect

from certadmin.audit.models import AuditAction, AuditEvent
from tests.browser.conftest import PASSWORD, log_in

pytestmark = pytest.mark.browser

PRODUCT_KEY = "a1Demo7Sh2x"


def public_der(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def reveal_panel(page: Page):
    return page.locator("#reveal-panel")


def test_custodian_reveals_a_key_copies_and_downloads_it_and_it_hides_itself(
    new_page, page_problems, person, dashboard, settings, shot
):
    page_problems.allow_http_errors()  # the empty reveal form is refused with a 400
    settings.KEY_REVEAL_VISIBLE_SECONDS = 60
    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    log_in(page, person("Key custodian"))
    page.goto(f"/devices/{PRODUCT_KEY}/edge-ec01/")
    panel = reveal_panel(page)

    # An empty form is refused with every missing field marked at once.
    panel.get_by_role("button", name="Reveal private key").click()
    expect(panel.locator("#id_reason_error")).to_contain_text("Give a reason")
    expect(panel.get_by_label("Reason")).to_have_attribute("aria-invalid", "true")
    expect(panel.locator("#id_password_error")).to_contain_text("Enter your password")
    expect(panel.locator("#private-key")).to_have_count(0)
    shot(page, "reveal-empty-form")

    # A reason alone is not enough while the password is stale.
    panel.get_by_label("Reason").fill("INC-4711: re-provision the edge gateway")
    panel.get_by_role("button", name="Reveal private key").click()
    expect(panel.locator("#id_password_error")).to_contain_text("Enter your password")
    expect(panel.get_by_label("Your password")).to_have_attribute("aria-invalid", "true")
    expect(panel.locator("#id_reason_error")).to_have_count(0)
    expect(panel.get_by_label("Reason")).to_have_value("INC-4711: re-provision the edge gateway")
    expect(panel.locator("#private-key")).to_have_count(0)
    shot(page, "reveal-no-password")

    panel.get_by_label("Your password").fill(PASSWORD)
    with page.expect_response(lambda r: r.url.endswith("/key/")) as answer:
        panel.get_by_role("button", name="Reveal private key").click()
    assert "no-store" in answer.value.headers["cache-control"]
    key = panel.locator("#private-key")
    expect(key).to_contain_text("-----BEGIN")
    expect(key).to_contain_text("PRIVATE KEY-----")
    expect(panel.locator("[data-countdown]")).to_be_visible()
    expect(panel).to_contain_text("This reveal was recorded in the audit trail")
    # With JavaScript the page promises the hiding it will do, not what is said without it.
    expect(panel.get_by_text("The key hides itself in")).to_be_visible()
    expect(panel.get_by_text("close the page when you are done")).to_be_hidden()
    key_text = key.inner_text().strip()
    shot(page, "key-revealed")

    panel.get_by_role("button", name="Copy key").click()
    expect(panel.locator("button[data-copy-target='private-key']")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()").strip() == key_text

    with page.expect_download() as download_info:
        panel.get_by_role("button", name="Download key").click()
    download = download_info.value
    # Named as the server's own download of the key alone names it.
    assert download.suggested_filename == f"{PRODUCT_KEY}_edge-ec01.private-key.pem"
    assert Path(download.path()).read_text(encoding="ascii").strip() == key_text

    # A second reveal within the re-authentication window needs no password; this one is
    # shown for two seconds only, then removed from the page.
    settings.KEY_REVEAL_VISIBLE_SECONDS = 2
    page.reload()
    expect(panel.get_by_label("Your password")).to_have_count(0)
    panel.get_by_label("Reason").fill("INC-4711: second look, checking the curve")
    panel.get_by_role("button", name="Reveal private key").click()
    expect(panel.locator("#private-key")).to_contain_text("PRIVATE KEY")
    page.wait_for_selector("#private-key", state="detached", timeout=5_000)
    expect(panel).to_contain_text("The key was hidden again")
    assert "PRIVATE KEY" not in page.content()
    shot(page, "key-hidden")


def test_without_javascript_the_key_page_offers_what_works_and_promises_no_hiding(
    new_page, person, dashboard, settings, shot
):
    settings.KEY_REVEAL_VISIBLE_SECONDS = 2
    page = new_page(java_script_enabled=False)
    log_in(page, person("Key custodian"))
    page.goto(f"/devices/{PRODUCT_KEY}/edge-ec01/")
    form = key_form(page)
    form.get_by_label("Reason").fill("INC-4712: re-provision without JavaScript")
    form.get_by_label("Your password").fill(PASSWORD)
    form.get_by_role("button", name="Reveal private key").click()

    key = page.locator("#private-key")
    expect(key).to_contain_text("PRIVATE KEY-----")
    expect(page.get_by_text("close the page when you are done")).to_be_visible()
    expect(page.get_by_text("hides itself")).to_be_hidden()
    expect(page.get_by_role("button", name="Copy key")).to_be_hidden()
    shot(page, "key-revealed-no-js")

    # Download key works: the server's audited download of the key alone.
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download key").click()
    download = download_info.value
    assert download.suggested_filename == f"{PRODUCT_KEY}_edge-ec01.private-key.pem"
    saved = serialization.load_pem_private_key(Path(download.path()).read_bytes(), None)
    shown = serialization.load_pem_private_key(key.inner_text().strip().encode(), None)
    assert public_der(saved) == public_der(shown)
    downloaded = AuditEvent.objects.get(action=AuditAction.KEY_DOWNLOAD)
    assert downloaded.reason == "INC-4712: re-provision without JavaScript"

    # Nothing hides the key without JavaScript, and the page never said it would.
    page.wait_for_timeout(2_500)
    expect(key).to_be_visible()


def key_form(page: Page):
    return page.locator("#key-actions form")


def test_the_key_form_is_on_the_first_screen_and_asks_a_passphrase_only_when_it_is_used(
    new_page, person, dashboard, shot
):
    page = new_page(viewport={"width": 1280, "height": 800})
    log_in(page, person("Key custodian"))
    page.goto(f"/devices/{PRODUCT_KEY}/thermo-001/")
    form = key_form(page)

    # Reached at once: the reason field and the button are within the first screen.
    for target in (form.get_by_label("Reason"), form.get_by_role("button")):
        box = target.bounding_box()
        assert box is not None
        assert box["y"] + box["height"] < 800, box
    expect(page.locator("form textarea[name=reason]")).to_have_count(1)

    passphrase = form.get_by_label("Passphrase for the file")
    button = form.get_by_role("button")
    expect(passphrase).to_be_hidden()
    expect(button).to_have_accessible_name("Reveal private key")
    for choice, shown in (("PKCS#12", True), ("key alone", False), ("key NOT encrypted", False)):
        form.get_by_label(choice).check()
        if shown:
            expect(passphrase).to_be_visible()
        else:
            expect(passphrase).to_be_hidden()
        expect(button).to_have_accessible_name("Download with private key")
    form.get_by_label("the key encrypted with a passphrase").check()
    expect(passphrase).to_be_visible()
    expect(form.get_by_label("Passphrase again")).to_be_visible()
    shot(page, "zip-chosen")


def test_a_reveal_shows_up_in_who_has_seen_this_key_without_a_reload(
    new_page, person, dashboard, shot
):
    page = new_page()
    log_in(page, person("Key custodian", "cust-rosa"))
    page.goto(f"/devices/{PRODUCT_KEY}/thermo-002/")
    seen = page.locator("#key-seen")
    expect(seen).to_contain_text("Nobody has revealed")

    form = key_form(page)
    form.get_by_label("Reason").fill("INC-5150: checking the key after a board swap")
    form.get_by_label("Your password").fill(PASSWORD)
    form.get_by_role("button", name="Reveal private key").click()
    expect(reveal_panel(page).locator("#private-key")).to_contain_text("PRIVATE KEY")

    expect(seen).to_contain_text("cust-rosa")
    expect(seen).to_contain_text("INC-5150: checking the key after a board swap")
    expect(page.locator("#key-seen")).to_have_count(1)
    shot(page, "seen-updated")


def test_custodian_downloads_a_pkcs12_file_through_the_page(
    new_page, page_problems, person, dashboard, tmp_path, shot
):
    page_problems.allow_http_errors()  # the short passphrase is refused with a 400
    page = new_page()
    log_in(page, person("Key custodian"))
    page.goto(f"/devices/{PRODUCT_KEY}/thermo-001/")
    device_url = page.url
    bundle = key_form(page)

    bundle.get_by_label("PKCS#12").check()
    bundle.get_by_label("Reason").fill("CHG-2026-07: move thermo-001 to the new broker")
    bundle.get_by_label("Your password").fill(PASSWORD)

    # A too-short passphrase is refused in place, said once, with what was typed kept.
    bundle.get_by_label("Passphrase for the file").fill("short")
    bundle.get_by_label("Passphrase again").fill("short")
    bundle.get_by_role("button", name="Download with private key").click()
    bundle = key_form(page)
    expect(bundle.locator("#id_passphrase_error")).to_contain_text("at least")
    expect(page.get_by_text("Choose a passphrase of at least")).to_have_count(1)
    expect(bundle.get_by_label("PKCS#12")).to_be_checked()
    expect(bundle.get_by_label("Reason")).to_have_value(
        "CHG-2026-07: move thermo-001 to the new broker"
    )
    assert page.url == device_url
    shot(page, "pkcs12-short-passphrase")

    passphrase = "correct horse battery staple 12"
    bundle.get_by_label("Passphrase for the file").fill(passphrase)
    bundle.get_by_label("Passphrase again").fill(passphrase)
    if bundle.get_by_label("Your password").count():
        bundle.get_by_label("Your password").fill(PASSWORD)
    shot(page, "pkcs12-form")
    with page.expect_download() as download_info:
        bundle.get_by_role("button", name="Download with private key").click()
    download = download_info.value
    assert download.suggested_filename == f"{PRODUCT_KEY}_thermo-001.bundle.p12"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)

    loaded = pkcs12.load_pkcs12(saved.read_bytes(), passphrase.encode())
    assert loaded.key is not None
    assert loaded.cert is not None
    assert public_der(loaded.key) == public_der(loaded.cert.certificate)
    assert loaded.cert.friendly_name == b"thermo-001"
    page_text = page.locator("#certificate-pem").inner_text().strip()
    assert loaded.cert.certificate.public_bytes(serialization.Encoding.PEM).decode().strip() == (
        page_text
    )
    # The passphrases leave the page, and the download shows up in "who has seen this key".
    expect(bundle.get_by_label("Passphrase for the file")).to_have_value("")
    expect(page.locator("#key-seen")).to_contain_text("CHG-2026-07", timeout=10_000)


def test_without_javascript_one_form_reveals_and_refuses_a_short_passphrase_once(
    new_page, page_problems, person, dashboard, tmp_path
):
    page_problems.allow_http_errors()
    page = new_page(java_script_enabled=False)
    log_in(page, person("Key custodian"))
    page.goto(f"/devices/{PRODUCT_KEY}/thermo-001/")
    form = key_form(page)

    form.get_by_label("the key encrypted with a passphrase").check()
    form.get_by_label("Reason").fill("CHG-2026-08: provisioning without scripts")
    form.get_by_label("Your password").fill(PASSWORD)
    form.get_by_label("Passphrase for the file").fill("short")
    form.get_by_label("Passphrase again").fill("short")
    with page.expect_navigation():
        form.get_by_role("button").click()
    expect(page.get_by_text("Choose a passphrase of at least")).to_have_count(1)
    form = page.locator("#reveal-panel form")
    expect(form.get_by_label("the key encrypted with a passphrase")).to_be_checked()

    passphrase = "a long zip passphrase 77"
    form.get_by_label("Passphrase for the file").fill(passphrase)
    form.get_by_label("Passphrase again").fill(passphrase)
    with page.expect_download() as download_info:
        form.get_by_role("button").click()
    download = download_info.value
    assert download.suggested_filename == f"{PRODUCT_KEY}_thermo-001.bundle.zip"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    key_pem = zipfile.ZipFile(saved).read("private-key.pem")
    assert key_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert serialization.load_pem_private_key(key_pem, passphrase.encode()) is not None
