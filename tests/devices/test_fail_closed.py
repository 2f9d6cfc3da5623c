"""Fail closed: when the audit record cannot be written, no key and no file leave the server.

The audit write really fails here (the table is renamed away, or the chain lock is held by
another connection); nothing is mocked.
"""

import io
import logging
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from certadmin.audit import services
from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.services import CHAIN_LOCK_ID
from certadmin.audit.verification import chain_verify
from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.support.emulator import api_calls
from tests.support.key_material import api_answer, key_fragments

PK = DEMO_PRODUCT_KEY
REASON = "Ticket OPS-9000: audit outage drill, nothing may leave"
PASSPHRASE = "a long p12 passphrase 42"
AUDIT_TABLE = "audit_auditevent"

pytestmark = pytest.mark.django_db(transaction=True)


def api_key_text(emulator, device_name: str) -> str:
    return api_answer(emulator, device_name, PK).private_key


def assert_no_key(text: str, key_text: str) -> None:
    assert "PRIVATE KEY" not in text
    for fragment in key_fragments(key_text):
        assert fragment not in text


@contextmanager
def audit_table_gone() -> Iterator[None]:
    """The audit table renamed away (SQLite and PostgreSQL alike), restored afterwards."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {AUDIT_TABLE} RENAME TO {AUDIT_TABLE}_away")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {AUDIT_TABLE}_away RENAME TO {AUDIT_TABLE}")


@contextmanager
def chain_lock_held_elsewhere() -> Iterator[None]:
    """Another connection holds the audit chain's advisory lock (PostgreSQL)."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])
                held.set()
                release.wait(timeout=60)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(timeout=10)
        yield
    finally:
        release.set()
        holder.join(timeout=30)


def reveal(client: Client, device_name: str):
    return client.post(
        reverse("devices:key", args=[PK, device_name]), {"action": "reveal", "reason": REASON}
    )


def bundle(client: Client, device_name: str, kind: str):
    return client.post(
        reverse("devices:key", args=[PK, device_name]),
        {
            "action": kind,
            "reason": REASON,
            "passphrase": PASSPHRASE,
            "passphrase_confirm": PASSPHRASE,
        },
    )


# --- the audit table is gone --------------------------------------------------------------------


def test_reveal_is_refused_with_503_when_the_audit_trail_cannot_be_written(
    dashboard_iot, custodian_client_reauthenticated, caplog
):
    key_text = api_key_text(dashboard_iot, "thermo-001")
    dashboard_iot.request_log.clear()
    caplog.set_level(logging.DEBUG)

    with audit_table_gone():
        response = reveal(custodian_client_reauthenticated, "thermo-001")

    assert response.status_code == 503
    body = response.content.decode()
    assert "audit trail could not record this" in body
    assert_no_key(body, key_text)
    assert "no-store" in response["Cache-Control"]
    assert api_calls(dashboard_iot) == 1  # the key was fetched, then withheld
    for record in caplog.records:
        assert_no_key(record.getMessage(), key_text)
    assert not AuditEvent.objects.exists()


def test_htmx_reveal_is_refused_too_when_the_audit_trail_cannot_be_written(
    dashboard_iot, custodian_client_reauthenticated
):
    key_text = api_key_text(dashboard_iot, "edge-ec01")

    with audit_table_gone():
        response = custodian_client_reauthenticated.post(
            reverse("devices:key", args=[PK, "edge-ec01"]),
            {"action": "reveal", "reason": REASON},
            headers={"hx-request": "true"},
        )

    body = response.content.decode()
    assert "audit trail could not record this" in body
    assert_no_key(body, key_text)


@pytest.mark.parametrize("kind", ["key", "p12", "zip"])
def test_key_bundle_is_refused_with_503_when_the_audit_trail_cannot_be_written(
    dashboard_iot, custodian_client_reauthenticated, kind
):
    key_text = api_key_text(dashboard_iot, "thermo-002")
    dashboard_iot.request_log.clear()

    with audit_table_gone():
        response = bundle(custodian_client_reauthenticated, "thermo-002", kind)

    assert response.status_code == 503
    assert "Content-Disposition" not in response
    assert response["Content-Type"].startswith("text/html")
    assert_no_key(response.content.decode(errors="replace"), key_text)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(response.content))
    assert api_calls(dashboard_iot) == 1


@pytest.mark.parametrize("kind", ["pem", "der", "chain"])
def test_certificate_download_is_refused_with_503_when_the_audit_trail_cannot_be_written(
    dashboard_iot, viewer_client, kind
):
    with audit_table_gone():
        response = viewer_client.get(
            reverse("devices:certificate-download", args=[PK, "thermo-001", kind])
        )

    assert response.status_code == 503
    assert "Content-Disposition" not in response
    assert b"BEGIN CERTIFICATE" not in response.content
    assert "audit trail could not record this" in response.content.decode()


def test_refusals_still_refuse_when_the_audit_trail_cannot_be_written(
    dashboard_iot, viewer_client, custodian_client_reauthenticated
):
    with audit_table_gone():
        no_permission = reveal(viewer_client, "thermo-001")
        no_reason = custodian_client_reauthenticated.post(
            reverse("devices:key", args=[PK, "thermo-001"]), {"action": "reveal", "reason": ""}
        )

    assert no_permission.status_code == 403
    assert no_reason.status_code == 400
    assert "PRIVATE KEY" not in no_permission.content.decode()
    assert "PRIVATE KEY" not in no_reason.content.decode()


def test_reveals_work_again_once_the_audit_trail_is_back(
    dashboard_iot, custodian_client_reauthenticated
):
    key_text = api_key_text(dashboard_iot, "thermo-001")
    with audit_table_gone():
        assert reveal(custodian_client_reauthenticated, "thermo-001").status_code == 503

    response = reveal(custodian_client_reauthenticated, "thermo-001")

    assert response.status_code == 200
    assert key_text.strip() in response.content.decode()
    [event] = AuditEvent.objects.all()
    assert (event.action, event.outcome) == (AuditAction.KEY_REVEAL, AuditOutcome.SUCCESS)
    assert chain_verify().ok


# --- the chain lock is held elsewhere -----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("action", ["reveal", "p12", "certificate"])
def test_a_held_chain_lock_makes_key_and_file_releases_fail_closed(
    dashboard_iot, custodian_client_reauthenticated, monkeypatch, action
):
    if connection.vendor != "postgresql":
        pytest.skip(
            "the chain lock is a PostgreSQL advisory lock; on SQLite the in-memory test "
            "database cannot hold a write lock from another thread"
        )
    monkeypatch.setattr(services, "LOCK_TIMEOUT", "300ms")
    key_text = api_key_text(dashboard_iot, "gateway-07")

    with chain_lock_held_elsewhere():
        if action == "reveal":
            response = reveal(custodian_client_reauthenticated, "gateway-07")
        elif action == "p12":
            response = bundle(custodian_client_reauthenticated, "gateway-07", "p12")
        else:
            response = custodian_client_reauthenticated.get(
                reverse("devices:certificate-download", args=[PK, "gateway-07", "pem"])
            )

    assert response.status_code == 503
    assert "Content-Disposition" not in response
    assert_no_key(response.content.decode(errors="replace"), key_text)
    assert not AuditEvent.objects.exists()
    assert (
        reveal(custodian_client_reauthenticated, "gateway-07").status_code == 200
    )  # lock free: works again
    assert chain_verify().ok
