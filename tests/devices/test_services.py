"""Device services without the views: decoding received text, inventory, recent list, lists."""

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from django.db import connection
from django.test.utils import CaptureQueriesContext

from certadmin.devices.inventory import (
    certificate_decode,
    inventory_store,
    key_matches_certificate,
)
from certadmin.devices.models import CertificateRecord, RecentDevice
from certadmin.devices.services import (
    DEVICE_LIST_PAGE_SIZE,
    RECENT_DEVICES_KEPT,
    DeviceRef,
    certificate_lookup,
    device_list,
    recent_device_touch,
)
from certadmin.emulator import DEMO_PRODUCT_KEY
from certadmin.iot.results import CertStatus, DeviceCert
from tests.support.certificates import make_leaf
from tests.support.key_material import key_fragments


@pytest.fixture(scope="module")
def leaf():
    return make_leaf(key_slot=6)


def der_key_base64(issued) -> str:
    der = issued.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return base64.b64encode(der).decode()


def test_decoding_a_pem_certificate_keeps_its_text(leaf):
    decoded = certificate_decode(leaf.cert_pem)

    assert decoded.ok
    assert decoded.text == leaf.cert_pem
    assert decoded.error == ""


@pytest.mark.parametrize("pkcs", ["pkcs8", "traditional"])
def test_a_key_bundled_after_the_certificate_is_not_in_the_text(leaf, pkcs):
    # Adapted: the text is the parsed certificate re-encoded, nothing else.
    key_pem = leaf.key_pem(pkcs=pkcs)

    decoded = certificate_decode(leaf.cert_pem + key_pem)

    assert decoded.ok
    assert decoded.text == leaf.cert_pem
    for fragment in key_fragments(key_pem):
        assert fragment not in decoded.text


@pytest.mark.parametrize(
    "text_of",
    [
        lambda issued: issued.key_pem(),
        lambda issued: issued.key_pem()[:-40],  # cut short: no END line
        der_key_base64,
    ],
    ids=["pem", "unterminated-pem", "bare-base64"],
)
def test_a_key_sent_instead_of_a_certificate_is_never_in_the_text(leaf, text_of):
    text = text_of(leaf)

    decoded = certificate_decode(text)

    assert not decoded.ok
    assert decoded.error
    assert decoded.text == ""
    for fragment in key_fragments(text):
        assert fragment not in decoded.error
        assert fragment not in repr(decoded)


def test_undecodable_text_is_known_only_by_its_length_and_digest():
    # Adapted: undecodable text is no longer kept for display.
    decoded = certificate_decode("MII\x00<b>")

    assert not decoded.ok
    assert decoded.text == ""
    assert decoded.received_length == 7
    assert decoded.received_sha256 == hashlib.sha256(b"MII\x00<b>").hexdigest()


@pytest.mark.parametrize("key_text", ["", "not a key", "-----BEGIN PRIVATE KEY-----\n-----"])
def test_key_match_is_unknown_without_a_readable_key(leaf, key_text):
    assert key_matches_certificate(leaf.cert, key_text) is None


def test_key_match_is_unknown_without_a_certificate(leaf):
    assert key_matches_certificate(None, leaf.key_pem()) is None


def test_key_match_compares_the_public_halves(leaf):
    assert key_matches_certificate(leaf.cert, leaf.key_pem()) is True
    assert key_matches_certificate(leaf.cert, make_leaf(key_slot=2).key_pem()) is False


@pytest.mark.django_db
def test_inventory_stores_public_fields_only(leaf):
    key_pem = leaf.key_pem()
    result = DeviceCert(
        product_key=DEMO_PRODUCT_KEY,
        device_name="svc-bundled",
        iot_instance_id=None,
        status=CertStatus.READY,
        cert_sn="42",
        certificate=leaf.cert_pem + key_pem,
        private_key=key_pem,
        request_id="REQ-1",
    )

    record = inventory_store(result=result, key_matches=True)

    record.refresh_from_db()
    assert record.iot_instance_id == ""
    assert record.not_after == leaf.cert.not_valid_after_utc
    assert certificate_decode(record.certificate).ok
    for field in CertificateRecord._meta.concrete_fields:
        value = str(getattr(record, field.attname))
        for fragment in key_fragments(key_pem):
            assert fragment not in value


