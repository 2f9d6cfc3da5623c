"""The main menu shows each role exactly the sections it may open."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

SECTIONS = {
    "Devices": "devices:home",
    "Expiry": "devices:expiry",
    "Fleet health": "findings:fleet",
    "Jobs": "jobs:list",
    "Schedules": "schedules:list",
    "Notifications": "notifications:routes",
    "Key custody": "custody:overview",
}


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("Viewer", {"Devices", "Expiry", "Fleet health", "Jobs", "Schedules"}),
        (
            "Key custodian",
            {"Devices", "Expiry", "Fleet health", "Jobs", "Schedules", "Key custody"},
        ),
        ("Auditor", {"Audit trail", "Key custody"}),
        (
            "Key approver",
            {"Devices", "Expiry", "Fleet health", "Jobs", "Schedules", "Key custody"},
        ),
        (
            "Fleet manager",
            {"Devices", "Expiry", "Fleet health", "Jobs", "Schedules", "Notifications"},
        ),
        (None, set()),
    ],
)
def test_the_menu_shows_what_the_role_may_open(client_for, make_user, role, expected):
    client = client_for(make_user(role))
    page = client.get(reverse("audit:events" if role == "Auditor" else "devices:home"))
    nav = re.search(r'<nav class="mainnav".*?</nav>', page.content.decode(), re.DOTALL)
    shown = set(re.findall(r">([^<>]+)</a>", nav.group(0))) if nav else set()
    assert shown == expected
    for label in shown & SECTIONS.keys():
        assert client.get(reverse(SECTIONS[label])).status_code == 200
