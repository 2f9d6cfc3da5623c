"""A URL names a device exactly.

A path value with spaces of any script, tabs or line breaks around it used to pass validation
(stripped) while the raw value reached the API and the audit trail. Now it is refused: nothing
reaches the API, and no audit row carries a name that only displays like the device's.
"""

import pytest

from certadmin.audit.models import AuditEvent
from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.support.emulator import api_calls
from tests.support.key_material import reauth_now

pytestmark = pytest.mark.django_db

PK = DEMO_PRODUCT_KEY
NAME = "thermo-001"
REASON = "Ticket OPS-4242: commissioning a replacement gateway"
# Encoded as they travel in a URL: tab, vertical tab, file separator, line feed, no-break space,
# ideographic space.
AROUND = ["%09", "%0B", "%1C", "%0A", "%C2%A0", "%E3%80%80"]


def non_canonical_names() -> list[str]:
    return [f"{c}{NAME}" for c in AROUND] + [f"{NAME}{c}" for c in AROUND]


@pytest.mark.parametrize("name", non_canonical_names())
def test_a_non_canonical_device_name_reaches_neither_the_api_nor_the_audit_trail(
    dashboard_iot, custodian, client_for, name
):
    browser = client_for(custodian)
    reauth_now(browser)
    before = api_calls(dashboard_iot)

    page = browser.get(f"/devices/{PK}/{name}/")
    reveal = browser.post(f"/devices/{PK}/{name}/key/", {"action": "reveal", "reason": REASON})
    bundle = browser.post(f"/devices/{PK}/{name}/key/", {"action": "key", "reason": REASON})
    download = browser.get(f"/devices/{PK}/{name}/certificate/pem/")

    assert page.status_code == 400
    assert "Remove the spaces or invisible characters" in page.content.decode()
    assert (reveal.status_code, bundle.status_code, download.status_code) == (404, 404, 404)
    assert api_calls(dashboard_iot) == before
    assert not AuditEvent.objects.exclude(device_name="").exclude(device_name=NAME).exists()
    assert not AuditEvent.objects.filter(device_name=NAME).exists()


@pytest.mark.parametrize("around", AROUND)
def test_a_non_canonical_product_key_or_instance_is_refused(
    dashboard_iot, custodian, client_for, around
):
    browser = client_for(custodian)
    reauth_now(browser)
    before = api_calls(dashboard_iot)

    product = browser.get(f"/devices/{around}{PK}/{NAME}/")
    instance = browser.get(f"/devices/{PK}/{NAME}/?instance={around}iot-06z00ep2pjifrby")
    reveal = browser.post(
        f"/devices/{PK}/{NAME}/key/?instance=iot-06z00ep2pjifrby{around}",
        {"action": "reveal", "reason": REASON},
    )

    assert (product.status_code, instance.status_code, reveal.status_code) == (400, 400, 404)
    assert api_calls(dashboard_iot) == before
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("name", non_canonical_names()[:3])
def test_the_audit_history_of_a_non_canonical_device_name_is_not_found(auditor, client_for, name):
    assert client_for(auditor).get(f"/audit/devices/{PK}/{name}/").status_code == 404


def test_the_canonical_name_still_works(dashboard_iot, auditor, viewer, client_for):
    assert client_for(viewer).get(f"/devices/{PK}/{NAME}/").status_code == 200
    assert client_for(auditor).get(f"/audit/devices/{PK}/{NAME}/").status_code == 200
