"""Two API accounts in one dashboard, against the emulator serving both over HTTP."""

from django.contrib.auth.models import Group
from django.urls import reverse

from certadmin.audit.models import AuditEvent, AuditOutcome
from certadmin.audit.verification import chain_verify
from certadmin.devices.models import CertificateRecord
from certadmin.emulator.seed import DEMO_PRODUCT_KEY, STAGING_PRODUCT_KEY
from tests.support.people import ROLE_PASSWORD

REASON = "Ticket OPS-4711: staging device swap"


def device_page(client, product_key: str, device_name: str, query: str = ""):
    return client.get(reverse("devices:device", args=[product_key, device_name]) + query)


def key_ids(emulator) -> list[str]:
    return [e.access_key_id for e in emulator.request_log if e.action == "QueryDeviceCert"]


def test_the_same_device_name_on_two_accounts_is_two_devices(
    staging_iot, viewer, client_for, settings
):
    client = client_for(viewer)

    first = device_page(client, DEMO_PRODUCT_KEY, "thermo-001")
    second = device_page(client, DEMO_PRODUCT_KEY, "thermo-001", "?account=staging")

    assert first.status_code == second.status_code == 200
    assert key_ids(staging_iot) == [
        settings.DEMO_ACCESS_KEY_ID,
        settings.DEMO_STAGING_ACCESS_KEY_ID,
    ]
    records = CertificateRecord.objects.filter(
        product_key=DEMO_PRODUCT_KEY, device_name="thermo-001"
    )
    by_account = {r.account: r.sha256_fingerprint for r in records}
    assert set(by_account) == {"default", "staging"}
    assert by_account["default"] != by_account["staging"]
    assert "Account: staging" in second.content.decode()


def test_a_product_of_one_account_does_not_exist_for_the_other(staging_iot, viewer, client_for):
    client = client_for(viewer)

    assert (
        device_page(client, STAGING_PRODUCT_KEY, "stage-001", "?account=staging").status_code == 200
    )
    assert device_page(client, STAGING_PRODUCT_KEY, "stage-001").status_code == 404


def test_each_account_has_its_own_quota(staging_iot, viewer, client_for, device_cert):
    for _ in range(10):  # the first account's whole quota for this second
        device_cert(DEMO_PRODUCT_KEY, "thermo-003")
    response = device_page(
        client_for(viewer), STAGING_PRODUCT_KEY, "stage-002", "?account=staging&refresh=1"
    )
    assert response.status_code == 200
    assert staging_iot.throttled["QueryDeviceCert"] == 0


def test_an_account_the_user_may_not_use_is_a_404_and_not_offered(
    staging_for_a_group, viewer, client_for
):
    client = client_for(viewer)

    assert (
        device_page(client, DEMO_PRODUCT_KEY, "thermo-001", "?account=staging").status_code == 404
    )
    assert staging_for_a_group.request_log == []
    home = client.get(reverse("devices:home")).content.decode()
    assert 'value="staging"' not in home
    lookup = client.get(
        reverse("devices:lookup"),
        {"product_key": DEMO_PRODUCT_KEY, "device_name": "thermo-001", "account": "staging"},
    )
    assert lookup.status_code == 400
    sync = client.post(
        reverse("jobs:product-sync"), {"product_key": STAGING_PRODUCT_KEY, "account": "staging"}
    )
    assert sync.status_code == 400
    assert staging_for_a_group.request_log == []


def test_a_member_of_the_group_may_use_the_account(staging_for_a_group, viewer, client_for):
    viewer.groups.add(Group.objects.get(name="Staging team"))
    response = device_page(client_for(viewer), STAGING_PRODUCT_KEY, "stage-001", "?account=staging")
    assert response.status_code == 200


def test_a_key_access_on_a_forbidden_account_is_a_404_and_audited(
    staging_for_a_group, custodian, client_for
):
    response = client_for(custodian).post(
        reverse("devices:key", args=[DEMO_PRODUCT_KEY, "thermo-001"]),
        {"action": "reveal", "reason": REASON, "password": ROLE_PASSWORD, "account": "staging"},
    )
    assert response.status_code == 404
    event = AuditEvent.objects.get()
    assert (event.outcome, event.account) == (AuditOutcome.DENIED, "staging")
    assert chain_verify().ok


def test_a_reveal_on_the_second_account_is_audited_with_it(staging_iot, custodian, client_for):
    response = client_for(custodian).post(
        reverse("devices:key", args=[STAGING_PRODUCT_KEY, "stage-001"]),
        {"action": "reveal", "reason": REASON, "password": ROLE_PASSWORD, "account": "staging"},
    )
    assert response.status_code == 200
    event = AuditEvent.objects.get(outcome=AuditOutcome.SUCCESS)
    assert event.account == "staging"
    assert chain_verify().ok


def query_device_key_ids(emulator) -> list[str]:
    return [e.access_key_id for e in emulator.request_log if e.action == "QueryDevice"]


def test_a_product_missing_from_the_chosen_account_names_the_account_that_has_it(
    staging_iot, viewer, client_for, settings
):
    client = client_for(viewer)

    response = device_page(client, STAGING_PRODUCT_KEY, "stage-001")

    assert response.status_code == 404
    html = response.content.decode()
    assert f"There is no product {STAGING_PRODUCT_KEY} in this account." in html
    assert f"ProductKey {STAGING_PRODUCT_KEY} is in account staging." in html
    link = f"/devices/{STAGING_PRODUCT_KEY}/stage-001/?account=staging"
    assert f'<a href="{link}">Look it up in staging</a>' in html
    # Found by one QueryDevice on the other account: nothing in the inventory knew it.
    assert query_device_key_ids(staging_iot) == [settings.DEMO_STAGING_ACCESS_KEY_ID]
    assert client.get(link).status_code == 200


def test_the_device_list_of_a_missing_product_links_to_the_account_that_has_it(
    staging_iot, viewer, client_for
):
    response = client_for(viewer).get(
        reverse("devices:list"), {"product_key": STAGING_PRODUCT_KEY, "device_name": "stage"}
    )

    html = response.content.decode()
    assert response.status_code == 404
    assert (
        f'<a href="/devices/?product_key={STAGING_PRODUCT_KEY}&amp;account=staging'
        '&amp;device_name=stage">Look it up in staging</a>'
    ) in html


def test_the_inventory_names_the_other_account_without_asking_the_platform(
    staging_iot, viewer, client_for, settings
):
    CertificateRecord.objects.create(
        account="staging", product_key=STAGING_PRODUCT_KEY, device_name="stage-002"
    )

    response = device_page(client_for(viewer), STAGING_PRODUCT_KEY, "stage-001")

    assert f"ProductKey {STAGING_PRODUCT_KEY} is in account staging." in response.content.decode()
    assert settings.DEMO_STAGING_ACCESS_KEY_ID not in {
        e.access_key_id for e in staging_iot.request_log
    }


def test_an_account_the_user_may_not_use_is_never_named_nor_asked(
    staging_for_a_group, viewer, client_for, settings
):
    CertificateRecord.objects.create(
        account="staging", product_key=STAGING_PRODUCT_KEY, device_name="stage-002"
    )

    response = device_page(client_for(viewer), STAGING_PRODUCT_KEY, "stage-001")

    html = response.content.decode()
    assert f"There is no product {STAGING_PRODUCT_KEY} in this account." in html
    assert "staging" not in html.lower()
    assert settings.DEMO_STAGING_ACCESS_KEY_ID not in {
        e.access_key_id for e in staging_for_a_group.request_log
    }
