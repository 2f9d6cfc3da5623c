"""Key material inside a parseable certificate or a CertSN is withheld everywhere.

The emulator returns each device's strings verbatim over HTTP: certificates generated here, at
run time, that carry their own device's private key (subject serialNumber, OU pieces, unknown
extensions, the serial number), and CertSNs that are the private scalar. Each must reach no
page, inventory row, export, job result or audit row; the page says what was withheld; an
ordinary certificate is shown as before.
"""

import base64
import csv
import io
import json
import logging
import zipfile
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.certs.key_material import WITHHELD, key_material_matcher
from certadmin.devices.models import CertificateRecord
from certadmin.iot.client import IotClient
from certadmin.iot.errors import IotBusinessError
from certadmin.jobs import runner
from certadmin.jobs.models import Job
from tests.support.canned_api import KEY_ID, SECRET, Canned, CannedApi
from tests.support.certificates import ALIBABA_LEAF_SUBJECT, Issued, make_ca, make_key, make_leaf
from tests.support.key_material import reauth_now

pytestmark = pytest.mark.django_db

PK = "keyInCert01"
UNKNOWN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.55555.9")
REASON = "Ticket OPS-8080: replace the board of this device"
PASSPHRASE = "a long bundle passphrase 77"


@dataclass(frozen=True)
class Case:
    """One device: its certificate and key as the platform sends them, the CertSN, and the
    exact strings carrying its key that must appear nowhere."""

    name: str
    leaf: Issued
    cert_sn: str
    secrets: tuple[str, ...]
    # What the page says was withheld: "CertSN", or where in the certificate the key is.
    withheld: str

    @property
    def in_certificate(self) -> bool:
        return self.withheld != "CertSN"


def _der(key, fmt=serialization.PrivateFormat.PKCS8) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())


def _subject(*extra: x509.NameAttribute) -> x509.Name:
    return x509.Name([*ALIBABA_LEAF_SUBJECT, *extra])


def _cases() -> list[Case]:
    ca = make_ca(key_slot=41)
    cases = []

    key = make_key("rsa", 42)
    p_hex = f"{key.private_numbers().p:X}"
    leaf = make_leaf(
        ca, key_slot=42, subject=_subject(x509.NameAttribute(NameOID.SERIAL_NUMBER, p_hex))
    )
    cases.append(Case("subject-serial-hex", leaf, "0A1B2C3D", (p_hex, p_hex.lower()), "subject"))

    key = make_key("rsa", 43)
    text = base64.b64encode(_der(key)).decode()[400:544]
    pieces = [text[i : i + 12] for i in range(0, len(text), 12)]
    leaf = make_leaf(
        ca,
        key_slot=43,
        subject=_subject(
            *(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, piece) for piece in pieces)
        ),
    )
    cases.append(Case("ou-pieces", leaf, "0A1B2C3E", (text, *pieces), "subject"))

    key = make_key("rsa", 44)
    der = _der(key, serialization.PrivateFormat.TraditionalOpenSSL)
    leaf = make_leaf(
        ca,
        key_slot=44,
        extensions=[(x509.UnrecognizedExtension(UNKNOWN_OID, der), False)],
    )
    cases.append(
        Case(
            "extension-raw-der",
            leaf,
            "0A1B2C3F",
            (der[:64].hex(":").upper(),),
            f"extension {UNKNOWN_OID.dotted_string}",
        )
    )

    key = make_key("ec", 45)
    url_safe = base64.urlsafe_b64encode(_der(key)).decode().rstrip("=")
    value = b"\x0c" + bytes([len(url_safe)]) + url_safe.encode()
    leaf = make_leaf(
        ca,
        key_type="ec",
        key_slot=45,
        extensions=[(x509.UnrecognizedExtension(UNKNOWN_OID, value), False)],
    )
    cases.append(
        Case(
            "extension-url-safe",
            leaf,
            "0A1B2C40",
            (url_safe,),
            f"extension {UNKNOWN_OID.dotted_string}",
        )
    )

    key = make_key("rsa", 46)
    d_bytes = key.private_numbers().d.to_bytes(256, "big")
    serial = int.from_bytes(d_bytes[100:119], "big") | 1
    leaf = make_leaf(ca, key_slot=46, serial_number=serial)
    serial_hex = serial.to_bytes(19, "big").hex(":").upper()
    cases.append(
        Case("serial-number", leaf, "0A1B2C41", (serial_hex, str(serial)), "serial number")
    )

    key = make_key("ec", 47)
    private_hex = f"{key.private_numbers().private_value:064x}"
    mixed = "".join(ch.upper() if i % 2 else ch for i, ch in enumerate(private_hex))
    leaf = make_leaf(ca, key_type="ec", key_slot=47)
    cases.append(Case("certsn-hex", leaf, mixed, (private_hex,), "CertSN"))

    key = make_key("rsa", 48)
    piece = str(key.private_numbers().d)[200:240]
    leaf = make_leaf(ca, key_slot=48)
    cases.append(Case("certsn-decimal-piece", leaf, piece, (piece,), "CertSN"))
    return cases


