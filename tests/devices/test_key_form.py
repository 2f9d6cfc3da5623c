"""The device page's one key form: near the top, one reason and password for
revealing or downloading, the right audit action per choice, errors in place, and "who has
seen this key" updated by a reveal's answer."""

import io
import re
import zipfile

from cryptography.hazmat.primitives import serialization
from django.test import Client
from django.urls import reverse

from certadmin.audit.models import AuditAction, AuditOutcome
from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.support.emulator import api_calls
from tests.support.key_material import api_answer, events, reauth_now
from tests.support.pages import HTMX_HEADERS
from tests.support.people import ROLE_PASSWORD

PK = DEMO_PRODUCT_KEY
REASON = "Ticket OPS-6120: re-provision after the board swap"
PASSPHRASE = "a long zip passphrase 77"


def key_url(device_name: str) -> str:
    return reverse("devices:key", args=[PK, device_name])


def post_key(client: Client, device_name: str, action: str, *, htmx: bool = False, **data):
    payload = {"action": action, "reason": REASON, **data}
    return client.post(key_url(device_name), payload, headers=HTMX_HEADERS if htmx else {})


def test_the_key_form_comes_before_the_decoded_details_and_is_the_only_key_form(
    dashboard_iot, custodian_client
):
    body = custodian_client.get(f"/devices/{PK}/thermo-001/").content.decode()

    assert body.index('id="key-actions"') < body.index('id="status-heading"')
    assert body.index('id="key-actions"') < body.index('id="details-heading"')
    assert body.count('name="reason"') == 1
    assert body.count('name="password"') == 1
    assert body.count('<form method="post"') == 1
    for action in ("reveal", "key", "p12", "zip", "zip-plain"):
        assert f'value="{action}"' in body
    # Reveal is the preselected action.
    assert re.search(r'value="reveal"[^>]*checked|checked[^>]*value="reveal"', body)
    # The downloads card points to the key form instead of carrying a second one.
    assert 'href="#key-actions"' in body


def test_a_viewer_sees_no_key_form(dashboard_iot, viewer_client):
    body = viewer_client.get(f"/devices/{PK}/thermo-001/").content.decode()
    assert 'id="key-actions"' not in body
    assert 'name="reason"' not in body


def test_each_choice_of_the_one_form_is_audited_as_what_it_did(dashboard_iot, custodian_client):
    reauth_now(custodian_client)

    revealed = post_key(custodian_client, "thermo-001", "reveal")
    downloaded = post_key(
        custodian_client,
        "thermo-001",
        "zip",
        passphrase=PASSPHRASE,
        passphrase_confirm=PASSPHRASE,
    )

    assert revealed.status_code == 200
    assert "PRIVATE KEY" in revealed.content.decode()
    assert downloaded.status_code == 200
    assert downloaded["Content-Disposition"].startswith("attachment")
    archive = zipfile.ZipFile(io.BytesIO(downloaded.content))
    key = serialization.load_pem_private_key(archive.read("private-key.pem"), PASSPHRASE.encode())
    assert key is not None
    assert [(e.action, e.outcome, e.detail, e.reason) for e in events()] == [
        (AuditAction.KEY_REVEAL, AuditOutcome.SUCCESS, "", REASON),
        (AuditAction.KEY_DOWNLOAD, AuditOutcome.SUCCESS, "zip", REASON),
    ]


def test_a_reveal_answer_updates_who_has_seen_this_key_out_of_band(
    dashboard_iot, custodian, custodian_client
):
    reauth_now(custodian_client)

    response = post_key(custodian_client, "thermo-002", "reveal", htmx=True)

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    seen = re.search(r'<section[^>]*id="key-seen"[^>]*>.*?</section>', body, re.DOTALL)
    assert seen is not None
    assert 'hx-swap-oob="true"' in seen.group(0)
    assert custodian.username in seen.group(0)
    assert REASON in seen.group(0)


