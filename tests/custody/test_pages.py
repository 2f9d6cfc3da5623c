"""Every custody URL as every role: who may open or post what."""

import pytest
from django.urls import reverse

from certadmin.emulator import DEMO_PRODUCT_KEY

DEVICE = [DEMO_PRODUCT_KEY, "thermo-001"]
ROLES = ["Viewer", "Key custodian", "Auditor", "Fleet manager", "Key approver", "superuser"]


@pytest.mark.parametrize("role", ROLES)
def test_every_signed_in_person_has_a_custody_page(dashboard_iot, make_user, browser_for, role):
    # A hand-over may be addressed to anyone, so everyone may see what waits for them.
    assert browser_for(make_user(role)).get(reverse("custody:overview")).status_code == 200


def test_anonymous_visitors_see_only_the_login_page(dashboard_iot, client):
    for url in (
        reverse("custody:overview"),
        reverse("custody:handover-open") + "?token=abc",
        reverse("custody:handover-new", args=DEVICE),
        reverse("custody:break-glass", args=DEVICE),
        reverse("custody:request", args=[1]),
    ):
        answer = client.get(url)
        assert answer.status_code == 302, url
        assert answer["Location"].startswith("/login/"), url


@pytest.mark.parametrize(
    ("url", "method", "allowed"),
    [
        (reverse("custody:handover-new", args=DEVICE), "get", {"Key custodian", "superuser"}),
        (reverse("custody:break-glass", args=DEVICE), "get", {"Key custodian", "superuser"}),
        (reverse("custody:request-create", args=DEVICE), "post", {"Key custodian", "superuser"}),
        (reverse("custody:request-decide", args=[1]), "post", {"Key approver", "superuser"}),
        (reverse("custody:break-glass-review", args=[1]), "post", {"Auditor", "superuser"}),
    ],
)
def test_each_action_names_its_permission(
    dashboard_iot, make_user, browser_for, url, method, allowed
):
    for role in ROLES:
        answer = getattr(browser_for(make_user(role)), method)(url)
        if role in allowed:
            assert answer.status_code != 403, (role, url)
        else:
            assert answer.status_code == 403, (role, url)