CASES = {case.name: case for case in _cases()}
ORDINARY = "ordinary-0001"


@pytest.fixture
def devices(dashboard_iot):
    """Every case on the emulator (verbatim strings), plus an ordinary device."""
    ordinary = make_leaf(make_ca(key_slot=41), key_slot=49)
    entries = [
        *((case.name, case.leaf, case.cert_sn) for case in CASES.values()),
        (ORDINARY, ordinary, "5F3E2D1C"),
    ]
    for name, leaf, cert_sn in entries:
        dashboard_iot.add_device(
            {
                "product_key": PK,
                "device_name": name,
                "cert_sn": cert_sn,
                "certificate": leaf.cert_pem,
                "private_key": leaf.key_pem(pkcs="traditional"),
            }
        )
    return ordinary


def _assert_no_key(text: str, *cases: Case, where: str) -> None:
    lowered = text.lower()
    for case in cases:
        for secret in case.secrets:
            assert secret.lower() not in lowered, f"{case.name}: its key is in {where}"
        # Every other encoding too (the matcher has its own tests in tests/certs).
        assert not key_material_matcher(private_key=case.leaf.key).found_in(text), (
            f"{case.name}: key material in {where}"
        )


def _page(client: Client, name: str) -> str:
    response = client.get(reverse("devices:device", args=[PK, name]))
    assert response.status_code == 200
    return response.content.decode()


