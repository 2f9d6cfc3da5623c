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


def _menu(client) -> str:
    page = client.get(reverse("devices:home")).content.decode()
    return re.search(r'<nav class="mainnav".*?</nav>', page, re.DOTALL).group(0)


def test_the_menu_written_once_per_language_and_permissions_follows_both(
    client_for, make_user, settings
):
    """The menu's links are kept per process (issue 24): a page in another language, or of
    someone who may open other sections, gets its own."""
    from django.contrib.auth.models import Group

    person = make_user("Viewer")
    client = client_for(person)
    english = _menu(client)
    assert ">Jobs</a>" in english
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    chinese = _menu(client)
    assert ">任务</a>" in chinese
    assert ">Jobs</a>" not in chinese
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert _menu(client) == english
    assert ">Notifications</a>" not in english
    person.groups.add(Group.objects.get(name="Fleet manager"))
    assert ">Notifications</a>" in _menu(client)
