"""Downloads: the certificate alone (PEM, DER, chain) for viewers, and bundles with the
private key (PKCS#8 PEM, PKCS#12, ZIP) for key custodians, each audited."""

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.conf import settings
from django.test import Client
from django.urls import reverse

from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.certs.details import certificate_details
from certadmin.certs.fingerprints import private_key_matches, public_key_sha256
from certadmin.certs.loading import load_certificate, load_private_key
from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.support.certificates import make_ca, make_leaf, name
from tests.support.key_material import api_answer, events, key_fragments, reauth_now
from tests.support.people import ROLE_PASSWORD

PK = DEMO_PRODUCT_KEY
OWN_PRODUCT = "a1DownL0ad9x"  # devices this module adds to the shared emulator
REASON = "Ticket OPS-5150: provisioning a replacement board"
PASSPHRASE = "a long p12 passphrase 42"
PROJECT_DIR = Path(__file__).resolve().parents[2]


# --- helpers ----------------------------------------------------------------------------------


def certificate_url(device_name: str, kind: str, product_key: str = PK) -> str:
    return reverse("devices:certificate-download", args=[product_key, device_name, kind])


def bundle_url(device_name: str, product_key: str = PK) -> str:
    return reverse("devices:key", args=[product_key, device_name])


def post_bundle(client: Client, device_name: str, kind: str, product_key: str = PK, **data):
    payload = {"action": kind, "reason": REASON}
    if kind in ("p12", "zip"):
        payload.update(passphrase=PASSPHRASE, passphrase_confirm=PASSPHRASE)
    payload.update(data)
    return client.post(bundle_url(device_name, product_key), payload)


def pem_certificates(data: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(data)


def attachment_name(response) -> str:
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; filename=")
    return disposition.removeprefix("attachment; filename=").strip('"')


@pytest.fixture
def emulator_ca(dashboard_iot) -> x509.Certificate:
    return x509.load_pem_x509_certificate(dashboard_iot.ca_certificate_pem.encode())


@pytest.fixture(scope="module")
def foreign_leaf():
    """A device certificate from a CA the dashboard does not know."""
    ca = make_ca(subject=name("Some Other Device CA", organization="Elsewhere"), key_slot=31)
    return make_leaf(ca, key_slot=32)


# --- certificates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "filename", "content_type"),
    [
        ("pem", "a1Demo7Sh2x_thermo-001.certificate.pem", "application/x-pem-file"),
        ("der", "a1Demo7Sh2x_thermo-001.certificate.der", "application/pkix-cert"),
        ("chain", "a1Demo7Sh2x_thermo-001.chain.pem", "application/x-pem-file"),
    ],
)
def test_viewer_downloads_the_certificate_the_api_returned(
    dashboard_iot, viewer, viewer_client, emulator_ca, kind, filename, content_type
):
    api_certificate = load_certificate(api_answer(dashboard_iot, "thermo-001").certificate)

    response = viewer_client.get(certificate_url("thermo-001", kind))

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert response["Content-Type"] == content_type
    assert response["X-Content-Type-Options"] == "nosniff"
    if kind == "der":
        certificates = [x509.load_der_x509_certificate(response.content)]
    else:
        certificates = pem_certificates(response.content)
    assert certificates[0] == api_certificate
    assert certificates[1:] == ([emulator_ca] if kind == "chain" else [])
    assert b"PRIVATE KEY" not in response.content
    [event] = events()
    assert (event.action, event.outcome) == (AuditAction.CERT_DOWNLOAD, AuditOutcome.SUCCESS)
    assert event.actor_username == viewer.username
    assert (event.product_key, event.device_name) == (PK, "thermo-001")
    assert event.detail == filename
    assert event.cert_sn == str(api_certificate.serial_number)
    assert event.certificate_sha256 == certificate_details(api_certificate).sha256_fingerprint
    assert event.key_fingerprint == ""


def test_each_certificate_download_is_recorded(dashboard_iot, viewer_client):
    for kind in ("pem", "der", "chain", "pem"):
        assert viewer_client.get(certificate_url("gateway-07", kind)).status_code == 200

    recorded = events(action=AuditAction.CERT_DOWNLOAD, outcome=AuditOutcome.SUCCESS)
    assert [e.detail.rsplit(".", 2)[-2:] for e in recorded] == [
        ["certificate", "pem"],
        ["certificate", "der"],
        ["chain", "pem"],
        ["certificate", "pem"],
    ]


