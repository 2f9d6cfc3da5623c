"""A part of a DeviceName or nickname: on SQLite found through the trigram index of devices
migration 0020 (kept by triggers, whatever writes the records), with exactly the results and
order of the case-insensitive ``LIKE`` it replaces; on PostgreSQL as before."""

import pytest
from django.db import connection
from django.db.models import Q

from certadmin.devices.models import CertificateRecord
from certadmin.devices.selectors import inventory_devices
from tests.devices.test_inventory_search import PRODUCT_KEY, make_record

pytestmark = pytest.mark.django_db

FTS = "devices_certificaterecord_name_fts"


@pytest.fixture
def fleet():
    for name, nickname in (
        ("unit-0421", "Pump Room 4"),
        ("unit-04210", ""),
        ("UNIT-1421", "boiler"),
        ("gw_north.01", 'the "north" gateway'),
        ("sensor:a@b", "50%_off it's"),
        ("sensor-99", "Ärger ärger"),
        ("x1Y2z3", "AND OR NOT NEAR(a b) * ^ -"),
    ):
        make_record(name, nickname=nickname)
    make_record("unit-0421", product_key="a1OtherProd")


def _found(q: str, **scope) -> list[str]:
    scope.setdefault("product_key", PRODUCT_KEY)
    return list(inventory_devices(q=q, **scope).values_list("device_name", flat=True))


def _liked(q: str, **scope) -> list[str]:
    """What the search found before the index: LIKE over every record of the scope."""
    scope.setdefault("product_key", PRODUCT_KEY)
    records = inventory_devices(**scope).filter(
        Q(device_name__icontains=q) | Q(nickname__icontains=q)
    )
    return list(records.values_list("device_name", flat=True))


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("unit", ["unit-0421", "unit-04210", "UNIT-1421"]),  # start, any case
        ("UNIT-04", ["unit-0421", "unit-04210"]),
        ("t-042", ["unit-0421", "unit-04210"]),  # middle
        ("421", ["unit-0421", "unit-04210", "UNIT-1421"]),  # end and middle
        ("0421", ["unit-0421", "unit-04210"]),
        ("room", ["unit-0421"]),  # the nickname
        ("pump room 4", ["unit-0421"]),  # spaces are part of it
        ("_north", ["gw_north.01"]),
        ("h.0", ["gw_north.01"]),
        ('"north"', ["gw_north.01"]),  # double quotes
        ('e "n', ["gw_north.01"]),
        ('"', ["gw_north.01"]),
        ("r:a@", ["sensor:a@b"]),
        ("50%", ["sensor:a@b"]),  # LIKE's wildcards are plain characters
        ("%_o", ["sensor:a@b"]),
        ("0_", []),
        ("%%%", []),
        ("___", []),
        ("it's", ["sensor:a@b"]),  # a single quote
        ("'s", ["sensor:a@b"]),
        ("NEAR(a", ["x1Y2z3"]),  # FTS5 query syntax is not read as such
        ("AND OR", ["x1Y2z3"]),
        ("* ^ -", ["x1Y2z3"]),
        ("*", ["x1Y2z3"]),
        ("x1y2Z3", ["x1Y2z3"]),
        ("nothing-like-it", []),
        ("u", ["unit-0421", "unit-04210", "UNIT-1421"]),  # 1-2 characters: LIKE
        ("21", ["unit-0421", "unit-04210", "UNIT-1421"]),
        ("4", ["unit-0421", "unit-04210", "UNIT-1421"]),
        ("_n", ["gw_north.01"]),
        ("%", ["sensor:a@b"]),
        ("r ä", ["sensor-99"]),
    ],
)
def test_a_part_of_a_name_finds_what_like_found_in_the_same_order(fleet, q, expected):
    assert sorted(_found(q), key=str.lower) == sorted(expected, key=str.lower)
    assert _found(q) == _liked(q)
    for sort in ("-name", "days", "status", "-checked"):
        assert _found(q, sort=sort) == _liked(q, sort=sort)
    assert inventory_devices(product_key=PRODUCT_KEY, q=q).count() == len(expected)


