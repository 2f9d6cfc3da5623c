"""*Verify now* in a real browser: the button queues a job; the worker's part (what a
``chain_verification_work`` task run executes) runs here, in the test process."""

import re

from playwright.sync_api import expect

from certadmin.jobs import runner


def verify_now(page, *, anchor: str | None = None):
    """On the chain page, fill in the anchor (if given) and click *Verify now*; run the queued
    verification; return the run page's result section once its polling has shown the end."""
    page.goto("/audit/chain/")
    if anchor is not None:
        page.get_by_label("Anchored head hash (optional)").fill(anchor)
    page.get_by_role("button", name="Verify now").click()
    page.wait_for_url(re.compile(r".*/audit/chain/runs/\d+/$"))
    runner.chain_verification_work(job_id=int(page.url.rstrip("/").rsplit("/", 1)[1]))
    result = page.locator("#chain-run")
    expect(result).not_to_have_attribute("hx-trigger", re.compile("."), timeout=10_000)
    return result