def test_headerless_base64_certificate_downloads_as_proper_pem(
    dashboard_iot, viewer_client, emulator_ca
):
    api_certificate = load_certificate(api_answer(dashboard_iot, "legacy-b64").certificate)

    response = viewer_client.get(certificate_url("legacy-b64", "chain"))

    assert response.status_code == 200
    assert response.content.startswith(b"-----BEGIN CERTIFICATE-----\n")
    assert b"\r" not in response.content
    assert pem_certificates(response.content) == [api_certificate, emulator_ca]


def test_chain_of_an_expired_certificate_still_names_its_ca(
    dashboard_iot, viewer_client, emulator_ca
):
    response = viewer_client.get(certificate_url("meter-expired", "chain"))

    assert response.status_code == 200
    assert pem_certificates(response.content)[1:] == [emulator_ca]


def test_chain_from_an_unknown_ca_holds_the_certificate_alone(
    dashboard_iot, viewer_client, foreign_leaf
):
    dashboard_iot.add_device(
        {
            "product_key": OWN_PRODUCT,
            "device_name": "foreign-ca",
            "certificate": foreign_leaf.cert_pem,
            "private_key": foreign_leaf.key_pem(),
        }
    )

    response = viewer_client.get(certificate_url("foreign-ca", "chain", OWN_PRODUCT))

    assert response.status_code == 200
    assert pem_certificates(response.content) == [foreign_leaf.cert]


@pytest.mark.parametrize(
    ("device_name", "filename"),
    [
        ("cam-lobby:01", "a1Demo7Sh2x_cam-lobby_01.certificate.pem"),
        ("lab.probe@b2", "a1Demo7Sh2x_lab.probe@b2.certificate.pem"),
    ],
)
def test_file_names_are_safe_for_unusual_device_names(
    dashboard_iot, viewer_client, device_name, filename
):
    response = viewer_client.get(certificate_url(device_name, "pem"))

    assert response.status_code == 200
    assert attachment_name(response) == filename
    assert ":" not in attachment_name(response)


def test_certificate_not_issued_yet_is_409_without_a_file(dashboard_iot, viewer_client):
    response = viewer_client.get(certificate_url("sensor-gen", "pem"))

    assert response.status_code == 409
    assert "Content-Disposition" not in response
    assert "not ready" in response.content.decode()
    assert not events(outcome=AuditOutcome.SUCCESS)


def test_unknown_device_certificate_is_404_with_the_platform_code(dashboard_iot, viewer_client):
    response = viewer_client.get(certificate_url("no-such-device", "pem"))

    assert response.status_code == 404
    assert "Content-Disposition" not in response
    assert "iot.device.NotExistedDevice" in response.content.decode()


def test_unknown_certificate_format_is_404(dashboard_iot, viewer_client):
    dashboard_iot.request_log.clear()

    response = viewer_client.get(certificate_url("thermo-001", "p7b"))

    assert response.status_code == 404
    assert "Content-Disposition" not in response
    assert dashboard_iot.request_log == []


@pytest.mark.parametrize("role", ["Auditor", None])
def test_certificate_download_needs_the_viewer_permission(dashboard_iot, make_user, role):
    client = Client()
    client.force_login(make_user(role))

    response = client.get(certificate_url("thermo-001", "pem"))

    assert response.status_code == 403
    assert "Content-Disposition" not in response


def test_anonymous_certificate_download_is_sent_to_the_login_page(dashboard_iot, client):
    response = client.get(certificate_url("thermo-001", "pem"))

    assert response.status_code == 302
    assert "Content-Disposition" not in response


def test_certificate_download_is_not_a_post(dashboard_iot, viewer_client):
    assert viewer_client.post(certificate_url("thermo-001", "pem")).status_code == 405


# --- key bundles: the files -----------------------------------------------------------------------


