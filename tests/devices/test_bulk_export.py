"""Bulk certificate export: the ZIP's certificates, CA and manifest, never a key; one audit
event naming the product and the count, written before the file leaves; permissions."""

import csv
import html
import io
import itertools
import re
import zipfile

import pytest
from cryptography import x509
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.devices.certificate_export import ExportSource, export_detail
from certadmin.devices.inventory import device_certificate_check
from certadmin.devices.models import CertificateRecord
from certadmin.devices.platform import iot_client
from certadmin.iot.identity import DeviceRef
from certadmin.jobs.models import ItemState, Job, JobItem, JobKind, JobState
from tests.support.audit_events import export_unpacked
from tests.support.iot_accounts import account_on
from tests.support.key_material import api_answer, key_fragments

pytestmark = pytest.mark.django_db

EXPORT = "devices:certificate-export"
_products = itertools.count(1)


@pytest.fixture
def synced_product(dashboard_iot):
    """A product of three devices on the emulator, each looked up into the inventory (as a
    sync does), plus one record whose certificate text cannot be decoded. Returns the
    ProductKey and the emulator's private key texts."""
    product_key = f"export{next(_products):02d}pk"
    client = iot_client(purpose="job")
    keys = []
    for name in ("dev-0001", "dev-0002", "dev-0003"):
        dashboard_iot.add_device(
            {"product_key": product_key, "device_name": name, "key_type": "ec"}
        )
        device_certificate_check(device=DeviceRef(product_key, name), client=client)
        keys.append(api_answer(dashboard_iot, name, product_key).private_key)
    CertificateRecord.objects.create(
        product_key=product_key,
        device_name="broken-01",
        status=2,
        certificate="not a cert",
        last_checked=timezone.now(),
    )
    return product_key, keys


def _zip(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/zip"
    assert "no-store" in response["Cache-Control"]
    return zipfile.ZipFile(io.BytesIO(response.content))


# certificates-<what>-<UTC stamp>.zip, only characters every file system takes.
FILENAME = re.compile(r"certificates-[A-Za-z0-9@_-]+-\d{8}T\d{6}Z\.zip")


def _filename(response) -> str:
    header = response["Content-Disposition"]
    assert header.startswith("attachment; filename=")
    name = header.removeprefix("attachment; filename=").strip('"')
    assert FILENAME.fullmatch(name), name
    return name


def _manifest(archive: zipfile.ZipFile) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8"))))


def _everything(archive: zipfile.ZipFile) -> str:
    return "".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())


def test_product_export_has_each_certificate_the_ca_and_a_manifest(
    client_for, viewer, synced_product, dashboard_iot
):
    product_key, _keys = synced_product
    response = client_for(viewer).get(reverse(EXPORT), {"product_key": product_key})
    assert _filename(response).startswith(f"certificates-{product_key}-all-")
    archive = _zip(response)
    names = sorted(archive.namelist())
    certificates = [name for name in names if name.startswith("certificates/")]
    assert certificates == [
        f"certificates/{product_key}_dev-000{n}.certificate.pem" for n in (1, 2, 3)
    ]
    for name in certificates:
        cert = x509.load_pem_x509_certificate(archive.read(name))
        record = CertificateRecord.objects.get(
            product_key=product_key, device_name=name.split("_", 1)[1].split(".")[0]
        )
        assert cert.serial_number == int(record.serial.replace(":", ""), 16)
    (ca_name,) = [name for name in names if name.startswith("ca/")]
    ca = x509.load_pem_x509_certificate(archive.read(ca_name))
    assert ca == x509.load_pem_x509_certificate(dashboard_iot.ca_certificate_pem.encode())

    manifest = {row["DeviceName"]: row for row in _manifest(archive)}
    assert sorted(manifest) == ["broken-01", "dev-0001", "dev-0002", "dev-0003"]
    record = CertificateRecord.objects.get(product_key=product_key, device_name="dev-0002")
    row = manifest["dev-0002"]
    assert row["CertSN"] == record.cert_sn
    assert row["serial"] == record.serial
    assert row["sha256_fingerprint"] == record.sha256_fingerprint
    assert row["not_after"] == record.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert row["file"] == f"certificates/{product_key}_dev-0002.certificate.pem"
    assert manifest["broken-01"]["file"] == ""
    assert "could not be decoded" in manifest["broken-01"]["note"]


