"""Revealing a device's private key: who may, what it takes, what is recorded, and
where the key must never end up."""

import logging
import re
import threading
import time

import pytest
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from certadmin.accounts.reauth import SESSION_KEY as REAUTH_SESSION_KEY
from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.verification import chain_verify
from certadmin.certs.details import certificate_details
from certadmin.certs.fingerprints import public_key_sha256
from certadmin.certs.loading import load_certificate, load_private_key
from certadmin.devices import key_release
from certadmin.devices.models import CertificateRecord
from certadmin.emulator import DEMO_PRODUCT_KEY, ENTERPRISE_INSTANCE_ID, ENTERPRISE_PRODUCT_KEY
from tests.support.emulator import api_calls
from tests.support.key_material import (
    api_answer,
    assert_no_key_in,
    events,
    reauth_now,
)
from tests.support.people import ROLE_PASSWORD

PK = DEMO_PRODUCT_KEY
REASON = "Ticket OPS-4711: reprovision the device after a board swap"
USER_AGENT = "certadmin-tests/1.0 (reveal)"


# --- helpers ----------------------------------------------------------------------------------


def reveal_url(device_name: str, product_key: str = PK) -> str:
    return reverse("devices:key", args=[product_key, device_name])


def post_reveal(client: Client, device_name: str, product_key: str = PK, **data):
    payload = {"action": "reveal", "reason": REASON, **data}
    return client.post(
        reveal_url(device_name, product_key), payload, headers={"user-agent": USER_AGENT}
    )


# --- the happy path ---------------------------------------------------------------------------


def test_custodian_with_password_and_reason_sees_the_key_and_the_reveal_is_audited(
    dashboard_iot, custodian, custodian_client
):
    api = api_answer(dashboard_iot, "thermo-001")

    response = post_reveal(custodian_client, "thermo-001", password=ROLE_PASSWORD)

    assert response.status_code == 200
    assert api.private_key.strip() in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    [event] = events(action=AuditAction.KEY_REVEAL)
    assert event.outcome == AuditOutcome.SUCCESS
    assert event.actor_id == custodian.pk
    assert event.actor_username == custodian.username
    assert (event.product_key, event.device_name) == (PK, "thermo-001")
    assert event.reason == REASON
    assert event.ip_address == "127.0.0.1"
    assert event.user_agent == USER_AGENT
    assert event.cert_sn == api.cert_sn
    certificate = load_certificate(api.certificate)
    assert event.certificate_sha256 == certificate_details(certificate).sha256_fingerprint
    assert event.key_fingerprint == public_key_sha256(load_private_key(api.private_key))
    assert event.key_fingerprint == public_key_sha256(certificate)
    assert event.platform_request_id  # the reveal's own QueryDeviceCert call
    assert event.platform_request_id != api.request_id


@pytest.mark.django_db(transaction=True)
def test_the_reveal_record_is_committed_before_the_key_is_returned(
    dashboard_iot, custodian_client, monkeypatch
):
    """Spy on the success record: when it returns, a second connection must already see the
    row, and the key must not have been handed out yet."""
    api = api_answer(dashboard_iot, "thermo-002")
    real_audit_record = key_release.audit_record
    seen: list[dict] = []

    def audit_record_then_look(**kwargs):
        event = real_audit_record(**kwargs)
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute(
                    "SELECT outcome FROM audit_auditevent WHERE entry_hash = %s",
                    [event.entry_hash],
                )
                row = cursor.fetchone()
        finally:
            other.close()
        seen.append({"row": row, "in_transaction": connection.in_atomic_block})
        return event

    monkeypatch.setattr(key_release, "audit_record", audit_record_then_look)
    reauth_now(custodian_client)

    response = post_reveal(custodian_client, "thermo-002")

    assert response.status_code == 200
    assert api.private_key.strip() in response.content.decode()
    assert seen == [{"row": (AuditOutcome.SUCCESS.value,), "in_transaction": False}]