def test_who_has_seen_this_key_refreshes_for_custodians_and_auditors_only(
    dashboard_iot, custodian_client, viewer_client, auditor, client_for
):
    reauth_now(custodian_client)
    post_key(custodian_client, "thermo-001", "key")
    url = reverse("devices:key-seen", args=[PK, "thermo-001"])

    mine = custodian_client.get(url, headers=HTMX_HEADERS)
    refused = viewer_client.get(url, headers=HTMX_HEADERS)

    assert mine.status_code == 200
    assert 'id="key-seen"' in mine.content.decode()
    assert REASON in mine.content.decode()
    assert refused.status_code == 403
    assert client_for(auditor).get(url).status_code == 200


def test_a_valid_download_over_htmx_is_answered_204_for_the_page_to_post_it_natively(
    dashboard_iot, custodian_client
):
    dashboard_iot.request_log.clear()

    response = post_key(
        custodian_client,
        "thermo-001",
        "p12",
        htmx=True,
        password=ROLE_PASSWORD,
        passphrase=PASSPHRASE,
        passphrase_confirm=PASSPHRASE,
    )

    assert response.status_code == 204
    assert response["HX-Trigger"] == "key-download-ready"
    assert "Content-Disposition" not in response
    assert api_calls(dashboard_iot) == 0  # the key is fetched once, by the native post
    assert not events(outcome=AuditOutcome.SUCCESS)
    # The password confirmed it is the custodian: the native post needs no password again.
    native = post_key(
        custodian_client,
        "thermo-001",
        "p12",
        passphrase=PASSPHRASE,
        passphrase_confirm=PASSPHRASE,
    )
    assert native.status_code == 200
    assert native["Content-Disposition"].startswith("attachment")
    assert [(e.action, e.outcome) for e in events(outcome=AuditOutcome.SUCCESS)] == [
        (AuditAction.KEY_DOWNLOAD, AuditOutcome.SUCCESS)
    ]


def test_a_short_passphrase_comes_back_in_place_once_with_htmx_and_without(
    dashboard_iot, custodian_client
):
    reauth_now(custodian_client)
    short = {"passphrase": "short", "passphrase_confirm": "short"}

    in_place = post_key(custodian_client, "thermo-001", "p12", htmx=True, **short)
    page = post_key(custodian_client, "thermo-001", "p12", **short)

    for response in (in_place, page):
        body = response.content.decode()
        assert response.status_code == 400
        assert "Content-Disposition" not in response
        assert body.count("Choose a passphrase of at least") == 1
        assert 'aria-invalid="true"' in body
        assert re.search(r'value="p12"[^>]*checked|checked[^>]*value="p12"', body)
        assert REASON in body  # what was typed is kept
    assert "<html" not in in_place.content.decode()
    assert "<html" in page.content.decode()
    assert [(e.outcome, e.detail) for e in events()] == [
        (AuditOutcome.REFUSED, "p12: unusable passphrase"),
        (AuditOutcome.REFUSED, "p12: unusable passphrase"),
    ]


def test_differing_passphrases_are_marked_on_the_confirmation(dashboard_iot, custodian_client):
    reauth_now(custodian_client)

    response = post_key(
        custodian_client,
        "thermo-001",
        "zip",
        htmx=True,
        passphrase=PASSPHRASE,
        passphrase_confirm=PASSPHRASE + "!",
    )

    assert response.status_code == 400
    assert 'id="id_passphrase_confirm_error"' in response.content.decode()


def test_a_reveal_needs_no_passphrase(dashboard_iot, custodian_client):
    reauth_now(custodian_client)
    api = api_answer(dashboard_iot, "thermo-001")

    response = post_key(custodian_client, "thermo-001", "reveal", passphrase="x")

    assert response.status_code == 200
    assert api.private_key.strip() in response.content.decode()


def test_an_unknown_action_is_refused_without_asking_the_platform(dashboard_iot, custodian_client):
    reauth_now(custodian_client)
    dashboard_iot.request_log.clear()

    response = post_key(custodian_client, "thermo-001", "jks", htmx=True)

    assert response.status_code == 400
    assert api_calls(dashboard_iot) == 0
    assert not events(outcome=AuditOutcome.SUCCESS)