@pytest.mark.parametrize("device_name", ["thermo-001", "thermo-002", "edge-ec01", "legacy-b64"])
def test_private_key_download_is_pkcs8_and_matches_the_certificate(
    dashboard_iot, custodian, custodian_client_reauthenticated, device_name
):
    api = api_answer(dashboard_iot, device_name)

    response = post_bundle(custodian_client_reauthenticated, device_name, "key")

    assert response.status_code == 200
    assert attachment_name(response) == f"{PK}_{device_name}.private-key.pem"
    assert "no-store" in response["Cache-Control"]
    assert response.content.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    key = serialization.load_pem_private_key(response.content, password=None)
    certificate = load_certificate(api.certificate)
    assert private_key_matches(certificate, key)
    [event] = events()
    assert (event.action, event.outcome) == (AuditAction.KEY_DOWNLOAD, AuditOutcome.SUCCESS)
    assert event.detail == "key"
    assert event.actor_username == custodian.username
    assert event.reason == REASON
    assert event.cert_sn == api.cert_sn
    assert event.key_fingerprint == public_key_sha256(load_private_key(api.private_key))
    assert event.certificate_sha256 == certificate_details(certificate).sha256_fingerprint


@pytest.mark.parametrize("device_name", ["thermo-001", "edge-ec01"])
def test_pkcs12_bundle_opens_with_the_passphrase_and_holds_key_certificate_and_ca(
    dashboard_iot, custodian_client_reauthenticated, emulator_ca, device_name
):
    api = api_answer(dashboard_iot, device_name)

    response = post_bundle(custodian_client_reauthenticated, device_name, "p12")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-pkcs12"
    assert attachment_name(response) == f"{PK}_{device_name}.bundle.p12"
    assert "no-store" in response["Cache-Control"]
    bundle = pkcs12.load_pkcs12(response.content, PASSPHRASE.encode())
    assert bundle.cert.certificate == load_certificate(api.certificate)
    assert bundle.cert.friendly_name == device_name.encode()
    assert private_key_matches(bundle.cert.certificate, bundle.key)
    assert [c.certificate for c in bundle.additional_certs] == [emulator_ca]
    with pytest.raises(ValueError, match=r"(?i)password"):
        pkcs12.load_pkcs12(response.content, b"not the passphrase")
    [event] = events()
    assert (event.outcome, event.detail) == (AuditOutcome.SUCCESS, "p12")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
def test_pkcs12_bundle_opens_with_the_openssl_command_without_legacy(
    dashboard_iot, custodian_client_reauthenticated
):
    response = post_bundle(custodian_client_reauthenticated, "thermo-002", "p12")
    assert response.status_code == 200

    def openssl(passphrase: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["openssl", "pkcs12", "-info", "-nokeys", "-passin", "env:P12_PASSPHRASE"],
            input=response.content,
            capture_output=True,
            env={**os.environ, "P12_PASSPHRASE": passphrase},
            timeout=60,
            check=False,
        )

    opened = openssl(PASSPHRASE)
    assert opened.returncode == 0, opened.stderr.decode(errors="replace")
    output = opened.stdout.decode()
    assert output.count("-----BEGIN CERTIFICATE-----") == 2
    assert "friendlyName: thermo-002" in output
    assert "PRIVATE KEY" not in output
    refused = openssl("not the passphrase")
    assert refused.returncode != 0
    assert b"BEGIN CERTIFICATE" not in refused.stdout


