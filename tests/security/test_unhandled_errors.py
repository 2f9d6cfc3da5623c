"""Failures that used to be a 500.

An unreadable CA bundle is said on the page and by ``manage.py check``, and the rest works.
A write-locked inventory costs neither the page nor the download; the audit trail stays fail
closed. The lock is real: another PostgreSQL connection holds it.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.checks import run_checks
from django.db import connection, connections, transaction

from certadmin.audit.models import AuditAction, AuditEvent
from certadmin.devices.models import CertificateRecord, RecentDevice
from certadmin.devices.platform import ca_bundle
from certadmin.emulator import DEMO_PRODUCT_KEY

PK = DEMO_PRODUCT_KEY
DEVICE_URL = f"/devices/{PK}/thermo-001/"

CORRUPT_BUNDLES = {
    "not-utf-8": (b"\xff\xfe\x00-----BEGIN CERTIFICATE-----\n", "not UTF-8 text"),
    "bad-block": (
        b"-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n",
        "CA bundle block 1: not base64",
    ),
    "not-a-certificate": (
        b"-----BEGIN CERTIFICATE-----\nTUlJQmFkZA==\n-----END CERTIFICATE-----\n",
        "CA bundle block 1: DER is not an X.509 certificate",
    ),
}


@pytest.fixture(params=sorted(CORRUPT_BUNDLES))
def corrupt_bundle(request, dashboard_iot, settings, tmp_path):
    content, reason = CORRUPT_BUNDLES[request.param]
    path = tmp_path / f"ca-{request.param}.pem"
    path.write_bytes(content)
    settings.IOT_CA_BUNDLE = str(path)
    return path, reason


@pytest.mark.django_db
def test_an_unreadable_ca_bundle_is_said_on_the_page_and_the_rest_works(
    corrupt_bundle, viewer, client_for
):
    _, reason = corrupt_bundle
    browser = client_for(viewer)

    page = browser.get(DEVICE_URL + "?refresh=1")
    chain = browser.get(DEVICE_URL + "certificate/chain/")
    pem = browser.get(DEVICE_URL + "certificate/pem/")

    html = page.content.decode()
    assert page.status_code == 200
    assert f"The CA bundle cannot be used: {reason}" in html
    assert "SHA-256 fingerprint" in html
    assert chain.status_code == pem.status_code == 200
    # Without a readable bundle the chain file holds the device certificate alone.
    assert chain.content.count(b"BEGIN CERTIFICATE") == 1


@pytest.mark.django_db
def test_manage_py_check_names_the_unreadable_ca_bundle(corrupt_bundle):
    path, reason = corrupt_bundle

    messages = [m for m in run_checks() if m.id and m.id.startswith("certadmin.W10")]

    assert [m.id for m in messages] == ["certadmin.W102"]
    assert str(path) in messages[0].msg
    assert reason in messages[0].msg


@pytest.mark.django_db
def test_manage_py_check_warns_of_a_missing_ca_bundle_and_is_quiet_for_a_good_one(
    dashboard_iot, settings, tmp_path
):
    assert [m for m in run_checks() if m.id and m.id.startswith("certadmin.W10")] == []

    settings.IOT_CA_BUNDLE = str(tmp_path / "absent.pem")

    assert [m.id for m in run_checks() if m.id and m.id.startswith("certadmin.W10")] == [
        "certadmin.W101"
    ]


# --- a CA bundle of no use: missing, a directory, empty, without a certificate

UNUSABLE_BUNDLES = {
    "missing": (None, "the file does not exist", "certadmin.W101"),
    "a directory": ("dir", "a directory, not a file", "certadmin.W102"),
    "empty": (b"", "the file is empty", "certadmin.W102"),
    "blank": (b"\n  \n", "the file is empty", "certadmin.W102"),
    "text": (b"ask ops for the CA\n", "no certificate in the file", "certadmin.W102"),
    "a private key only": (
        "key",
        "no certificate in the file, only a private key",
        "certadmin.W102",
    ),
}


@pytest.fixture(params=sorted(UNUSABLE_BUNDLES))
def unusable_bundle(request, dashboard_iot, settings, tmp_path):
    content, reason, check_id = UNUSABLE_BUNDLES[request.param]
    path = tmp_path / "ca.pem"
    if content == "dir":
        path.mkdir()
    elif content == "key":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    elif content is not None:
        path.write_bytes(content)
    settings.IOT_CA_BUNDLE = str(path)
    return path, reason, check_id


@pytest.mark.django_db
def test_a_missing_empty_or_certificate_less_bundle_is_said_on_the_page(
    unusable_bundle, viewer, client_for
):
    _, reason, _ = unusable_bundle
    browser = client_for(viewer)

    page = browser.get(DEVICE_URL + "?refresh=1")

    html = page.content.decode()
    assert page.status_code == 200
    assert f"The CA bundle cannot be used: {reason}" in html
    assert "The issuer is not in the configured CA bundle" not in html
    assert "PRIVATE KEY" not in html
    assert "SHA-256 fingerprint" in html


@pytest.mark.django_db
def test_manage_py_check_says_why_the_bundle_cannot_be_used(unusable_bundle):
    path, reason, check_id = unusable_bundle

    messages = [m for m in run_checks() if m.id and m.id.startswith("certadmin.W10")]

    assert [m.id for m in messages] == [check_id]
    assert str(path) in messages[0].msg
    if check_id == "certadmin.W102":
        assert reason in messages[0].msg


@pytest.mark.django_db
def test_a_bundle_put_right_is_used_at_once(dashboard_iot, settings, tmp_path):
    good = settings.IOT_CA_BUNDLE
    path = tmp_path / "ca.pem"
    settings.IOT_CA_BUNDLE = str(path)
    assert ca_bundle().problem == "the file does not exist"
    path.write_bytes(b"")
    assert ca_bundle().problem == "the file is empty"
    path.write_bytes(Path(good).read_bytes())
    assert ca_bundle().problem == ""
    assert ca_bundle().certificates


# --- a write-locked database ------------------------------------------------------------------


@contextmanager
def tables_locked_elsewhere(*models) -> Iterator[None]:
    """Another connection holds an EXCLUSIVE lock (reads go on, writes wait) on the tables;
    this connection gives up waiting for a lock after 300 ms."""
    held, release = threading.Event(), threading.Event()
    names = ", ".join(model._meta.db_table for model in models)

    def hold() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {names} IN EXCLUSIVE MODE")
                held.set()
                release.wait(timeout=60)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    with connections["default"].cursor() as cursor:
        cursor.execute("SET lock_timeout = '300ms'")
    try:
        assert held.wait(timeout=10)
        yield
    finally:
        release.set()
        holder.join(timeout=30)
        with connections["default"].cursor() as cursor:
            cursor.execute("RESET lock_timeout")


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="table locks are taken with PostgreSQL's LOCK TABLE"
)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_write_locked_inventory_costs_neither_the_page_nor_the_download(
    dashboard_iot, viewer, client_for, caplog
):
    browser = client_for(viewer)

    with tables_locked_elsewhere(CertificateRecord, RecentDevice):
        page = browser.get(DEVICE_URL + "?refresh=1")
        download = browser.get(DEVICE_URL + "certificate/pem/")

    assert page.status_code == 200
    assert "SHA-256 fingerprint" in page.content.decode()
    assert download.status_code == 200
    assert download.content.startswith(b"-----BEGIN CERTIFICATE-----")
    assert "the inventory was not updated" in caplog.text
    # The audit trail was not locked: the download is recorded as ever.
    assert AuditEvent.objects.filter(action=AuditAction.CERT_DOWNLOAD).count() == 1


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_write_locked_audit_trail_still_refuses_the_download(dashboard_iot, viewer, client_for):
    browser = client_for(viewer)

    with tables_locked_elsewhere(CertificateRecord, RecentDevice, AuditEvent):
        download = browser.get(DEVICE_URL + "certificate/pem/")

    assert download.status_code == 503
    assert "Content-Disposition" not in download
    assert b"BEGIN CERTIFICATE" not in download.content
