"""A form POST in a charset other than UTF-8 (issue 11, item 5) is the client's error: 400."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.devices.key_material import reauth_now

BODY = b"reason=Ticket+OPS-4711+reprovision&password=+AGEAYgBj-&csrfmiddlewaretoken=x"


def post_urls() -> list[str]:
    device = [DEMO_PRODUCT_KEY, "thermo-001"]
    return [
        reverse("login"),
        reverse("set_language"),
        reverse("devices:lookup"),
        reverse("devices:reveal", args=device),
        reverse("devices:bundle-download", args=device),
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