def _openssl(*args: str, stdin: bytes) -> str:
    result = subprocess.run(
        ["openssl", *args], input=stdin, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
def test_pem_downloads_open_with_the_openssl_command_and_the_key_fits_the_certificate(
    dashboard_iot, viewer_client, custodian_client_reauthenticated, tmp_path
):
    certificate_pem = viewer_client.get(certificate_url("thermo-002", "pem")).content
    chain_pem = viewer_client.get(certificate_url("thermo-002", "chain")).content
    key_pem = post_bundle(custodian_client_reauthenticated, "thermo-002", "key").content

    fingerprint = _openssl("x509", "-noout", "-fingerprint", "-sha256", stdin=certificate_pem)
    api = api_answer(dashboard_iot, "thermo-002")
    expected = certificate_details(load_certificate(api.certificate)).sha256_fingerprint
    assert fingerprint.strip().split("=", 1)[1] == expected
    # openssl verifies the certificate against the CA that the chain file carries.
    ca_pem = chain_pem[len(certificate_pem) :]
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    (tmp_path / "certificate.pem").write_bytes(certificate_pem)
    verified = _openssl(
        "verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "certificate.pem"), stdin=b""
    )
    assert verified.strip().endswith(": OK")
    # The downloaded key's public half is the certificate's public key.
    assert _openssl("pkey", "-pubout", stdin=key_pem) == _openssl(
        "x509", "-noout", "-pubkey", stdin=certificate_pem
    )


def test_zip_bundle_holds_certificate_key_ca_device_json_and_readme(
    dashboard_iot, custodian_client_reauthenticated, emulator_ca
):
    api = api_answer(dashboard_iot, "gateway-07")
    certificate = load_certificate(api.certificate)

    response = post_bundle(custodian_client_reauthenticated, "gateway-07", "zip")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert attachment_name(response) == f"{PK}_gateway-07.bundle.zip"
    assert "no-store" in response["Cache-Control"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == sorted(
        ["certificate.pem", "private-key.pem", "ca.pem", "device.json", "README.txt"]
    )
    assert pem_certificates(archive.read("certificate.pem")) == [certificate]
    assert pem_certificates(archive.read("ca.pem")) == [emulator_ca]
    key_pem = archive.read("private-key.pem")
    # The key inside is encrypted with the passphrase chosen at download.
    assert key_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    key = serialization.load_pem_private_key(key_pem, PASSPHRASE.encode())
    assert private_key_matches(certificate, key)
    assert (archive.getinfo("private-key.pem").external_attr >> 16) & 0o777 == 0o600
    device = json.loads(archive.read("device.json"))
    assert device["private_key_encrypted"] is True
    details = certificate_details(certificate)
    assert device["product_key"] == PK
    assert device["device_name"] == "gateway-07"
    assert device["cert_sn"] == api.cert_sn
    assert device["certificate_sha256"] == details.sha256_fingerprint
    assert device["public_key_sha256"] == details.public_key_sha256
    assert device["mqtt_endpoint"] == settings.IOT_MQTT_ENDPOINT
    readme = archive.read("README.txt").decode()
    assert "gateway-07" in readme
    assert "private-key.pem" in readme
    [event] = events()
    assert (event.outcome, event.detail) == (AuditOutcome.SUCCESS, "zip")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl CLI")
def test_zip_bundle_key_opens_with_openssl_only_with_the_passphrase(
    dashboard_iot, custodian_client_reauthenticated, tmp_path
):
    certificate = load_certificate(api_answer(dashboard_iot, "gateway-07").certificate)
    response = post_bundle(custodian_client_reauthenticated, "gateway-07", "zip")
    key_file = tmp_path / "private-key.pem"  # a test device's key, in pytest's own tmp dir
    key_file.write_bytes(zipfile.ZipFile(io.BytesIO(response.content)).read("private-key.pem"))

    def openssl_pkey(passphrase: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["openssl", "pkey", "-in", str(key_file), "-passin", f"pass:{passphrase}", "-pubout"],
            capture_output=True,
            timeout=30,
            check=False,
        )

    opened = openssl_pkey(PASSPHRASE)
    assert opened.returncode == 0, opened.stderr.decode()
    assert public_key_sha256(serialization.load_pem_public_key(opened.stdout)) == (
        public_key_sha256(certificate)
    )
    assert openssl_pkey("not the passphrase at all").returncode != 0


def test_zip_bundle_without_a_passphrase_is_refused_and_the_unencrypted_one_is_a_choice(
    dashboard_iot, custodian_client_reauthenticated
):
    certificate = load_certificate(api_answer(dashboard_iot, "gateway-07").certificate)

    refused = post_bundle(
        custodian_client_reauthenticated, "gateway-07", "zip", passphrase="", passphrase_confirm=""
    )
    plain = post_bundle(custodian_client_reauthenticated, "gateway-07", "zip-plain")

    assert refused.status_code == 400
    assert "Content-Disposition" not in refused
    assert plain.status_code == 200
    assert attachment_name(plain) == f"{PK}_gateway-07.bundle-unencrypted.zip"
    archive = zipfile.ZipFile(io.BytesIO(plain.content))
    key_pem = archive.read("private-key.pem")
    assert key_pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert private_key_matches(certificate, serialization.load_pem_private_key(key_pem, None))
    assert "NOT encrypted" in archive.read("README.txt").decode()
    assert json.loads(archive.read("device.json"))["private_key_encrypted"] is False
    assert [(e.outcome, e.detail) for e in events()] == [
        (AuditOutcome.REFUSED, "zip: unusable passphrase"),
        (AuditOutcome.SUCCESS, "zip-plain"),
    ]


def test_zip_bundle_of_a_device_from_an_unknown_ca_has_no_ca_file(
    dashboard_iot, custodian_client_reauthenticated, foreign_leaf
):
    dashboard_iot.add_device(
        {
            "product_key": OWN_PRODUCT,
            "device_name": "foreign-ca",
            "certificate": foreign_leaf.cert_pem,
            "private_key": foreign_leaf.key_pem(pkcs="traditional"),
        }
    )

    response = post_bundle(
        custodian_client_reauthenticated, "foreign-ca", "zip", product_key=OWN_PRODUCT
    )

    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert "ca.pem" not in archive.namelist()
    assert "ca.pem" not in json.loads(archive.read("device.json"))["files"]


def test_bundles_of_an_expired_certificate_still_carry_its_ca(
    dashboard_iot, custodian_client_reauthenticated, emulator_ca
):
    p12 = post_bundle(custodian_client_reauthenticated, "meter-expired", "p12")
    archive = post_bundle(custodian_client_reauthenticated, "meter-expired", "zip")

    assert p12.status_code == archive.status_code == 200
    bundle = pkcs12.load_pkcs12(p12.content, PASSPHRASE.encode())
    assert [c.certificate for c in bundle.additional_certs] == [emulator_ca]
    assert "ca.pem" in zipfile.ZipFile(io.BytesIO(archive.content)).namelist()


# --- key bundles: refusals and failures ----------------------------------------------------------


def test_bundle_by_get_is_not_allowed(dashboard_iot, custodian_client_reauthenticated):
    response = custodian_client_reauthenticated.get(bundle_url("thermo-001"))

    assert response.status_code == 405
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("role", ["Viewer", "Auditor", None])
def test_bundle_without_the_key_permission_is_refused_and_audited(dashboard_iot, make_user, role):
    user = make_user(role)
    client = Client()
    client.force_login(user)
    reauth_now(client)
    dashboard_iot.request_log.clear()

    response = post_bundle(client, "thermo-001", "zip", password=ROLE_PASSWORD)

    assert response.status_code == 403
    assert "Content-Disposition" not in response
    [event] = events()
    assert (event.action, event.outcome) == (AuditAction.KEY_DOWNLOAD, AuditOutcome.DENIED)
    assert event.actor_username == user.username
    assert dashboard_iot.request_log == []


@pytest.mark.parametrize(
    "data",
    [
        {"passphrase": "", "passphrase_confirm": ""},
        {"passphrase": "short", "passphrase_confirm": "short"},
        {"passphrase": PASSPHRASE, "passphrase_confirm": PASSPHRASE + "!"},
        {"passphrase": PASSPHRASE, "passphrase_confirm": ""},
    ],
    ids=["missing", "short", "mismatch", "unconfirmed"],
)
def test_unusable_pkcs12_passphrase_is_400_without_a_file_and_audited(
    dashboard_iot, custodian_client_reauthenticated, data
):
    dashboard_iot.request_log.clear()

    response = post_bundle(custodian_client_reauthenticated, "thermo-001", "p12", **data)

    assert response.status_code == 400
    assert "Content-Disposition" not in response
    assert "passphrase" in response.content.decode()
    [event] = events()
    assert (event.action, event.outcome) == (AuditAction.KEY_DOWNLOAD, AuditOutcome.REFUSED)
    assert event.reason == REASON
    assert dashboard_iot.request_log == []


@pytest.mark.parametrize("reason", ["", "too short", "Ticket 1234\x07 bell"])
def test_bundle_without_a_valid_reason_is_400_and_audited(
    dashboard_iot, custodian_client_reauthenticated, reason
):
    response = post_bundle(custodian_client_reauthenticated, "thermo-001", "zip", reason=reason)

    assert response.status_code == 400
    assert "Content-Disposition" not in response
    [event] = events()
    assert (event.outcome, event.detail) == (AuditOutcome.REFUSED, "no valid reason given")


def test_bundle_needs_a_fresh_password(dashboard_iot, custodian):
    client = Client()
    client.force_login(custodian)

    asked = post_bundle(client, "thermo-001", "zip")
    wrong = post_bundle(client, "thermo-001", "zip", password="not-the-password")
    right = post_bundle(client, "thermo-001", "zip", password=ROLE_PASSWORD)

    assert asked.status_code == wrong.status_code == 400
    assert "Content-Disposition" not in asked
    assert "Content-Disposition" not in wrong
    assert 'name="password"' in asked.content.decode()
    assert right.status_code == 200
    assert [(e.outcome, e.detail) for e in events()] == [
        (AuditOutcome.DENIED, "re-authentication required"),
        (AuditOutcome.DENIED, "re-authentication failed"),
        (AuditOutcome.SUCCESS, "zip"),
    ]


def test_unknown_bundle_format_is_400_without_a_file(
    dashboard_iot, custodian_client_reauthenticated
):
    dashboard_iot.request_log.clear()

    response = post_bundle(custodian_client_reauthenticated, "thermo-001", "jks")

    assert response.status_code == 400
    assert "Content-Disposition" not in response
    assert dashboard_iot.request_log == []


@pytest.mark.parametrize("kind", ["key", "p12", "zip"])
@pytest.mark.parametrize("device_name", ["sensor-gen", "sensor-fail"])
def test_bundle_of_a_device_without_a_certificate_is_409_and_audited(
    dashboard_iot, custodian_client_reauthenticated, device_name, kind
):
    response = post_bundle(custodian_client_reauthenticated, device_name, kind)

    assert response.status_code == 409
    assert "Content-Disposition" not in response
    assert "not ready" in response.content.decode()
    [event] = events()
    assert (event.action, event.outcome) == (AuditAction.KEY_DOWNLOAD, AuditOutcome.FAILED)
    assert event.detail.startswith(f"{kind}: ")
    assert event.platform_request_id


@pytest.mark.parametrize("kind", ["key", "p12", "zip"])
def test_key_of_another_certificate_is_409_without_a_file_and_audited(
    dashboard_iot, custodian_client_reauthenticated, kind
):
    ca = make_ca()
    dashboard_iot.add_device(
        {
            "product_key": OWN_PRODUCT,
            "device_name": "wrong-key",
            "certificate": make_leaf(ca, key_slot=41).cert_pem,
            "private_key": make_leaf(ca, key_slot=42).key_pem(),
        }
    )

    response = post_bundle(
        custodian_client_reauthenticated, "wrong-key", kind, product_key=OWN_PRODUCT
    )

    assert response.status_code == 409
    assert "Content-Disposition" not in response
    assert "does not belong to the certificate" in response.content.decode()
    assert "PRIVATE KEY" not in response.content.decode()
    [event] = events()
    assert event.outcome == AuditOutcome.FAILED
    assert event.detail == f"{kind}: the private key does not belong to the certificate"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"private_key": "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----"},
            "private key could not be decoded",
        ),
        ({"certificate": "this is no certificate"}, "certificate could not be decoded"),
    ],
    ids=["key", "certificate"],
)
def test_unparseable_material_is_409_without_a_file_and_audited(
    dashboard_iot, custodian_client_reauthenticated, foreign_leaf, entry, message
):
    dashboard_iot.add_device(
        {
            "product_key": OWN_PRODUCT,
            "device_name": "garbled",
            "certificate": foreign_leaf.cert_pem,
            "private_key": foreign_leaf.key_pem(),
            **entry,
        }
    )

    response = post_bundle(
        custodian_client_reauthenticated, "garbled", "zip", product_key=OWN_PRODUCT
    )

    assert response.status_code == 409
    assert "Content-Disposition" not in response
    assert message in response.content.decode()
    [event] = events()
    assert event.outcome == AuditOutcome.FAILED
    assert message in event.detail