# --- who may ----------------------------------------------------------------------------------


def test_reveal_without_the_csrf_token_is_refused_and_shows_no_key(dashboard_iot, custodian):
    client = Client(enforce_csrf_checks=True)
    client.force_login(custodian)
    reauth_now(client)

    response = post_reveal(client, "thermo-001")

    assert response.status_code == 403
    assert_no_key_in(response.content.decode(), api_answer(dashboard_iot, "thermo-001").private_key)
    assert not events(action=AuditAction.KEY_REVEAL, outcome=AuditOutcome.SUCCESS)


def test_reveal_by_get_is_not_allowed(custodian_client):
    reauth_now(custodian_client)
    response = custodian_client.get(reveal_url("thermo-001"))
    assert response.status_code == 405
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("role", ["Viewer", "Auditor", None])
def test_reveal_without_the_key_permission_is_refused_and_audited(dashboard_iot, make_user, role):
    user = make_user(role)
    client = Client()
    client.force_login(user)
    reauth_now(client)
    dashboard_iot.request_log.clear()

    response = post_reveal(client, "thermo-001", password=ROLE_PASSWORD)

    assert response.status_code == 403
    assert b"PRIVATE KEY" not in response.content
    [event] = events()
    assert (event.action, event.outcome) == (AuditAction.KEY_REVEAL, AuditOutcome.DENIED)
    assert event.actor_username == user.username
    assert event.device_name == "thermo-001"
    assert "permission" in event.detail
    assert api_calls(dashboard_iot) == 0  # refused before the API is asked


def test_anonymous_reveal_is_sent_to_the_login_page(dashboard_iot, client):
    dashboard_iot.request_log.clear()

    response = post_reveal(client, "thermo-001", password=ROLE_PASSWORD)

    assert response.status_code == 302
    expected = redirect_to_login(reveal_url("thermo-001"))["Location"]
    assert response["Location"] == expected
    assert b"PRIVATE KEY" not in response.content
    assert api_calls(dashboard_iot) == 0


# --- the reason -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason",
    ["", "   ", "too short", "Ticket 12\x07345 bell", "Ticket 12345\x00 nul", "OPS-1 \x1b[31m red"],
    ids=["missing", "blank", "short", "bell", "nul", "escape"],
)
def test_reveal_without_a_valid_reason_is_refused_and_audited(
    dashboard_iot, custodian_client, reason
):
    reauth_now(custodian_client)
    dashboard_iot.request_log.clear()

    response = custodian_client.post(
        reveal_url("thermo-001"), {"action": "reveal", "reason": reason}
    )

    assert response.status_code == 400
    assert b"PRIVATE KEY" not in response.content
    [event] = events()
    assert (event.action, event.outcome) == (AuditAction.KEY_REVEAL, AuditOutcome.REFUSED)
    assert event.detail == "no valid reason given"
    assert api_calls(dashboard_iot) == 0


def test_a_reason_spanning_lines_is_refused_and_says_so(dashboard_iot, custodian_client):
    # A line break would let one reason pass for several rows wherever it is shown.
    reauth_now(custodian_client)
    reason = "Ticket OPS-4711\r\nBoard swapped, reprovisioning."

    response = custodian_client.post(
        reveal_url("thermo-001"), {"action": "reveal", "reason": reason}
    )

    assert response.status_code == 400
    assert "Write the reason on one line" in response.content.decode()
    [event] = events()
    assert (event.outcome, event.reason) == (AuditOutcome.REFUSED, "")


# --- re-authentication ------------------------------------------------------------------------


