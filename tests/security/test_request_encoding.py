"""A form POST in a charset other than UTF-8 is the client's error: 400."""

import logging
import re

import pytest
from django.core import signals
from django.db import close_old_connections
from django.test import Client, RequestFactory
from django.test.client import FakePayload
from django.urls import reverse

from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.support.key_material import reauth_now
from tests.support.people import ROLE_PASSWORD

BODY = b"reason=Ticket+OPS-4711+reprovision&password=+AGEAYgBj-&csrfmiddlewaretoken=x"


def post_urls() -> list[str]:
    device = [DEMO_PRODUCT_KEY, "thermo-001"]
    return [
        reverse("login"),
        reverse("set_language"),
        reverse("devices:lookup"),
        reverse("devices:key", args=device),
        reverse("audit:verify"),
        reverse("audit:events"),
        reverse("logout"),  # last: it ends the session
    ]


@pytest.mark.parametrize("charset", ["UTF-7", "latin-1", "no-such-codec"])
def test_a_form_post_in_another_charset_is_a_bad_request(dashboard_iot, custodian, charset):
    seen = {}
    for user in (None, custodian):
        client = Client(raise_request_exception=False, enforce_csrf_checks=True)
        if user is not None:
            client.force_login(user)
            reauth_now(client)
        # A valid token, so that the CSRF check reads the body (where the 500 came from).
        page = client.get(reverse("login"), follow=True).content.decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        for url in post_urls():
            response = client.generic(
                "POST",
                url,
                data=BODY,
                content_type=f"application/x-www-form-urlencoded; charset={charset}",
                headers={"x-csrftoken": token},
            )
            seen[(user and user.username, url)] = response.status_code
    assert {k: v for k, v in seen.items() if v != 400} == {}


# --- every charset name, known to Python or not, is a 200/302 or a 400 ------

# Names Python knows for UTF-8 and US-ASCII: accepted, and the body is read as UTF-8.
UTF8_NAMES = [
    "UTF-8",
    "utf-8",
    "utf8",
    "UTF8",
    "u8",
    "U8",
    "utf_8",
    "UTF_8",
    "cp65001",
    "CP65001",
    "ascii",
    "ASCII",
    "646",
    "us-ascii",
    "US-ASCII",
    "us_ascii",
    "ANSI_X3.4-1968",
    "cp367",
    "iso646-us",
    " utf-8 ",
    '"utf8"',
    "\tascii",
]
# Everything else: other codecs (text, binary and bytes-to-bytes ones), names Python does not
# know, a byte-order-mark variant, empty, malformed and hostile names.
REFUSED_NAMES = [
    "latin-1",
    "ISO-8859-1",
    "cp1252",
    "utf-16",
    "UTF-32",
    "utf-8-sig",
    "UTF-7",
    "gb2312",
    "big5",
    "shift_jis",
    "rot13",
    "base64",
    "hex",
    "zip",
    "bz2",
    "uu",
    "quopri",
    "idna",
    "punycode",
    "raw_unicode_escape",
    "unicode_escape",
    "csUTF8",
    "unicode-1-1-utf-8",
    "utf-9",
    "no-such-codec",
    "",
    " ",
    "'utf-8'",
    "utf 8",
    "ütf-8",
    "utf\u20118",
    "encodings.utf_8",
    "../utf_8",
    "x" * 300,
    "utf-8\x00",
]
# Content-Types Django cannot parse (too long, an RFC 2231 value in an unknown charset), or whose
# RFC 2231 charset decodes to something else than a name of UTF-8.
MALFORMED_CONTENT_TYPES = [
    "application/x-www-form-urlencoded; charset=utf-8; x=" + "y" * 20_000,
    "application/x-www-form-urlencoded; charset*=no-such''utf-8",
    "application/x-www-form-urlencoded; charset*=base64''dXRmLTg=",
    "application/x-www-form-urlencoded; charset*=utf-16''%FF",
    "application/x-www-form-urlencoded; charset*=utf-8''%C3%A9%00",
]


def session_cookies(user) -> dict[str, str]:
    """Cookies of no session and of a logged-in, freshly re-authenticated one."""
    client = Client()
    client.force_login(user)
    reauth_now(client)
    return {"anonymous": "", "logged in": f"sessionid={client.cookies['sessionid'].value}"}


def served(method: str, path: str, *, content_type: str, cookie: str, body: bytes = b"") -> int:
    """The status the WSGI application gunicorn and runserver serve answers (the test client
    builds Django's own request, which is what crashed on some charsets)."""
    from certadmin.wsgi import application

    environ = RequestFactory()._base_environ(
        PATH_INFO=path.partition("?")[0],
        QUERY_STRING=path.partition("?")[2],
        REQUEST_METHOD=method,
        CONTENT_TYPE=content_type,
        CONTENT_LENGTH=str(len(body)),
        HTTP_COOKIE=cookie,
        **{"wsgi.input": FakePayload(body)},
    )
    status = []
    # As the test client does: a request must not close the test's database connection.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        response = application(environ, lambda line, headers, exc_info=None: status.append(line))
        response.close()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return int(status[0].split()[0])


def charset_requests(cookie: str, charset: str) -> dict[str, int]:
    content_type = f"application/x-www-form-urlencoded; charset={charset}"
    statuses = {}
    for url in (reverse("login"), reverse("devices:home"), reverse("audit:events")):
        for method in ("GET", "POST"):
            statuses[f"{method} {url}"] = served(
                method, url + "?q=%C3%A9", content_type=content_type, cookie=cookie, body=b"a=b"
            )
    return statuses


@pytest.mark.parametrize("charset", UTF8_NAMES)
def test_utf8_and_ascii_aliases_are_read_as_utf8(dashboard_iot, custodian, charset):
    for who, cookie in session_cookies(custodian).items():
        statuses = charset_requests(cookie, charset)
        assert not {400, 500} & set(statuses.values()), (who, statuses)
    # A login form in one of these charsets works like one without.
    client = Client(raise_request_exception=False)
    response = client.generic(
        "POST",
        reverse("login"),
        data=f"username={custodian.username}&password={ROLE_PASSWORD}".encode(),
        content_type=f"application/x-www-form-urlencoded; charset={charset}",
    )
    assert response.status_code == 302


@pytest.mark.parametrize("charset", REFUSED_NAMES)
def test_any_other_charset_is_a_bad_request_logged_in_one_line(
    dashboard_iot, custodian, charset, caplog
):
    for who, cookie in session_cookies(custodian).items():
        caplog.clear()
        statuses = charset_requests(cookie, charset)
        assert set(statuses.values()) == {400}, (who, statuses)
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        # One line per request, without a traceback.
        assert len(warnings) == len(statuses)
        assert all(r.exc_info is None and "\n" not in r.getMessage() for r in warnings)
        assert all("charset" in r.getMessage() for r in warnings)


@pytest.mark.parametrize("content_type", MALFORMED_CONTENT_TYPES)
def test_a_content_type_django_cannot_parse_is_a_bad_request(
    dashboard_iot, custodian, content_type
):
    for who, cookie in session_cookies(custodian).items():
        for method in ("GET", "POST"):
            status = served(
                method, "/login/?q=1", content_type=content_type, cookie=cookie, body=b"a=b"
            )
            assert status == 400, (who, method)