@pytest.mark.django_db
def test_recent_list_keeps_the_newest_few_per_user(make_user):
    user, other = make_user("Viewer"), make_user("Viewer")
    recent_device_touch(user=other, device=DeviceRef(DEMO_PRODUCT_KEY, "other-user"))
    for n in range(RECENT_DEVICES_KEPT + 3):
        recent_device_touch(user=user, device=DeviceRef(DEMO_PRODUCT_KEY, f"device-{n:02d}"))
    recent_device_touch(user=user, device=DeviceRef(DEMO_PRODUCT_KEY, "device-05"))

    names = list(
        RecentDevice.objects.filter(user=user)
        .order_by("-viewed_at", "-pk")
        .values_list("device_name", flat=True)
    )

    assert len(names) == RECENT_DEVICES_KEPT
    assert names[0] == "device-05"
    assert "device-00" not in names
    assert RecentDevice.objects.filter(user=other).count() == 1


@pytest.mark.django_db
def test_a_certificate_viewed_again_writes_nothing_and_opens_no_transaction(dashboard_iot, viewer):
    device = DeviceRef(DEMO_PRODUCT_KEY, "thermo-001")
    certificate_lookup(device=device, user=viewer)
    with CaptureQueriesContext(connection) as queries:
        again = certificate_lookup(device=device, user=viewer)
    assert again.from_inventory
    sql = [query["sql"].split()[0].upper() for query in queries.captured_queries]
    assert set(sql) == {"SELECT"}, sql
    assert RecentDevice.objects.filter(user=viewer, device_name="thermo-001").count() == 1


@pytest.mark.django_db
def test_lookup_served_from_the_inventory_recomputes_validity(dashboard_iot, viewer):
    device = DeviceRef(DEMO_PRODUCT_KEY, "meter-expiring")
    first = certificate_lookup(device=device, user=viewer)
    CertificateRecord.objects.update(last_checked=datetime.now(UTC) - timedelta(minutes=2))

    second = certificate_lookup(device=device, user=viewer)

    assert not first.from_inventory
    assert second.from_inventory
    assert second.age_minutes == 2
    assert second.validity.state == "expiring"
    assert second.key_matches is True
    assert second.chain.status == "verified"
    assert second.decoded.details.sha256_fingerprint == first.decoded.details.sha256_fingerprint


@pytest.mark.django_db
def test_expired_days_count_whole_days_since_not_after(dashboard_iot, viewer):
    view = certificate_lookup(device=DeviceRef(DEMO_PRODUCT_KEY, "meter-expired"), user=viewer)

    elapsed = datetime.now(UTC) - view.decoded.details.not_after
    assert view.validity.state == "expired"
    assert view.validity.days_since_expiry == elapsed.days
    assert view.validity.days_until_expiry == 0


@pytest.mark.django_db
def test_device_list_pages_follow_the_api(dashboard_iot):
    first = device_list(product_key=DEMO_PRODUCT_KEY)
    second = device_list(product_key=DEMO_PRODUCT_KEY, page=2)

    assert len(first.devices) == DEVICE_LIST_PAGE_SIZE
    assert first.page_count == second.page_count == 2
    assert first.total == len(first.devices) + len(second.devices)
    assert not {d.device_name for d in first.devices} & {d.device_name for d in second.devices}


@pytest.mark.django_db
def test_name_filter_is_case_insensitive_and_clamps_the_page(dashboard_iot):
    listing = device_list(product_key=DEMO_PRODUCT_KEY, name_filter="THERMO", page=99)

    assert [d.device_name for d in listing.devices] == ["thermo-001", "thermo-002", "thermo-003"]
    assert listing.page == listing.page_count == 1
    assert not listing.truncated