def test_first_reveal_without_password_asks_for_it_and_is_audited(dashboard_iot, custodian_client):
    dashboard_iot.request_log.clear()

    response = post_reveal(custodian_client, "thermo-001")

    assert response.status_code == 400
    body = response.content.decode()
    assert 'name="password"' in body
    assert "Enter your password" in body
    assert "PRIVATE KEY" not in body
    [event] = events()
    assert event.outcome == AuditOutcome.DENIED
    assert event.detail == "re-authentication required"
    assert event.reason == ""  # a refused attempt records why it was refused, not the reason
    assert api_calls(dashboard_iot) == 0


def test_wrong_password_is_refused_and_audited(dashboard_iot, custodian_client):
    response = post_reveal(custodian_client, "thermo-001", password="not-my-password-at-all")

    assert response.status_code == 400
    assert "That password is not correct" in response.content.decode()
    assert "PRIVATE KEY" not in response.content.decode()
    [event] = events()
    assert event.outcome == AuditOutcome.DENIED
    assert event.detail == "re-authentication failed"
    assert REAUTH_SESSION_KEY not in custodian_client.session


def test_second_reveal_within_the_window_needs_no_password(dashboard_iot, custodian_client):
    api = api_answer(dashboard_iot, "thermo-001")

    first = post_reveal(custodian_client, "thermo-001", password=ROLE_PASSWORD)
    second = post_reveal(custodian_client, "thermo-001")

    assert first.status_code == second.status_code == 200
    assert api.private_key.strip() in second.content.decode()
    assert [e.outcome for e in events()] == [AuditOutcome.SUCCESS, AuditOutcome.SUCCESS]


def test_after_the_window_a_password_is_needed_again(dashboard_iot, custodian_client):
    assert post_reveal(custodian_client, "thermo-001", password=ROLE_PASSWORD).status_code == 200
    session = custodian_client.session
    session[REAUTH_SESSION_KEY] -= settings.REAUTH_MAX_AGE_SECONDS + 1
    session.save()

    stale = post_reveal(custodian_client, "thermo-001")
    renewed = post_reveal(custodian_client, "thermo-001", password=ROLE_PASSWORD)

    assert stale.status_code == 400
    assert "PRIVATE KEY" not in stale.content.decode()
    assert renewed.status_code == 200
    assert [(e.outcome, e.detail) for e in events()] == [
        (AuditOutcome.SUCCESS, ""),
        (AuditOutcome.DENIED, "re-authentication required"),
        (AuditOutcome.SUCCESS, ""),
    ]


def test_a_zero_window_always_asks_for_the_password(dashboard_iot, custodian_client, settings):
    settings.REAUTH_MAX_AGE_SECONDS = 0
    assert post_reveal(custodian_client, "thermo-001", password=ROLE_PASSWORD).status_code == 200
    time.sleep(0.01)

    response = post_reveal(custodian_client, "thermo-001")

    assert response.status_code == 400
    assert "PRIVATE KEY" not in response.content.decode()


def test_a_timestamp_from_the_future_is_not_fresh(dashboard_iot, custodian_client):
    session = custodian_client.session
    session[REAUTH_SESSION_KEY] = time.time() + 3600
    session.save()

    response = post_reveal(custodian_client, "thermo-001")

    assert response.status_code == 400
    assert "PRIVATE KEY" not in response.content.decode()


def test_wrong_passwords_count_towards_the_login_lockout(dashboard_iot, custodian_client):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = post_reveal(custodian_client, "thermo-001", password="wrong-password-guess")
        assert "PRIVATE KEY" not in response.content.decode()

    locked = post_reveal(custodian_client, "thermo-001", password=ROLE_PASSWORD)

    assert locked.status_code != 200
    assert "PRIVATE KEY" not in locked.content.decode()
    assert not AuditEvent.objects.filter(outcome=AuditOutcome.SUCCESS).exists()


# --- the key is fetched fresh and kept nowhere ------------------------------------------------