def test_no_key_material_anywhere_in_the_zip_even_from_a_record_that_holds_one(
    client_for, viewer, synced_product
):
    product_key, keys = synced_product
    # A record written before keys were stripped from stored text: certificate + key.
    record = CertificateRecord.objects.get(product_key=product_key, device_name="dev-0001")
    CertificateRecord.objects.filter(pk=record.pk).update(
        certificate=record.certificate + "\n" + keys[0]
    )
    archive = _zip(client_for(viewer).get(reverse(EXPORT), {"product_key": product_key}))
    everything = _everything(archive)
    assert "PRIVATE KEY" not in everything
    for key in keys:
        for fragment in key_fragments(key):
            assert fragment not in everything
    assert f"certificates/{product_key}_dev-0001.certificate.pem" in archive.namelist()


def test_one_audit_event_names_the_product_and_the_count(client_for, viewer, synced_product):
    product_key, _keys = synced_product
    client_for(viewer).get(reverse(EXPORT), {"product_key": product_key})
    (event,) = AuditEvent.objects.all()
    assert event.action == AuditAction.CERT_EXPORT
    assert event.outcome == AuditOutcome.SUCCESS
    assert event.actor_username == viewer.get_username()
    assert event.product_key == product_key
    assert event.detail.startswith(f"whole product {product_key}: 4 devices, 3 certificates")


def test_filtered_table_exports_only_what_the_filters_show(client_for, viewer, synced_product):
    product_key, _keys = synced_product
    client = client_for(viewer)
    archive = _zip(client.get(reverse(EXPORT), {"product_key": product_key, "q": "0002"}))
    assert [row["DeviceName"] for row in _manifest(archive)] == ["dev-0002"]
    archive = _zip(client.get(reverse(EXPORT), {"product_key": product_key, "state": "failed"}))
    assert [row["DeviceName"] for row in _manifest(archive)] == ["broken-01"]


def test_a_whole_product_and_a_selection_get_distinct_names_and_audit_entries(
    client_for, viewer, synced_product
):
    product_key, _keys = synced_product
    client = client_for(viewer)

    whole = client.get(reverse(EXPORT), {"product_key": product_key, "sort": "-name"})
    selection = client.get(
        reverse(EXPORT), {"product_key": product_key, "q": "dev-0", "state": "days_over_90"}
    )

    assert _filename(whole).startswith(f"certificates-{product_key}-all-")
    assert _filename(selection).startswith(f"certificates-{product_key}-selection-3-devices-")
    assert len(_manifest(_zip(whole))) == 4
    assert len(_manifest(_zip(selection))) == 3
    whole_event, selection_event = AuditEvent.objects.order_by("id")
    # The order is no filter: every device of the product is in the file.
    assert whole_event.detail == (
        f"whole product {product_key}: 4 devices, 3 certificates ({_filename(whole)})"
    )
    assert selection_event.detail == (
        f'selection of {product_key} (search "dev-0"; expiry state "days_over_90"): '
        f"3 devices, 3 certificates ({_filename(selection)})"
    )


def test_the_audit_trail_shows_the_exports_filter(client_for, viewer, auditor, synced_product):
    product_key, _keys = synced_product
    client_for(viewer).get(reverse(EXPORT), {"product_key": product_key, "q": "0002"})
    client_for(viewer).get(reverse(EXPORT), {"product_key": product_key})

    page = html.unescape(client_for(auditor).get(reverse("audit:events")).content.decode())
    exported = client_for(auditor).get(reverse("audit:export"), {"action": "cert_export"})
    rows, _manifest_json = export_unpacked(b"".join(exported.streaming_content))

    selected = f'selection of {product_key} (search "0002"): 1 device, 1 certificate'
    whole = f"whole product {product_key}: 4 devices, 3 certificates"
    assert selected in page
    assert whole in page
    assert [row["detail"].split(" (certificates-")[0] for row in rows] == [whole, selected]


def test_finished_batch_exports_its_devices_and_is_audited_as_the_batch(
    client_for, viewer, synced_product
):
    product_key, _keys = synced_product
    job = Job.objects.create(kind=JobKind.BATCH_LOOKUP, owner=viewer, state=JobState.FINISHED)
    for name in ("dev-0001", "dev-0003"):
        JobItem.objects.create(
            job=job, product_key=product_key, device_name=name, state=ItemState.DONE
        )
    response = client_for(viewer).get(reverse(EXPORT), {"job": job.pk})
    archive = _zip(response)
    assert _filename(response).startswith(f"certificates-batch-{job.pk}-")
    assert [row["DeviceName"] for row in _manifest(archive)] == ["dev-0001", "dev-0003"]
    (event,) = AuditEvent.objects.all()
    assert event.detail.startswith(f"batch {job.pk}: 2 devices, 2 certificates")


