"""The auditor's list with several API accounts: a filter per account and the account beside
each device; with one account, neither."""

import pytest
from django.urls import reverse

from tests.support.audit_events import export_unpacked, make_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_accounts(settings):
    from certadmin.iot.accounts import IotAccount

    settings.IOT_DEFAULT_ACCOUNT = "prod"
    settings.IOT_ACCOUNTS = {
        "prod": IotAccount(
            name="prod", label="Production", access_key_id="LTAIp", access_key_secret="p"
        ),
        "staging": IotAccount(
            name="staging", label="Staging", access_key_id="LTAIs", access_key_secret="s"
        ),
    }


def test_the_list_filters_by_account_and_names_each_devices_account(
    two_accounts, auditor, client_for
):
    make_event(device_name="prod-dev", account="prod")
    make_event(device_name="old-dev")  # written before accounts were recorded: the default's
    make_event(device_name="stg-dev", account="staging")
    client = client_for(auditor)

    staging = client.get(reverse("audit:events"), {"account": "staging"}).content.decode()
    assert "stg-dev" in staging
    assert "prod-dev" not in staging
    assert "old-dev" not in staging
    assert 'class="badge audit-account">Staging<' in staging

    prod = client.get(reverse("audit:events"), {"account": "prod"}).content.decode()
    assert "prod-dev" in prod
    assert "old-dev" in prod
    assert "stg-dev" not in prod

    every = client.get(reverse("audit:events")).content.decode()
    assert all(name in every for name in ("prod-dev", "old-dev", "stg-dev"))
    assert 'name="account"' in every


def test_an_unknown_account_is_a_form_error_not_an_empty_list(two_accounts, auditor, client_for):
    make_event(account="prod")
    response = client_for(auditor).get(reverse("audit:events"), {"account": "nope"})
    assert response.status_code == 200
    assert response.context["form"].errors["account"]


def test_the_export_has_the_account_column(two_accounts, auditor, client_for):
    make_event(device_name="stg-dev", account="staging")
    response = client_for(auditor).get(reverse("audit:export"), {"account": "staging"})
    assert response.status_code == 200
    rows, _manifest = export_unpacked(b"".join(response.streaming_content))
    assert [row["account"] for row in rows if row["device_name"] == "stg-dev"] == ["staging"]


def test_with_one_account_there_is_nothing_to_choose(settings, auditor, client_for):
    from certadmin.iot.accounts import IotAccount

    settings.IOT_DEFAULT_ACCOUNT = "default"
    settings.IOT_ACCOUNTS = {
        "default": IotAccount(name="default", access_key_id="LTAId", access_key_secret="d")
    }
    make_event(device_name="solo-dev", account="default")
    html = client_for(auditor).get(reverse("audit:events")).content.decode()
    assert "solo-dev" in html
    assert 'name="account"' not in html
    assert "audit-account" not in html
