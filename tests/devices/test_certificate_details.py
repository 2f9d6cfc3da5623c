"""The certificate page writes a certificate's names, details and extensions once per
certificate, CertSN, language and time zone in each process, and reuses them: each view shows
what writing them again would."""

import re

import pytest

from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.support.pages import HTMX_HEADERS

pytestmark = pytest.mark.django_db


def details(client, device_name: str, **headers) -> str:
    response = client.get(f"/devices/{DEMO_PRODUCT_KEY}/{device_name}/", headers=headers)
    assert response.status_code == 200
    html = response.content.decode()
    shown = re.search(
        r'<section class="card" aria-labelledby="names-heading">.*?'
        r'<section class="card" aria-labelledby="checks-heading">',
        html,
        re.S,
    )
    assert shown, "no certificate details on the page"
    return shown.group(0)


def fingerprints(html: str) -> list[str]:
    """The certificate's own hex: key identifiers, public key SHA-256, fingerprints."""
    return re.findall(r"[0-9A-F]{2}(?::[0-9A-F]{2}){19,}", html)


def test_each_certificate_shows_its_own_details(dashboard_iot, viewer_client):
    first = details(viewer_client, "thermo-001")
    second = details(viewer_client, "thermo-002")
    assert len(fingerprints(first)) >= 3
    assert fingerprints(first) != fingerprints(second)
    assert details(viewer_client, "thermo-001") == first
    assert details(viewer_client, "thermo-001", **HTMX_HEADERS) == first


def test_the_details_are_in_the_readers_language(dashboard_iot, viewer_client):
    english = details(viewer_client, "thermo-001")
    chinese = details(viewer_client, "thermo-001", **{"Accept-Language": "zh-hans"})
    assert "Subject and issuer" in english
    assert "使用者和颁发者" in chinese
    assert "Subject and issuer" not in chinese
    assert fingerprints(chinese) == fingerprints(english)
    assert details(viewer_client, "thermo-001") == english


def test_the_details_times_are_in_the_configured_time_zone(dashboard_iot, viewer_client, settings):
    shanghai = details(viewer_client, "thermo-001")
    assert "CST (UTC+08:00)" in shanghai
    settings.TIME_ZONE = "Europe/Berlin"
    berlin = details(viewer_client, "thermo-001")
    assert "CST (UTC+08:00)" not in berlin
    assert re.search(r"CES?T \(UTC\+0[12]:00\)", berlin)