def test_every_reveal_asks_the_api_even_when_the_inventory_is_fresh(
    dashboard_iot, custodian_client
):
    assert custodian_client.get(f"/devices/{PK}/thermo-003/").status_code == 200
    assert CertificateRecord.objects.filter(device_name="thermo-003").exists()
    reauth_now(custodian_client)
    dashboard_iot.request_log.clear()

    for expected in (1, 2, 3):
        assert post_reveal(custodian_client, "thermo-003").status_code == 200
        assert api_calls(dashboard_iot) == expected


def _cache_values() -> list[bytes]:
    """Every value in the cache, raw (pickled) bytes."""
    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        return [bytes(value) for value in cache._cache.values()]
    redis = cache._cache.get_client(None, write=False)
    values = []
    for name in redis.scan_iter(count=500):
        if redis.type(name) in (b"string", "string"):
            values.append(redis.get(name) or b"")
        else:
            values.append(repr(redis.dump(name)).encode())
    return values


def test_the_key_is_kept_nowhere_after_a_reveal(dashboard_iot, custodian_client, caplog):
    api = api_answer(dashboard_iot, "gateway-07")
    key_text = api.private_key
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    caplog.set_level(logging.DEBUG, logger="axes")

    with CaptureQueriesContext(connection) as queries:
        page = custodian_client.get(f"/devices/{PK}/gateway-07/")
        revealed = post_reveal(custodian_client, "gateway-07", password=ROLE_PASSWORD)
        again = post_reveal(custodian_client, "gateway-07")

    assert page.status_code == revealed.status_code == again.status_code == 200
    assert key_text.strip() in revealed.content.decode()
    assert_no_key_in(page.content.decode(), key_text, "the certificate page")
    for record in CertificateRecord.objects.all():
        for field in record._meta.fields:
            assert_no_key_in(str(getattr(record, field.attname)), key_text, "the inventory")
    for event in AuditEvent.objects.all():
        for field in event._meta.fields:
            assert_no_key_in(str(getattr(event, field.attname)), key_text, "the audit trail")
    for value in _cache_values():
        assert_no_key_in(value.decode("latin-1"), key_text, "the cache")
    for name, value in custodian_client.session.items():
        assert_no_key_in(f"{name}={value!r}", key_text, "the session")
    for query in queries.captured_queries:
        assert_no_key_in(query["sql"], key_text, "an SQL statement")
    for record in caplog.records:
        assert_no_key_in(record.getMessage(), key_text, f"a log line of {record.name}")
        assert_no_key_in(str(record.args), key_text, f"log arguments of {record.name}")
    assert_no_key_in(caplog.text, key_text, "the captured log")


def test_an_unreadable_key_is_shown_as_returned_and_flagged(dashboard_iot, custodian_client):
    dashboard_iot.add_device(
        {
            "product_key": "a1RevealT3st",
            "device_name": "garbled-key",
            "certificate": api_answer(dashboard_iot, "thermo-001").certificate,
            "private_key": "this is not a private key at all",
        }
    )
    reauth_now(custodian_client)

    response = post_reveal(custodian_client, "garbled-key", product_key="a1RevealT3st")

    assert response.status_code == 200
    body = response.content.decode()
    assert "this is not a private key at all" in body
    assert "could not be parsed" in body
    [event] = events()
    assert event.outcome == AuditOutcome.SUCCESS
    assert event.key_fingerprint == ""


def test_a_key_of_another_certificate_is_revealed_with_a_warning(dashboard_iot, custodian_client):
    dashboard_iot.add_device(
        {
            "product_key": "a1RevealT3st",
            "device_name": "wrong-key",
            "certificate": api_answer(dashboard_iot, "thermo-001").certificate,
            "private_key": api_answer(dashboard_iot, "thermo-002").private_key,
        }
    )
    reauth_now(custodian_client)

    response = post_reveal(custodian_client, "wrong-key", product_key="a1RevealT3st")

    assert response.status_code == 200
    assert "Warning: this key does not match the device" in response.content.decode()


# --- htmx ---------------------------------------------------------------------------------------