def _visit_all(client: Client) -> None:
    for name in CASES:
        _page(client, name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_key_material_is_withheld_on_the_page_and_not_stored(devices, viewer, client_for, name):
    case = CASES[name]
    html = _page(client_for(viewer), name)

    _assert_no_key(html, case, where="the certificate page")
    record = CertificateRecord.objects.get(product_key=PK, device_name=name)
    stored = " ".join(str(getattr(record, f.attname)) for f in CertificateRecord._meta.fields)
    _assert_no_key(stored, case, where="the inventory row")
    if case.in_certificate:
        assert "The certificate is withheld" in html
        assert f"carries this device's private key, in:\n      {case.withheld}." in html
        assert 'href="/devices/keyInCert01/' + name + "/certificate/pem/" not in html
        assert record.certificate == record.subject == record.serial == ""
    else:
        assert "put this device's private key in them: CertSN." in html
        assert record.cert_sn == WITHHELD
        # The certificate itself is fine and shown.
        assert "Alibaba Cloud IoT Certificate" in html
        assert record.subject


def test_an_ordinary_certificate_is_unaffected(devices, viewer, client_for):
    client = client_for(viewer)
    html = _page(client, ORDINARY)
    record = CertificateRecord.objects.get(product_key=PK, device_name=ORDINARY)

    assert "withheld" not in html.lower()
    assert "5F3E2D1C" in html
    assert record.cert_sn == "5F3E2D1C"
    assert record.certificate == devices.cert_pem
    assert record.key_matches is True
    response = client.get(reverse("devices:certificate-download", args=[PK, ORDINARY, "pem"]))
    assert response.status_code == 200
    assert x509.load_pem_x509_certificate(response.content) == devices.cert


@pytest.mark.parametrize("kind", ["pem", "der", "chain"])
def test_a_certificate_carrying_its_key_is_not_downloadable(devices, viewer, client_for, kind):
    client = client_for(viewer)
    for name, case in CASES.items():
        if not case.in_certificate:
            continue
        response = client.get(reverse("devices:certificate-download", args=[PK, name, kind]))
        assert response.status_code != 200, name
        body = response.content.decode("latin-1")
        assert "BEGIN CERTIFICATE" not in body
        _assert_no_key(body, case, where=f"the {kind} download answer")
    assert not AuditEvent.objects.filter(action=AuditAction.CERT_DOWNLOAD).exists()


def test_expiry_csv_and_bulk_zip_carry_no_key_material(devices, viewer, client_for):
    client = client_for(viewer)
    _visit_all(client)
    _page(client, ORDINARY)

    response = client.get("/expiry/csv/", {"product_key": PK})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8")
    _assert_no_key(text, *CASES.values(), where="the expiry CSV")
    rows = {row["device_name"]: row for row in csv.DictReader(io.StringIO(text))}
    assert rows["certsn-hex"]["cert_sn"] == WITHHELD
    assert rows[ORDINARY]["cert_sn"] == "5F3E2D1C"

    response = client.get(reverse("devices:certificate-export"), {"product_key": PK})
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    everything = "".join(archive.read(member).decode("latin-1") for member in archive.namelist())
    _assert_no_key(everything, *CASES.values(), where="the bulk certificate ZIP")
    manifest = {
        row["DeviceName"]: row
        for row in csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8")))
    }
    for name, case in CASES.items():
        # Only the certificates that carry no key are in the archive.
        assert bool(manifest[name]["file"]) is not case.in_certificate, name
    assert manifest["certsn-decimal-piece"]["CertSN"] == WITHHELD
    assert manifest[ORDINARY]["file"]


def test_a_batch_job_stores_and_shows_no_key_material(devices, viewer, client_for):
    client = client_for(viewer)
    text = "ProductKey,DeviceName\n" + "".join(f"{PK},{name}\n" for name in [*CASES, ORDINARY])
    response = client.post(reverse("jobs:batch"), {"text": text})
    assert response.status_code == 302
    job = Job.objects.get()
    assert runner.job_work(job_id=job.pk) == "finished"

    page = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    results = client.get(reverse("jobs:results-csv", args=[job.pk]))
    assert results.status_code == 200
    csv_text = b"".join(results.streaming_content).decode("utf-8")
    records = " ".join(
        " ".join(str(getattr(record, f.attname)) for f in CertificateRecord._meta.fields)
        for record in CertificateRecord.objects.filter(product_key=PK)
    )
    for where, text in (("the job page", page), ("the results CSV", csv_text)):
        _assert_no_key(text, *CASES.values(), where=where)
    _assert_no_key(records, *CASES.values(), where="the inventory after the job")
    rows = {row["device_name"]: row for row in csv.DictReader(io.StringIO(csv_text))}
    assert rows["certsn-hex"]["cert_sn"] == WITHHELD
    assert rows["subject-serial-hex"]["subject"] == ""
    assert rows[ORDINARY]["subject"]


def test_audit_rows_hold_no_key_material(devices, custodian):
    client = Client()
    client.force_login(custodian)
    reauth_now(client)
    for name in ("certsn-hex", "certsn-decimal-piece", "subject-serial-hex"):
        # The custodian may see the key; the trail records the CertSN only as withheld.
        response = client.post(
            reverse("devices:key", args=[PK, name]), {"action": "reveal", "reason": REASON}
        )
        assert response.status_code == 200, name
    for name in ("ou-pieces", "certsn-hex"):
        client.post(
            reverse("devices:key", args=[PK, name]),
            {
                "action": "zip",
                "reason": REASON,
                "passphrase": PASSPHRASE,
                "passphrase_confirm": PASSPHRASE,
            },
        )
    client.get(reverse("devices:certificate-download", args=[PK, "certsn-hex", "pem"]))

    rows = list(AuditEvent.objects.order_by("id"))
    dump = "\n".join(
        " ".join(str(getattr(row, f.attname)) for f in AuditEvent._meta.fields) for row in rows
    )
    _assert_no_key(dump, *CASES.values(), where="the audit trail")
    reveals = [row for row in rows if row.action == AuditAction.KEY_REVEAL]
    assert [row.outcome for row in reveals] == [AuditOutcome.SUCCESS] * 3
    assert [row.cert_sn for row in reveals[:2]] == [WITHHELD, WITHHELD]
    downloads = {row.device_name: row for row in rows if row.action == AuditAction.KEY_DOWNLOAD}
    # A bundle needs the certificate: one that carries the key is refused, and says why.
    assert downloads["ou-pieces"].outcome == AuditOutcome.FAILED
    assert "withheld" in downloads["ou-pieces"].detail
    assert downloads["certsn-hex"].outcome == AuditOutcome.SUCCESS
    assert downloads["certsn-hex"].cert_sn == WITHHELD
    [download] = [row for row in rows if row.action == AuditAction.CERT_DOWNLOAD]
    assert download.cert_sn == WITHHELD


# --- identifiers, where the client reads the answer ---------------------------------------------


@pytest.fixture
def canned():
    api = CannedApi()
    yield api
    api.close()


def _client(api: CannedApi, observed: list) -> IotClient:
    return IotClient(
        endpoint=api.url,
        access_key_id=KEY_ID,
        access_key_secret=SECRET,
        rate_limiter=None,
        max_attempts=1,
        on_call=observed.append,
    )


def test_a_request_id_carrying_the_key_is_withheld_before_any_log_line(canned, caplog):
    case = CASES["certsn-hex"]
    private_hex = case.secrets[0].upper()
    canned.push(
        Canned(
            body={
                "RequestId": private_hex,
                "Success": True,
                "DeviceCertInfo": {
                    "Status": 2,
                    "Certificate": case.leaf.cert_pem,
                    "PrivateKey": case.leaf.key_pem(),
                    "CertSN": "5F3E2D1C",
                },
            }
        )
    )
    observed: list = []
    client = _client(canned, observed)
    with caplog.at_level(logging.DEBUG):
        result = client.query_device_cert(product_key=PK, device_name="certsn-hex")
    client.close()

    assert result.request_id == WITHHELD
    assert [record.request_id for record in observed] == [WITHHELD]
    assert result.cert_sn == "5F3E2D1C"
    assert result.certificate == case.leaf.cert_pem
    _assert_no_key(caplog.text, case, where="the log")


def test_an_error_code_carrying_the_key_is_withheld(canned, caplog):
    case = CASES["certsn-hex"]
    canned.push(
        Canned(
            body={
                "RequestId": "2E0B2A43-6F0C-4B6B-9D3B-0D1C2B3A4F5E",
                "Success": False,
                "Code": case.secrets[0],
                "ErrorMessage": "no",
                "DeviceCertInfo": {"PrivateKey": case.leaf.key_pem()},
            }
        )
    )
    observed: list = []
    client = _client(canned, observed)
    with caplog.at_level(logging.DEBUG), pytest.raises(IotBusinessError) as raised:
        client.query_device_cert(product_key=PK, device_name="certsn-hex")
    client.close()

    assert raised.value.code == WITHHELD
    assert [record.outcome for record in observed] == [WITHHELD]
    _assert_no_key(caplog.text + str(raised.value), case, where="the error")


def test_the_command_line_report_withholds_the_same(devices):
    for name, case in CASES.items():
        text, as_json = io.StringIO(), io.StringIO()
        call_command("querydevicecert", "--product-key", PK, "--device-name", name, stdout=text)
        call_command(
            "querydevicecert", "--product-key", PK, "--device-name", name, "--json", stdout=as_json
        )
        _assert_no_key(text.getvalue() + as_json.getvalue(), case, where="the CLI report")
        report = json.loads(as_json.getvalue())
        if case.in_certificate:
            assert report["certificate"] is None
            assert "withheld" in report["decode_error"]
        else:
            assert report["cert_sn"] == WITHHELD
            assert report["certificate"]["subject"]
