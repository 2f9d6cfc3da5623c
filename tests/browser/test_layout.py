"""Layout and looks in a real browser: at 390 px no device, expiry or jobs page scrolls
sideways, in English and in Chinese; long tokens break, ordinary words do not; help texts sit
with their own field; cards have no empty bands."""

import re

import pytest
from playwright.sync_api import Page, expect

from certadmin.iot.identity import DeviceRef
from certadmin.jobs import runner
from certadmin.jobs.models import JobKind
from certadmin.jobs.services import device_lookup_job_create
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

PRODUCT_KEY = "a1Demo7Sh2x"
PHONE = {"width": 390, "height": 844}
CERTIFICATE_PAGES = [
    f"/devices/{PRODUCT_KEY}/thermo-001/",
    f"/devices/{PRODUCT_KEY}/edge-ec01/",
    f"/devices/{PRODUCT_KEY}/legacy-b64/",
    f"/devices/{PRODUCT_KEY}/meter-expired/",
    f"/devices/{PRODUCT_KEY}/cam-lobby:01/",
    f"/devices/{PRODUCT_KEY}/sensor-gen/",
    "/devices/a1Ent0Prd9k/ent-gw-01/?instance=iot-06z00demo0ent",
]


def sideways(page: Page) -> dict | None:
    """The page's widths when it scrolls sideways, else None."""
    widths = page.evaluate(
        "({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    return widths if widths["scroll"] > widths["inner"] else None


@pytest.fixture
def finished_batch(dashboard, person):
    """A batch lookup of a few demo devices, run to its end (its page lists the results)."""
    owner = person("Key custodian", "batch-owner")
    names = ["thermo-001", "edge-ec01", "legacy-b64", "meter-expired", "no-such-device-here"]
    job = device_lookup_job_create(
        owner=owner,
        kind=JobKind.BATCH_LOOKUP,
        devices=[DeviceRef(PRODUCT_KEY, name) for name in names],
    )
    runner.job_work(job_id=job.pk)
    return job


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_no_page_scrolls_sideways_on_a_phone(
    new_page, dashboard, finished_batch, shot, language, live_server
):
    page = new_page(viewport=PHONE)
    log_in(page, finished_batch.owner)  # a job's page is its owner's
    page.context.add_cookies(
        [{"name": "django_language", "value": language, "url": live_server.url}]
    )
    pages = [
        f"/devices/?product_key={PRODUCT_KEY}",
        f"/devices/?product_key={PRODUCT_KEY}&device_name=sensor&page=2",
        *CERTIFICATE_PAGES,
        "/expiry/",
        "/jobs/",
        f"/jobs/{finished_batch.pk}/",
        "/jobs/batch/",
        "/schedules/",
    ]
    problems = {}
    for path in pages:
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", language)
        if widths := sideways(page):
            problems[path] = widths
        shot(page, re.sub(r"[^A-Za-z0-9-]+", "_", path).strip("_") or "home")
    assert not problems, f"these pages scroll sideways at 390 px: {problems}"


def test_certificate_values_wrap_inside_the_card_and_words_stay_whole(
    new_page, person, dashboard, shot
):
    page = new_page(viewport=PHONE)
    log_in(page, person("Viewer"))
    page.goto(f"/devices/{PRODUCT_KEY}/thermo-001/")
    fingerprint = page.locator("tr", has=page.locator("th", has_text="SHA-256 fingerprint"))
    value = fingerprint.locator("td")
    card = page.locator("section.card", has=value)
    value_box, card_box = value.bounding_box(), card.bounding_box()
    assert value_box["x"] + value_box["width"] <= card_box["x"] + card_box["width"]
    assert value.evaluate("td => td.scrollWidth <= td.clientWidth"), "the value is clipped"
    assert value.evaluate("td => getComputedStyle(td).wordBreak") != "break-all"

    # "Certificate" in the subject is one word on one line, not "Certi / ficate".
    subject = page.locator("td", has_text="Alibaba Cloud IoT Certificate").first
    lines = subject.evaluate(
        """td => {
          const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const at = node.data.indexOf("Certificate");
            if (at < 0) continue;
            const range = document.createRange();
            range.setStart(node, at);
            range.setEnd(node, at + "Certificate".length);
            return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
          }
          return -1;
        }"""
    )
    assert lines == 1, "an ordinary word was split across lines"
    pem = page.locator("#certificate-pem")
    assert pem.evaluate("pre => pre.scrollWidth <= pre.clientWidth"), "the PEM is cut off"
    shot(page, "certificate-phone")


def test_help_text_sits_with_its_own_field_and_cards_have_no_empty_bands(
    new_page, person, dashboard, shot
):
    page = new_page(viewport=PHONE)
    log_in(page, person("Viewer"))
    field = page.get_by_label("DeviceName")
    help_text = page.locator("#id_device_name_helptext")
    next_label = page.locator('label[for="id_instance"]')
    field_box, help_box, next_box = (
        field.bounding_box(),
        help_text.bounding_box(),
        next_label.bounding_box(),
    )
    gap_to_own = help_box["y"] - (field_box["y"] + field_box["height"])
    gap_to_next = next_box["y"] - (help_box["y"] + help_box["height"])
    assert 0 <= gap_to_own < gap_to_next, (gap_to_own, gap_to_next)

    page.goto("/jobs/batch/")
    textarea = page.locator("#batch-form textarea")
    described = textarea.get_attribute("aria-describedby") or ""
    helps = [h for h in described.split() if h.endswith("_helptext")]
    if helps:
        help_box = page.locator(f"#{helps[0]}").bounding_box()
        box = textarea.bounding_box()
        assert help_box["y"] >= box["y"] + box["height"] - 1, "help sits under its own field"

    page.goto(f"/devices/{PRODUCT_KEY}/thermo-001/")
    for card in page.locator("section.card").all()[:4]:
        gaps = card.evaluate(
            """card => {
              const box = card.getBoundingClientRect();
              const kids = [...card.children].filter(k => k.getClientRects().length);
              const first = kids[0].getBoundingClientRect();
              const last = kids[kids.length - 1].getBoundingClientRect();
              return {top: first.top - box.top, bottom: box.bottom - last.bottom};
            }"""
        )
        assert gaps["top"] <= 24, gaps
        assert gaps["bottom"] <= 24, gaps
    shot(page, "spacing")