def test_htmx_reveal_returns_the_panel_that_hides_itself(dashboard_iot, custodian_client, settings):
    settings.KEY_REVEAL_VISIBLE_SECONDS = 45
    api = api_answer(dashboard_iot, "edge-ec01")
    reauth_now(custodian_client)

    response = custodian_client.post(
        reveal_url("edge-ec01"),
        {"action": "reveal", "reason": REASON},
        headers={"hx-request": "true"},
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body
    assert 'data-hide-after="45"' in body
    assert api.private_key.strip() in body
    assert "no-store" in response["Cache-Control"]


def test_the_revealed_key_page_offers_without_javascript_only_what_works_without_it(
    dashboard_iot, custodian_client
):
    reauth_now(custodian_client)

    response = post_reveal(custodian_client, "thermo-001")

    body = response.content.decode()
    # Copy and the countdown wait for app.js; what is true without it is said instead.
    assert re.search(r'<button type="button" data-copy-target="private-key"[^>]* hidden>', body)
    assert re.search(r"<span data-hide-notice hidden>The key hides itself in", body)
    assert "<span data-stay-notice>The key stays on this page until you leave it" in body
    # Download key is a real form: the key alone through the audited key download.
    download = re.search(
        r'<form method="post" action="([^"]+)" class="actions">(.*?)</form>', body, re.S
    )
    assert download.group(1) == reveal_url("thermo-001")
    fields = dict(
        re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', download.group(2))
    )
    assert (fields["action"], fields["reason"]) == ("key", REASON)
    assert '<button type="submit" data-download-target="private-key"' in download.group(2)

    fields.pop("csrfmiddlewaretoken", None)
    file = custodian_client.post(reveal_url("thermo-001"), fields)

    assert file.status_code == 200
    assert file["Content-Disposition"] == (
        f'attachment; filename="{PK}_thermo-001.private-key.pem"'
    )
    assert b"PRIVATE KEY" in file.content
    [event] = events(action=AuditAction.KEY_DOWNLOAD)
    assert (event.outcome, event.reason, event.detail) == (AuditOutcome.SUCCESS, REASON, "key")


def test_htmx_refusal_is_swapped_in_as_the_form(dashboard_iot, custodian_client):
    response = custodian_client.post(
        reveal_url("thermo-001"),
        {"action": "reveal", "reason": REASON},
        headers={"hx-request": "true"},
    )

    assert response.status_code == 400  # a real status: base.html's htmx config swaps 4xx in
    body = response.content.decode()
    assert "<html" not in body
    assert 'name="password"' in body
    assert "PRIVATE KEY" not in body


# --- upstream failures --------------------------------------------------------------------------


def test_unknown_device_is_reported_and_audited_as_failed(dashboard_iot, custodian_client):
    reauth_now(custodian_client)

    response = post_reveal(custodian_client, "no-such-device")

    assert response.status_code == 404
    body = response.content.decode()
    assert "There is no device no-such-device" in body
    assert "iot.device.NotExistedDevice" in body
    [event] = events()
    assert (event.action, event.outcome) == (AuditAction.KEY_REVEAL, AuditOutcome.FAILED)
    assert event.platform_code == "iot.device.NotExistedDevice"
    assert event.platform_request_id
    assert event.platform_request_id in body
    assert event.reason == REASON


def test_enterprise_device_without_its_instance_is_404_and_audited_as_failed(
    dashboard_iot, custodian_client
):
    reauth_now(custodian_client)

    response = post_reveal(custodian_client, "ent-gw-01", product_key=ENTERPRISE_PRODUCT_KEY)

    assert response.status_code == 404
    assert "PRIVATE KEY" not in response.content.decode()
    [event] = events()
    assert event.outcome == AuditOutcome.FAILED
    assert event.platform_code == "iot.system.InstanceNotFound"


def test_enterprise_device_with_its_instance_is_revealed(dashboard_iot, custodian_client):
    reauth_now(custodian_client)

    response = post_reveal(
        custodian_client,
        "ent-gw-01",
        product_key=ENTERPRISE_PRODUCT_KEY,
        instance=ENTERPRISE_INSTANCE_ID,
    )

    assert response.status_code == 200
    assert "PRIVATE KEY-----" in response.content.decode()
    [event] = events()
    assert (event.outcome, event.iot_instance_id) == (AuditOutcome.SUCCESS, ENTERPRISE_INSTANCE_ID)


@pytest.mark.parametrize("device_name", ["sensor-gen", "sensor-fail"])
def test_certificate_not_ready_reveals_nothing_and_is_audited_as_failed(
    dashboard_iot, custodian_client, device_name
):
    reauth_now(custodian_client)

    response = post_reveal(custodian_client, device_name)

    assert response.status_code == 409
    body = response.content.decode()
    assert "not ready" in body
    assert "PRIVATE KEY" not in body
    [event] = events()
    assert event.outcome == AuditOutcome.FAILED
    assert event.platform_request_id
    assert event.key_fingerprint == ""


def test_platform_outage_reveals_nothing_and_is_audited_with_code_and_request_id(
    dashboard_iot, custodian_client
):
    reauth_now(custodian_client)
    dashboard_iot.set_fault("5xx")

    response = post_reveal(custodian_client, "thermo-001")

    assert response.status_code == 502
    body = response.content.decode()
    assert "PRIVATE KEY" not in body
    assert "could not answer" in body
    [event] = events()
    assert event.outcome == AuditOutcome.FAILED
    assert event.platform_code == "ServiceUnavailable"
    assert event.platform_request_id
    assert api_calls(dashboard_iot) > 1  # a 5xx is retried before giving up


def test_malformed_answer_reveals_nothing_and_is_audited_as_failed(dashboard_iot, custodian_client):
    reauth_now(custodian_client)
    dashboard_iot.set_fault("malformed")

    response = post_reveal(custodian_client, "thermo-001")

    assert response.status_code == 502
    assert "PRIVATE KEY" not in response.content.decode()
    [event] = events()
    assert event.outcome == AuditOutcome.FAILED


def test_invalid_device_name_in_the_path_is_404_without_calling_the_api(
    dashboard_iot, custodian_client
):
    reauth_now(custodian_client)
    dashboard_iot.request_log.clear()

    response = custodian_client.post(
        reverse("devices:key", args=[PK, "bad name!"]), {"action": "reveal", "reason": REASON}
    )

    assert response.status_code == 404
    assert api_calls(dashboard_iot) == 0


# --- many at once -------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_reveals_all_succeed_and_keep_the_chain_intact(
    dashboard_iot, custodian, settings
):
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip(
            "threads need a server database: the in-memory SQLite test database is "
            "shared-cache and fails instead of waiting (run with DATABASE_URL=postgres://…)"
        )
    workers = 20
    # The audit chain under load, not the per-person cap (tests/devices/test_live_lookups.py).
    settings.LIVE_LOOKUPS_PER_USER = workers
    api = api_answer(dashboard_iot, "sensor-0001")
    dashboard_iot.reset_rate_limits()
    clients = []
    for _ in range(workers):  # one custodian, a session each
        client = Client()
        client.force_login(custodian)
        reauth_now(client)
        clients.append(client)
    start = threading.Barrier(workers)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def reveal(client: Client) -> None:
        try:
            start.wait(timeout=30)
            response = post_reveal(client, "sensor-0001")
            results.append((response.status_code, api.private_key.strip() in response.text))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=reveal, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert results == [(200, True)] * workers
    assert AuditEvent.objects.filter(outcome=AuditOutcome.SUCCESS).count() == workers
    assert AuditEvent.objects.count() == workers
    report = chain_verify()
    assert report.ok, report.message
    assert report.checked == workers
