"""``devices.inventory.upsert_one``: the upsert a sync makes for every device, compiled once and
bound with each record's values, writes what ``bulk_create(update_conflicts=True)`` writes."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from certadmin.devices import inventory
from certadmin.devices.inventory import RECORD_KEY, inventory_changed, upsert_one
from certadmin.devices.models import CertificateRecord, InventoryVersion

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def _record(**fields) -> CertificateRecord:
    return CertificateRecord(product_key="a1Upsert", device_name="unit-1", **fields)


def test_a_new_record_is_inserted_and_a_second_write_updates_only_the_fields_named():
    first = _record(status=2, not_after=NOW + timedelta(days=40), last_checked=NOW, nickname="a")
    upsert_one(first, unique_fields=RECORD_KEY, update_fields=["status", "not_after"])
    stored = CertificateRecord.objects.get()
    assert first.pk == stored.pk
    assert (stored.status, stored.not_after, stored.nickname) == (2, first.not_after, "a")

    later = NOW + timedelta(days=400)
    second = _record(status=0, not_after=later, last_checked=None, nickname="b")
    with CaptureQueriesContext(connection) as queries:
        upsert_one(second, unique_fields=RECORD_KEY, update_fields=["status", "not_after"])
    assert len(queries.captured_queries) == 1
    stored = CertificateRecord.objects.get()
    assert second.pk == stored.pk == first.pk
    # Named fields written; the others kept as they were.
    assert (stored.status, stored.not_after) == (0, later)
    assert (stored.nickname, stored.last_checked) == ("a", NOW)


def test_the_statements_of_a_record_and_of_a_version_are_compiled_once_and_kept():
    inventory._UPSERTS.clear()
    for n in range(3):
        record = _record(status=2, not_after=NOW + timedelta(days=n), last_checked=NOW)
        upsert_one(record, unique_fields=RECORD_KEY, update_fields=["status", "not_after"])
        inventory_changed(account="", product_key="a1Upsert", iot_instance_id="")
    kept = {key[0]: sql for key, sql in inventory._UPSERTS.items()}
    # Taken over, not left to bulk_create: the values bound are the ones Django bound.
    assert set(kept) == {"devices.CertificateRecord", "devices.InventoryVersion"}
    assert all(sql is not None and "ON CONFLICT" in sql for sql in kept.values())
    assert CertificateRecord.objects.get().not_after == NOW + timedelta(days=2)
    assert InventoryVersion.objects.filter(product_key="a1Upsert").count() == 1
