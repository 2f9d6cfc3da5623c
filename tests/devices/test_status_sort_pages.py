"""The device tables sorted by status, paged one expiry state at a time
(``selectors.inventory_status_sorted``): exactly the rows and the order of the one query that
ranks every record (``inventory_devices(sort="status")``), on every page, for every filter."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from certadmin.devices.expiry import EXPIRY_STATES, STATE_GROUPS, expiry_state_of
from certadmin.devices.models import CertificateRecord, ProductSync
from certadmin.devices.selectors import (
    inventory_devices,
    inventory_state_counts,
    inventory_status_sorted,
)
from tests.devices.test_expiry import EDGES, NOW, PRECEDENCE_CASES
from tests.support.pages import HTMX_HEADERS

pytestmark = pytest.mark.django_db

PRODUCT = "a1StatusPg1"
OTHER = "a1StatusPg2"


def _record(device_name: str, **fields) -> CertificateRecord:
    values = {
        "product_key": PRODUCT,
        "device_name": device_name,
        "status": 2,
        "not_after": NOW + timedelta(days=400),
        "last_checked": NOW - timedelta(hours=1),
    }
    return CertificateRecord.objects.create(**{**values, **fields})


@pytest.fixture
def crafted():
    """Every state several times, names that interleave across states, the same DeviceName in
    two products and two instances (ties broken by ProductKey, then IotInstanceId), and
    removed devices of several states."""
    cases = [{"not_after": NOW + ahead} for ahead, _state in EDGES] + list(PRECEDENCE_CASES)
    for n, fields in enumerate(cases):
        # Reversed numbering: name order is not the order the states were written in.
        _record(f"dev-{len(cases) - n:03d}", **fields)
        _record(f"dev-{len(cases) - n:03d}", product_key=OTHER, **fields)
        _record(f"dev-{len(cases) - n:03d}", iot_instance_id="iot-06z00ep2pjifrby", **fields)
        _record(f"same-{n % 3}", **{**fields, "product_key": OTHER, "iot_instance_id": f"i{n}"})
    for n, fields in enumerate(cases[::3]):
        _record(f"gone-{n:03d}", removed_at=NOW - timedelta(days=1), **fields)


FILTERS = ["", *(state for state, _label in EXPIRY_STATES), *STATE_GROUPS, "removed"]
SCOPES = [{"product_key": PRODUCT}, {"product_key": None}]


def _keys(records) -> list[tuple]:
    return [(r.product_key, r.iot_instance_id, r.device_name) for r in records]


@pytest.mark.parametrize("sort", ["status", "-status"])
@pytest.mark.parametrize("scope", SCOPES, ids=["product", "every-product"])
@pytest.mark.parametrize("q", ["", "dev-01"])
def test_every_page_holds_the_rows_of_the_ranked_query_in_its_order(crafted, sort, scope, q):
    for state in FILTERS:
        ranked = inventory_devices(**scope, q=q, state=state, sort=sort, now=NOW)
        expected = _keys(ranked)
        assert expected or q, f"{state}: every case without a search lists something"
        paged = inventory_status_sorted(ranked, state=state, descending=sort == "-status", now=NOW)
        assert paged.count() == len(expected)
        assert _keys(paged[0:None]) == expected, state
        for size in (3, 7):
            pages = [_keys(paged[start : start + size]) for start in range(0, len(expected), size)]
            assert [key for page in pages for key in page] == expected, (state, size)
            assert all(len(page) == size for page in pages[:-1])
        assert paged[len(expected) : len(expected) + 5] == []


def test_the_order_is_the_state_rank_then_the_name(crafted):
    paged = inventory_status_sorted(
        inventory_devices(product_key=PRODUCT, sort="status", now=NOW),
        state="",
        descending=False,
        now=NOW,
    )
    records = paged[0:None]
    order = [state for state, _label in EXPIRY_STATES]
    keys = [(order.index(expiry_state_of(r, now=NOW)), r.device_name) for r in records]
    assert keys == sorted(keys)
    assert {expiry_state_of(r, now=NOW) for r in records} == set(order)


def test_a_page_ranks_no_record_and_reads_no_more_rows_than_it_shows(crafted):
    records = inventory_devices(product_key=PRODUCT, sort="status", now=NOW)
    paged = inventory_status_sorted(records, state="", descending=False, now=NOW)
    with CaptureQueriesContext(connection) as first:
        assert len(paged[0:3]) == 3
    # Three expired records: one state asked, with LIMIT 3, and nothing counted.
    assert len(first.captured_queries) == 1
    sql = first.captured_queries[0]["sql"]
    assert "CASE" not in sql.upper()
    assert "LIMIT 3" in sql
    with CaptureQueriesContext(connection) as later:
        assert len(paged[12:15]) == 3
    # Past the first page: the counts of the states before it only (here the ready
    # certificates' windows: one query), then the rows of the one or two states the page
    # covers, by name, unranked.
    counted = [q["sql"] for q in later.captured_queries if "COUNT(" in q["sql"].upper()]
    rows = [q["sql"] for q in later.captured_queries if "COUNT(" not in q["sql"].upper()]
    assert len(counted) == 1
    assert 1 <= len(rows) <= 2
    assert all("CASE" not in sql.upper() and "LIMIT" in sql for sql in rows)


@pytest.mark.parametrize("url", ["/devices/", "/expiry/"])
@pytest.mark.parametrize("sort", ["status", "-status"])
def test_the_device_tables_page_by_status_as_the_ranked_order(url, sort, viewer, client_for):
    now = timezone.now()
    cases = [{"not_after": now + ahead} for ahead, _state in EDGES] + [
        {**fields, "not_after": now + (fields["not_after"] - NOW)}
        if fields.get("not_after")
        else fields
        for fields in PRECEDENCE_CASES
    ]
    for n in range(120):
        _record(f"unit-{(n * 37) % 120:03d}", **cases[n % len(cases)])
    ProductSync.objects.create(product_key=PRODUCT, device_count=120, synced_at=now)
    ranked = [name for _p, _i, name in _keys(inventory_devices(product_key=PRODUCT, sort=sort))]
    client = client_for(viewer)
    shown = []
    for page in (1, 2, 3):
        html = client.get(
            url, {"product_key": PRODUCT, "sort": sort, "page": page}, headers=HTMX_HEADERS
        ).content.decode()
        shown += re.findall(rf'href="/devices/{PRODUCT}/([^/"]+)/', html)
    assert shown == ranked


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans")
def test_on_postgresql_a_large_state_is_read_in_name_order_without_sorting():
    # 5,000 records, about 3,900 of them in the state read: a page of 50 is a sliver of it, and
    # the planner already prefers the name-ordered index from a few hundred rows (checked down to
    # 500), so 20,000 proved no more. Without that index the plan sorts at any size.
    CertificateRecord.objects.bulk_create(
        CertificateRecord(
            product_key=PRODUCT,
            device_name=f"unit-{n:05d}",
            status=2,
            not_after=NOW + timedelta(days=n % 900 - 100),
            last_checked=NOW,
        )
        for n in range(5_000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE devices_certificaterecord")
    records = inventory_devices(product_key=PRODUCT, sort="status", now=NOW)
    paged = inventory_status_sorted(records, state="days_over_90", descending=False, now=NOW)
    plan = paged._state_records("days_over_90")[:50].explain()
    # Walked in name order on an index that starts with the product (no sort of the state).
    assert "Index Scan using" in plan
    assert "Sort" not in plan


@pytest.fixture
def fleet():
    """600 records: most with more than 90 days left (as in a real fleet), the rest spread over
    every other state, names interleaving across states."""
    cases = [{"not_after": NOW + ahead} for ahead, _state in EDGES] + list(PRECEDENCE_CASES)
    rows = []
    for n in range(600):
        fields = cases[n % len(cases)] if n % 4 == 0 else {"not_after": NOW + timedelta(days=400)}
        values = {"status": 2, "not_after": None, "last_checked": NOW - timedelta(hours=1)}
        rows.append(
            CertificateRecord(
                product_key=PRODUCT, device_name=f"unit-{(n * 7919) % 600:04d}", **values | fields
            )
        )
    CertificateRecord.objects.bulk_create(rows)


@pytest.mark.parametrize("sort", ["status", "-status"])
@pytest.mark.parametrize("given_total", [True, False], ids=["total-given", "total-unknown"])
def test_deep_pages_hold_the_rows_of_the_full_sort(fleet, sort, given_total):
    ranked = inventory_devices(product_key=PRODUCT, sort=sort, now=NOW)
    expected = _keys(ranked)
    assert len(expected) == 600
    for start in (0, 50, 250, 300, 450, 500, 550, 575, 599, 600):
        # A new object per page, as each request makes one: nothing counted carries over.
        paged = inventory_status_sorted(
            ranked,
            state="",
            descending=sort == "-status",
            now=NOW,
            total=len(expected) if given_total else None,
        )
        assert _keys(paged[start : start + 50]) == expected[start : start + 50], start


@pytest.mark.parametrize("given_total", [True, False], ids=["total-given", "total-unknown"])
def test_a_page_among_the_many_far_from_expiry_does_not_count_them(fleet, given_total):
    ranked = inventory_devices(product_key=PRODUCT, sort="status", now=NOW)
    paged = inventory_status_sorted(
        ranked, state="", descending=False, now=NOW, total=600 if given_total else None
    )
    with CaptureQueriesContext(connection) as queries:
        assert len(paged[300:350]) == 50
    counted = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    # The ready certificates' windows before it (and, from the total, the few not ready); never
    # the records with more than 90 days left, whose count walks most of the index.
    assert len(counted) == (2 if given_total else 1)
    assert not any('"not_after" >=' in sql for sql in counted)


@pytest.mark.parametrize("sort", ["status", "-status"])
def test_deep_pages_from_the_kept_counts_hold_the_rows_of_the_full_sort_and_count_nothing(
    fleet, sort
):
    ranked = inventory_devices(product_key=PRODUCT, sort=sort, now=NOW)
    expected = _keys(ranked)
    counts = inventory_state_counts(scope={"product_key": PRODUCT}, now=NOW)
    assert sum(counts.values()) == len(expected) == 600
    for start in (50, 300, 550, 599):
        paged = inventory_status_sorted(
            ranked, state="", descending=sort == "-status", now=NOW, total=600, counts=counts
        )
        with CaptureQueriesContext(connection) as queries:
            assert _keys(paged[start : start + 50]) == expected[start : start + 50], start
        # The states before the page come from the kept counts: no record is counted.
        assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


def test_the_kept_state_counts_are_none_when_a_device_filter_narrows_the_scope(fleet):
    assert inventory_state_counts(scope={"product_key": PRODUCT, "node_type": 0}, now=NOW) is None
    assert (
        inventory_state_counts(
            scope={"product_key": PRODUCT, "device_statuses": ("ONLINE",)}, now=NOW
        )
        is None
    )
