"""A Key custodian in a real browser: reveal a private key, download a PKCS#12 file."""

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from playwright.sync_api import Page, expect

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
    with page.expect_response(lambda r: r.url.endswith("/reveal/")) as answer:
        panel.get_by_role("button", name="Reveal private key").click()
    assert "no-store" in answer.value.headers["cache-control"]
    key = panel.locator("#private-key")
    expect(key).to_contain_text("-----BEGIN")
    expect(key).to_contain_text("PRIVATE KEY-----")
    expect(panel.locator("[data-countdown]")).to_be_visible()
    expect(panel).to_contain_text("This reveal was recorded in the audit trail")
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


def test_custodian_downloads_a_pkcs12_file_through_the_page(
    page, person, dashboard, tmp_path, shot
):
    log_in(page, person("Key custodian"))
    page.goto(f"/devices/{PRODUCT_KEY}/thermo-001/")
    page.get_by_text("Download with the private key").click()
    bundle = page.locator("details form")
    expect(bundle).to_be_visible()

    passphrase = "correct horse battery staple 12"
    bundle.get_by_label("PKCS#12").check()
    bundle.get_by_label("Passphrase for the .p12 file").fill(passphrase)
    bundle.get_by_label("Passphrase again").fill(passphrase)
    bundle.get_by_label("Reason").fill("CHG-2026-07: move thermo-001 to the new broker")
    bundle.get_by_label("Your password").fill(PASSWORD)
    shot(page, "pkcs12-form")
    with page.expect_download() as download_info:
        bundle.get_by_role("button", name="Download with private key").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".p12")
    assert download.suggested_filename.startswith(f"{PRODUCT_KEY}_thermo-001")
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