def test_platform_outage_is_502_without_a_file_and_audited(
    dashboard_iot, custodian_client_reauthenticated
):
    dashboard_iot.set_fault("5xx")

    response = post_bundle(custodian_client_reauthenticated, "thermo-001", "p12")

    assert response.status_code == 502
    assert "Content-Disposition" not in response
    [event] = events()
    assert event.outcome == AuditOutcome.FAILED
    assert event.platform_code == "ServiceUnavailable"
    assert event.platform_request_id


def test_bundle_asks_the_api_each_time(dashboard_iot, custodian_client_reauthenticated):
    assert custodian_client_reauthenticated.get(f"/devices/{PK}/thermo-003/").status_code == 200
    dashboard_iot.request_log.clear()

    for _ in range(2):
        assert post_bundle(custodian_client_reauthenticated, "thermo-003", "key").status_code == 200

    assert [e.action for e in dashboard_iot.request_log] == ["QueryDeviceCert"] * 2


def test_key_never_reaches_the_audit_trail_or_the_inventory(
    dashboard_iot, custodian_client_reauthenticated
):
    key_text = api_answer(dashboard_iot, "thermo-001").private_key
    for kind in ("key", "p12", "zip"):
        assert post_bundle(custodian_client_reauthenticated, "thermo-001", kind).status_code == 200

    from certadmin.devices.models import CertificateRecord

    for row in [*AuditEvent.objects.all(), *CertificateRecord.objects.all()]:
        for field in row._meta.fields:
            value = str(getattr(row, field.attname))
            assert not any(fragment in value for fragment in key_fragments(key_text))


