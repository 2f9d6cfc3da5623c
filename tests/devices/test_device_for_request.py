"""Every view that names a device in its URL works it out with ``device_for_request``: the same
names refused, the same accounts hidden, each view with its own answer (400 on the
certificate page, 404 on key and download URLs)."""

import pytest
from django.urls import reverse

from certadmin.audit.models import AuditEvent, AuditOutcome
from certadmin.emulator.seed import DEMO_PRODUCT_KEY

DEVICE = "thermo-001"
REASON = "Ticket OPS-4711: staging device swap"


def _certificate_page(client, name, query):
    return client.get(reverse("devices:device", args=[DEMO_PRODUCT_KEY, name]) + query)


def _certificate_download(client, name, query):
    url = reverse("devices:certificate-download", args=[DEMO_PRODUCT_KEY, name, "pem"])
    return client.get(url + query)


def _key_access(client, name, query):
    url = reverse("devices:key", args=[DEMO_PRODUCT_KEY, name])
    return client.post(url + query, {"action": "reveal", "reason": REASON})


def _key_seen(client, name, query):
    return client.get(reverse("devices:key-seen", args=[DEMO_PRODUCT_KEY, name]) + query)


VIEWS = {
    "certificate page": (_certificate_page, 400),
    "certificate download": (_certificate_download, 404),
    "key access": (_key_access, 404),
    "key seen": (_key_seen, 404),
}


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("name", [f" {DEVICE}", f"{DEVICE}\t", f"{DEVICE}\u3000"])
def test_a_name_that_is_not_canonical_is_refused_before_the_platform_is_asked(
    view, name, dashboard_iot, custodian, client_for
):
    ask, status = VIEWS[view]

    response = ask(client_for(custodian), name, "")

    assert response.status_code == status
    assert dashboard_iot.request_log == []
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("name", [DEVICE, f" {DEVICE}"])
def test_an_account_the_user_may_not_use_is_a_404_whatever_the_name(
    view, name, staging_for_a_group, custodian, client_for
):
    ask, _status = VIEWS[view]

    response = ask(client_for(custodian), name, "?account=staging")

    assert response.status_code == 404
    assert staging_for_a_group.request_log == []
    # Only an attempt at the key itself, on a device it names exactly, is recorded (denied).
    recorded = list(AuditEvent.objects.values_list("outcome", "account"))
    expected = [(AuditOutcome.DENIED, "staging")] if view == "key access" and name == DEVICE else []
    assert recorded == expected
