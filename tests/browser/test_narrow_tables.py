"""Every table that holds evidence or errors, on a 390 px phone: no page scrolls sideways, and
nothing inside a table is cut off or scrolls in its own box (each row is a card of labelled
lines); at 1280 px the same tables are ordinary tables. Real rows: a long reason, a 32-character
DeviceName with no break in it, a failed lookup, certificates being generated and failed."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from certadmin.audit.models import AuditAction, AuditOutcome
from certadmin.audit.services import RequestContext, audit_record
from certadmin.devices.models import CertificateRecord, ProductSync
from certadmin.iot.identity import DeviceRef
from certadmin.jobs import runner
from certadmin.jobs.models import JobKind
from certadmin.jobs.services import device_lookup_job_create
from tests.browser.chain_verify import verify_now
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True}
WIDE = {"viewport": {"width": 1280, "height": 900}}
DEMO = "a1Demo7Sh2x"
NARROW = "a1Narrow001"
LONG_NAME = "TANKLEVELSENSORWESTWINGFLOOR0001"  # 32 characters, nowhere to break
REASON = (
    "OPS-4711: the west wing tank sensor stopped reporting after the firmware update, "
    "checking the certificate chain with the vendor, ticket "
    "https://tickets.example.com/browse/OPS-4711?focusedCommentId=123456789012345678"
)

# Every table on the page (open or not), with what is wrong with it at this width.
TABLE_PROBLEMS = """
() => {
  const width = window.innerWidth;
  const problems = [];
  for (const table of document.querySelectorAll("main table")) {
    if (!table.getClientRects().length) continue;  // folded away, e.g. in a closed <details>
    const name = table.className || "table";
    const box = table.closest(".table-scroll") || table;
    if (box.scrollWidth > box.clientWidth + 1) {
      problems.push(`${name}: its box scrolls, ${box.scrollWidth} > ${box.clientWidth}`);
    }
    for (const cell of table.querySelectorAll("caption, tbody th, tbody td")) {
      const r = cell.getBoundingClientRect();
      if (r.width <= 1) continue;  // visually hidden (a caption for screen readers)
      const label = cell.dataset.label || cell.tagName;
      if (r.left < -1 || r.right > width + 1) {
        problems.push(`${name} ${label}: ${Math.round(r.left)}..${Math.round(r.right)} px`);
      }
      if (cell.scrollWidth > cell.clientWidth + 1) {
        problems.push(`${name} ${label}: content ${cell.scrollWidth} > ${cell.clientWidth} px`);
      }
    }
  }
  return problems;
}
"""

STACKED = """
() => [...document.querySelectorAll("main table.table-stack")]
  .filter(table => table.getClientRects().length)
  .map(table => ({
    name: table.className,
    stacked: getComputedStyle(table.querySelector("tbody tr")).display === "block",
    headers: getComputedStyle(table.querySelector("thead")).position !== "absolute",
  }))