def test_case_is_folded_as_like_folds_it(fleet):
    # SQLite's LIKE folds ASCII letters only (PostgreSQL's UPPER folds every letter): the
    # index, which folds every letter, finds no more than LIKE did.
    assert _found("ÄRGER") == _liked("ÄRGER")
    assert _found("ärger") == ["sensor-99"]


def test_every_product_and_the_other_filters_still_apply(fleet):
    assert _found("unit-0421", product_key=None) == ["unit-0421", "unit-0421", "unit-04210"]
    assert _found("unit-0421", product_key=None, accounts=["nobody"]) == []
    assert _found("unit-0421", product_key="a1OtherProd") == ["unit-0421"]
    assert _found("unit-0421", state="removed") == []
    assert _found("unit-0421", device_statuses=["OFFLINE"]) == []
    assert _found("unit-0421", device_statuses=["ONLINE"]) == ["unit-0421", "unit-04210"]


def test_a_certsn_or_fingerprint_is_still_found_beside_the_name_parts(fleet):
    make_record("other-1", cert_sn="unit-0")
    assert _found("unit-0") == ["other-1", "unit-0421", "unit-04210"]


def test_the_index_follows_every_kind_of_write(fleet):
    record = make_record("fresh-device-1")
    assert _found("fresh-dev") == ["fresh-device-1"]
    record.device_name = "renamed-device-1"
    record.save()
    assert _found("fresh-dev") == []
    assert _found("renamed-dev") == ["renamed-device-1"]
    CertificateRecord.objects.filter(pk=record.pk).update(nickname="Lobby Clock")
    assert _found("lobby") == ["renamed-device-1"]
    CertificateRecord.objects.filter(pk=record.pk).update(nickname="")
    assert _found("lobby") == []
    # A write that leaves the names alone (what most of a sync's writes are).
    CertificateRecord.objects.filter(pk=record.pk).update(cert_sn="123", device_status="OFFLINE")
    assert _found("renamed-dev") == ["renamed-device-1"]
    CertificateRecord.objects.bulk_create(
        CertificateRecord(product_key=PRODUCT_KEY, device_name=f"bulk-{n}") for n in range(3)
    )
    assert _found("bulk-") == ["bulk-0", "bulk-1", "bulk-2"]
    CertificateRecord.objects.filter(device_name__startswith="bulk-").update(nickname="Moved")
    assert _found("moved") == ["bulk-0", "bulk-1", "bulk-2"]
    CertificateRecord.objects.filter(device_name="bulk-1").delete()
    assert _found("bulk-") == ["bulk-0", "bulk-2"]
    record.delete()
    assert _found("renamed-dev") == []
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE devices_certificaterecord SET device_name = %s WHERE device_name = %s",
            ["raw-renamed", "bulk-0"],
        )
    assert _found("bulk-") == ["bulk-2"]
    assert _found("raw-ren") == ["raw-renamed"]
    assert _found("unit-0421") == _liked("unit-0421") == ["unit-0421", "unit-04210"]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's own index")
def test_the_name_index_and_its_triggers_exist_after_every_migration():
    # SQLite drops a table's triggers with it: a migration that rebuilds the records' table
    # must make them again.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE tbl_name IN (%s, %s) ORDER BY name",
            ["devices_certificaterecord", FTS],
        )
        names = {name for (name,) in cursor.fetchall()}
    assert {FTS, f"{FTS}_insert", f"{FTS}_update", f"{FTS}_delete"} <= names


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's own index")
def test_the_name_index_holds_exactly_the_records_names(fleet):
    CertificateRecord.objects.filter(device_name="sensor-99").update(device_name="sensor-98")
    CertificateRecord.objects.filter(device_name="x1Y2z3").delete()
    with connection.cursor() as cursor:
        # FTS5's own check of an external-content index against its table.
        cursor.execute(f"INSERT INTO {FTS}({FTS}, rank) VALUES ('integrity-check', 1)")  # noqa: S608