# --- nothing on disk ----------------------------------------------------------------------------


def _files_under(root: Path, skip: tuple[str, ...]) -> dict[str, int]:
    """Every file under ``root`` with its modification time, skipping names in ``skip``."""
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip and not d.startswith(("pytest-", "tmp"))]
        for file in files:
            path = os.path.join(folder, file)
            try:
                found[path] = os.stat(path).st_mtime_ns
            except OSError:
                continue
    return found


def test_bundles_are_built_without_writing_any_file(
    dashboard_iot, custodian_client_reauthenticated
):
    """Two ways: an audit hook sees every file this process opens for writing (exact), and the
    project and temp folders hold no new file with the key material (other processes)."""
    api_answer(dashboard_iot, "thermo-002")  # the emulator issues the certificate now, not below
    skip = (".git", ".venv", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache")
    roots = [PROJECT_DIR, Path(tempfile.gettempdir())]
    before = {root: _files_under(root, skip) for root in roots}
    written: list[str] = []
    watching = True
    rate_limit_dir = str(settings.IOT_RATE_LIMIT_DIR)

    def hook(event: str, args: tuple) -> None:
        if not watching or event != "open" or len(args) < 3:
            return
        path, mode, flags = args[0], args[1], args[2]
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        )
        # The API quotas' schedule (a boot id and a clock reading per quota, rewritten on every
        # platform call) is the one file a call writes; the scan below checks it holds no key.
        if writes and not str(path).startswith((str(PROJECT_DIR / ".venv"), rate_limit_dir)):
            written.append(str(path))

    sys.addaudithook(hook)  # cannot be removed: ``watching`` turns it off afterwards
    try:
        p12 = post_bundle(custodian_client_reauthenticated, "thermo-002", "p12")
        archive = post_bundle(custodian_client_reauthenticated, "thermo-002", "zip")
    finally:
        watching = False

    assert p12.status_code == archive.status_code == 200
    assert written == []
    key_text = api_answer(dashboard_iot, "thermo-002").private_key
    for root in roots:
        after = _files_under(root, skip)
        new_or_changed = [p for p, mtime in after.items() if before[root].get(p) != mtime]
        for path in new_or_changed:
            try:
                data = Path(path).read_bytes()[:10_000_000]
            except OSError:
                continue
            assert p12.content not in data, path
            assert archive.content not in data, path
            text = data.decode("latin-1")
            assert not any(fragment in text for fragment in key_fragments(key_text)), path