"""


def _events(custodian) -> None:
    context = RequestContext(ip_address="2001:db8:85a3::8a2e:370:7334", user_agent="browser-test")
    # The certificate page shows the reveals of its device (no instance) only.
    for device in (
        DeviceRef(DEMO, LONG_NAME, "iot-06z00ep2pjifrby"),
        DeviceRef(DEMO, "thermo-001"),
    ):
        for outcome, detail in [
            (AuditOutcome.SUCCESS, ""),
            (AuditOutcome.FAILED, "p12: the private key could not be decoded"),
        ]:
            audit_record(
                action=AuditAction.KEY_REVEAL,
                outcome=outcome,
                actor=custodian,
                context=context,
                device=device,
                key_fingerprint="AB:" * 31 + "AB",
                reason=REASON,
                detail=detail,
            )


def _inventory() -> None:
    now = timezone.now()
    for name, status in [(LONG_NAME, 2), ("gen-0001", 0), ("fail-0001", 1)]:
        CertificateRecord.objects.create(
            product_key=NARROW,
            device_name=name,
            nickname="West wing, tank level sensor on the second floor beside the boiler",
            device_status="ONLINE",
            status=status,
            not_after=now + timedelta(days=20) if status == 2 else None,
            last_checked=now,
            last_error_code="",
        )
    ProductSync.objects.create(product_key=NARROW, device_count=3, synced_at=now)


@pytest.fixture
def evidence(dashboard, person, page_problems):
    """A custodian with a finished batch (a failed lookup, a certificate being generated and
    one that failed), key reveals with a long reason, an inventory product with long names;
    and an auditor."""
    custodian = person("Key custodian", "custodian-with-a-rather-long-username")
    job = device_lookup_job_create(
        owner=custodian,
        kind=JobKind.BATCH_LOOKUP,
        devices=[
            DeviceRef(DEMO, name) for name in ("thermo-001", "sensor-gen", "sensor-fail", LONG_NAME)
        ],
    )
    runner.job_work(job_id=job.pk)
    _events(custodian)
    _inventory()
    return {
        "custodian": custodian,
        "auditor": person("Auditor"),
        "job": job,
        "page_problems": page_problems,
    }


def _check(page: Page, path: str, problems: dict) -> None:
    page.wait_for_load_state("load")
    expect(page.locator("main table").first).to_be_attached()
    widths = page.evaluate(
        "({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    found = page.evaluate(TABLE_PROBLEMS)
    if widths["scroll"] > widths["inner"]:
        found.append(f"the page scrolls sideways: {widths}")
    if found:
        problems[path] = found


def _failing_batch(page: Page) -> None:
    page.goto("/jobs/batch/")
    page.get_by_label("Paste the list").fill(
        f"{DEMO},thermo-001\n{DEMO},{LONG_NAME}x\nnosuchproduct1,{LONG_NAME}\n{DEMO},x\n"
    )
    page.get_by_role("button", name="Start lookup").click()
    expect(page.locator(".batch-problems-table tbody tr")).to_have_count(3)


def _pages(page: Page, people: dict, shot, check) -> None:
    # The refused list is answered 400, which the browser reports on its console.
    people["page_problems"].allow_http_errors(on_path="/jobs/batch/")
    job = people["job"]
    log_in(page, people["custodian"])
    for path in [
        "/jobs/",
        f"/jobs/{job.pk}/",
        f"/devices/?product_key={NARROW}",
        f"/expiry/?product_key={NARROW}",
        f"/devices/{DEMO}/thermo-001/",
    ]:
        page.goto(path)
        check(page, path)
        shot(page, path.strip("/").replace("/", "_").replace("?", "_"))
    expect(page.locator(".key-seen-table")).to_contain_text("OPS-4711")
    page.goto(f"/jobs/{job.pk}/")
    expect(page.locator(".batch-results-table")).to_contain_text(LONG_NAME)
    expect(page.locator(".batch-results-table")).to_contain_text("Certificate generation failed")
    expect(page.locator(".failed-items-table")).to_contain_text("iot.device.NotExistedDevice")
    _failing_batch(page)
    check(page, "/jobs/batch/ (refused)")
    shot(page, "batch-refused")

    page.context.clear_cookies()
    log_in(page, people["auditor"])
    verify_now(page)
    for path in [
        "/audit/",
        f"/audit/devices/{DEMO}/{LONG_NAME}/",
        f"/audit/users/{people['custodian'].username}/",
        "/audit/chain/",
    ]:
        page.goto(path)
        check(page, path)
        shot(page, path.strip("/").replace("/", "_") or "audit")
    page.goto("/audit/")
    expect(page.locator(".audit-table")).to_contain_text(LONG_NAME)
    expect(page.locator(".audit-table")).to_contain_text("focusedCommentId=123456789012345678")


def test_every_table_of_evidence_or_errors_fits_a_390_px_phone(new_page, evidence, shot):
    page = new_page(**PHONE)
    problems: dict[str, list[str]] = {}
    stacked: dict[str, list] = {}

    def check(page: Page, path: str) -> None:
        _check(page, path, problems)
        stacked[path] = page.evaluate(STACKED)

    _pages(page, evidence, shot, check)
    assert not problems, f"cut off or scrolling sideways at 390 px: {problems}"
    flat = [table for tables in stacked.values() for table in tables]
    assert flat, "no stacking table was seen"
    assert all(table["stacked"] and not table["headers"] for table in flat), stacked


def test_the_same_tables_are_ordinary_tables_at_1280_px(new_page, evidence, shot):
    page = new_page(**WIDE)
    seen: dict[str, list] = {}

    def check(page: Page, path: str) -> None:
        seen[path] = page.evaluate(STACKED)

    _pages(page, evidence, shot, check)
    flat = [table for tables in seen.values() for table in tables]
    assert len(flat) >= 9, seen
    assert not any(table["stacked"] or not table["headers"] for table in flat), seen
