"""Real-browser fixtures: headless Debian Chromium driven by Playwright against ``live_server``.

- ``browser``: one Chromium for the session (Debian's ``chromium``; ``playwright install`` cannot
  download here, and a missing browser fails the tests instead of skipping them).
- ``new_page(**context_options)``: a page in a fresh context, with ``live_server`` as base URL;
  every console error, uncaught exception and CSP violation is collected and, at the end of the
  test, must not have happened (the strict CSP is part of the product).
- ``shot(page, step)``: a full-page screenshot in ``test-artifacts/<test>-<step>.png``.
- ``person(role)``: a user in that role whose password is ``PASSWORD``; ``log_in(page, user)``.
- ``dashboard``: the live server wired to the test emulator (endpoint, demo pair, CA bundle).
"""

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "browser-test-password-7731"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
# Reports that a route deliberately answered 4xx (a refused form, a lockout): Chromium logs each
# as a console error. Tests that expect one say so with ``page_problems.allow_http_errors()``.
HTTP_ERROR_RE = re.compile(r"^Failed to load resource: the server responded with a status of 4\d\d")
# Init scripts are injected by the browser, not the page, so the CSP does not apply to them.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline")
                + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


@pytest.fixture(scope="package", autouse=True)
def _orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API runs an event loop in the test thread, and Django's ORM refuses to
    run in a thread with a running loop unless told it is safe. It is, here: the loop only drives
    the browser. Set while the browser tests run, and undone after the last of them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="package")
def browser(_orm_beside_playwright) -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "Debian's chromium is not installed: apt-get install chromium; make test installs it",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@dataclass
class PageProblems:
    """What went wrong in the browser during one test."""

    messages: list[str] = field(default_factory=list)
    http_errors_allowed: bool = False
    http_errors_allowed_on: set[str] = field(default_factory=set)

    def allow_http_errors(self, *, on_path: str | None = None) -> None:
        """This test expects 4xx answers (a refused form): their console reports are not bugs.
        With ``on_path``, only on the page at that path."""
        if on_path is None:
            self.http_errors_allowed = True
        else:
            self.http_errors_allowed_on.add(on_path)

    def record_console(self, page_url: str, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        if HTTP_ERROR_RE.search(message.text) and (
            self.http_errors_allowed or urlsplit(page_url).path in self.http_errors_allowed_on
        ):
            return
        self.messages.append(f"{page_url}: console error: {message.text}")

    def unexpected(self) -> list[str]:
        return list(self.messages)


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def new_page(browser, live_server, page_problems) -> Iterator[Callable[..., Page]]:
    contexts = []

    def open_page(**context_options) -> Page:
        context = browser.new_context(
            base_url=live_server.url, accept_downloads=True, **context_options
        )
        context.set_default_timeout(10_000)
        if context_options.get("java_script_enabled", True):
            context.add_init_script(REPORT_CSP_VIOLATIONS)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: page_problems.record_console(page.url, message))
        page.on(
            "pageerror",
            lambda error: page_problems.messages.append(f"{page.url}: uncaught: {error}"),
        )
        return page

    yield open_page
    for context in contexts:
        context.close()
    problems = page_problems.unexpected()
    assert not problems, "the browser reported problems:\n" + "\n".join(problems)


@pytest.fixture
def page(new_page) -> Page:
    return new_page()


@pytest.fixture
def shot(request) -> Callable[[Page, str], Path]:
    ARTIFACTS.mkdir(exist_ok=True)
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")

    def take(page: Page, step: str) -> Path:
        path = ARTIFACTS / f"{test_name}-{step}.png"
        # caret="initial": hiding the caret leaves style="" on every input, which htmx then
        # copies onto swapped-in elements, and the CSP (rightly) refuses that inline style.
        page.screenshot(path=str(path), full_page=True, caret="initial")
        return path

    return take


@pytest.fixture
def person(make_user, transactional_db):
    """``person(role)``: an active user in ``role`` whose password is ``PASSWORD``."""

    # make_user puts back the role groups that transactional tests' flushes remove.
    def make(role: str, username: str | None = None):
        user = make_user(role, username)
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
        return user

    return make


def log_in(page: Page, user, password: str = PASSWORD) -> None:
    """Log in through the login form and wait for the page it leads to."""
    page.goto("/login/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    if "/login/" in page.url:
        alerts = page.get_by_role("alert").all_inner_texts()
        pytest.fail(f"login as {user.get_username()} failed: {alerts or page.title()}")


@pytest.fixture
def dashboard(dashboard_iot, live_server):
    """The live server answers with the test emulator behind it (settings apply process-wide)."""
    return dashboard_iot
