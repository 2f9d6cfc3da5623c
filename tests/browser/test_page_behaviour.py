"""Page-wide behaviour in a real browser: language switch, keyboard use, small screens."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

PRODUCT_KEY = "a1Demo7Sh2x"
HAN = re.compile(r"[\u4e00-\u9fff]")
ZH_HANS_CATALOG = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.mo"


def test_language_switch_autosubmits_and_translates_the_page(page, person, shot):
    log_in(page, person("Viewer"))
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "en")
    nav = page.locator(".mainnav")
    english_nav = nav.inner_text()

    # No submit button: the select submits itself (static JS; a <noscript> button otherwise).
    expect(page.get_by_role("button", name="Switch")).to_have_count(0)
    page.get_by_label("Language").select_option("zh-hans")
    expect(html).to_have_attribute("lang", "zh-hans")
    assert page.url.endswith("/"), "the switch returns to the page it was made on"
    expect(page.get_by_label("DeviceName")).to_be_visible()
    if ZH_HANS_CATALOG.exists():  # the translations may arrive after this test was written
        expect(nav).to_have_text(HAN)
        assert nav.inner_text() != english_nav
        expect(page.get_by_role("heading", level=1)).to_have_text(HAN)
        expect(page.get_by_role("heading", level=1)).not_to_have_text("Find a device")
    shot(page, "zh-hans")

    page.locator("#language-select").select_option("en")
    expect(html).to_have_attribute("lang", "en")
    expect(nav).to_have_text(english_nav)


def test_keyboard_skip_link_and_search_without_a_mouse(page, person, dashboard, shot):
    log_in(page, person("Viewer"))
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["y"] >= 0, "the focused skip link is on screen"
    shot(page, "skip-link-focused")

    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("ProductKey", exact=True)).to_be_focused()

    page.keyboard.type(PRODUCT_KEY)
    page.wait_for_selector("#device-list li")
    page.keyboard.press("Tab")
    expect(page.get_by_label("DeviceName")).to_be_focused()
    page.keyboard.type("thermo-001")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/devices/{PRODUCT_KEY}/thermo-001/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("thermo-001")


@pytest.mark.parametrize(
    ("device", "viewport"),
    [("tablet", {"width": 768, "height": 1024}), ("phone", {"width": 390, "height": 844})],
    ids=["tablet", "phone"],
)
def test_certificate_page_fits_a_small_screen(new_page, person, dashboard, shot, device, viewport):
    page = new_page(viewport=viewport)
    log_in(page, person("Key custodian"))
    page.goto(f"/devices/{PRODUCT_KEY}/thermo-001/")
    expect(page.locator("#certificate-pem")).to_be_visible()

    widths = page.evaluate(
        "({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    assert widths["scroll"] <= widths["inner"] + 1, f"the page scrolls sideways: {widths}"
    shot(page, f"certificate-{device}")