def test_unfinished_or_hidden_batch_is_not_exported(client_for, make_user, settings):
    # A batch on an API account the person may not use is not theirs to see (jobs_visible).
    account_on(
        settings, "secret", access_key_id="LTAIsecret", access_key_secret="s", groups=("Secret",)
    )
    alice, bob = make_user("Viewer"), make_user("Viewer")
    hidden = Job.objects.create(
        kind=JobKind.BATCH_LOOKUP, owner=alice, state=JobState.FINISHED, account="secret"
    )
    assert client_for(bob).get(reverse(EXPORT), {"job": hidden.pk}).status_code == 404
    running = Job.objects.create(kind=JobKind.BATCH_LOOKUP, owner=alice, state=JobState.RUNNING)
    response = client_for(bob).get(reverse(EXPORT), {"job": running.pk})
    assert response.status_code == 409
    assert "has not finished" in response.content.decode()
    assert not AuditEvent.objects.exists()


def test_nothing_to_export_and_too_much_are_refused_without_an_event(
    client_for, viewer, synced_product, monkeypatch
):
    product_key, _keys = synced_product
    client = client_for(viewer)
    response = client.get(reverse(EXPORT), {"product_key": "nosuchproduct1"})
    assert response.status_code == 409
    assert "nothing to export" in response.content.decode()
    monkeypatch.setattr("certadmin.devices.certificate_export.EXPORT_MAX_CERTIFICATES", 3)
    response = client.get(reverse(EXPORT), {"product_key": product_key})
    assert response.status_code == 409
    assert "at most 3" in response.content.decode()
    assert not AuditEvent.objects.exists()


def test_malformed_filters_are_refused(client_for, viewer):
    response = client_for(viewer).get(reverse(EXPORT), {"product_key": "bad key!"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("role", "status"),
    [(None, 403), ("Auditor", 403), ("Viewer", 200), ("Key custodian", 200), ("superuser", 200)],
)
def test_export_permission_per_role(client, make_user, synced_product, role, status):
    product_key, _keys = synced_product
    client.force_login(make_user(role))
    assert client.get(reverse(EXPORT), {"product_key": product_key}).status_code == status


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse(EXPORT), {"product_key": "a1BwAGV1234"})
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


@pytest.mark.django_db(transaction=True)
def test_audit_trail_unavailable_means_no_file(client_for, viewer, synced_product):
    product_key, _keys = synced_product
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent RENAME TO audit_auditevent_away")
    try:
        response = client_for(viewer).get(reverse(EXPORT), {"product_key": product_key})
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent_away RENAME TO audit_auditevent")
    assert response.status_code == 503
    assert "Content-Disposition" not in response
    assert b"BEGIN CERTIFICATE" not in response.content
    assert "audit trail could not record this" in response.content.decode()


def test_the_expiry_tables_export_link_exports_exactly_the_filtered_devices(
    client_for, viewer, synced_product
):
    product_key, _keys = synced_product
    client = client_for(viewer)
    page = client.get(
        reverse("devices:expiry"), {"product_key": product_key, "q": "dev-0002"}
    ).content.decode()
    link = re.search(r'href="(/devices/export/[^"]*)"', page)
    assert link, "the filtered table offers its certificates as a ZIP"

    archive = _zip(client.get(html.unescape(link.group(1))))

    assert [row["DeviceName"] for row in _manifest(archive)] == ["dev-0002"]


def test_a_search_too_long_for_the_detail_keeps_the_filter_and_leaves_the_file_name_out():
    search = "d" * 128  # the search box's maximum
    source = ExportSource(
        CertificateRecord.objects.none(),
        "a1Fleet5kXz",
        "",
        filters=(("search", search), ("expiry state", "days_8_30")),
    )
    filename = source.filename(devices=10_000, at=timezone.now())

    detail = export_detail(source=source, devices=10_000, exported=10_000, filename=filename)

    assert FILENAME.fullmatch(filename)
    assert len(detail) <= AuditEvent._meta.get_field("detail").max_length
    assert detail == (
        f'selection of a1Fleet5kXz (search "{search}"; expiry state "days_8_30"): '
        "10000 devices, 10000 certificates"
    )
