"""The login page in a real browser: redirect, wrong password, lockout."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, log_in

pytestmark = pytest.mark.browser


def test_anonymous_visitor_is_sent_to_the_login_page(page, shot, transactional_db):
    page.goto("/")

    assert "/login/" in page.url
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.locator(".mainnav")).to_have_count(0)
    shot(page, "login")


def test_wrong_password_shows_an_error_then_the_right_one_logs_in(page, person, shot):
    viewer = person("Viewer")
    page.goto("/login/")
    page.get_by_label("Username").fill(viewer.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    expect(page.get_by_label("Username")).to_have_value(viewer.username)
    shot(page, "wrong-password")

    log_in(page, viewer, PASSWORD)
    expect(page.get_by_role("heading", name="Find a device")).to_be_visible()
    expect(page.locator(".whoami")).to_have_text(viewer.username)


def test_five_failed_logins_lock_the_username_out(page, page_problems, shot, transactional_db):
    page_problems.allow_http_errors()  # the lockout page is a 429 (or 403) answer
    page.goto("/login/")
    for _ in range(5):
        page.get_by_label("Username").fill("throwaway-user")
        page.get_by_label("Password").fill("guessing")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()

    expect(page.get_by_role("heading", name="Too many failed logins")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Try again in 15 minutes")
    shot(page, "locked-out")
