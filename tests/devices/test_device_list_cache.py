"""The product device list's table and coverage, cached under the product's inventory version:
every inventory write shows at once, each filter, page and sort is a table of its own, and a
cached table is never read for another account or by a person who may not use it."""

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from certadmin.devices.inventory import inventory_listing_store
from certadmin.devices.models import CertificateRecord, ProductSync
from certadmin.iot.results import DeviceListing
from tests.support.pages import HTMX_HEADERS, page_text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("a_fresh_minute")]

PRODUCT_KEY = "a1ListCache1"
LIST_URL = f"/devices/?product_key={PRODUCT_KEY}"


def listed(*names: str, account: str = "", nickname: str = "") -> None:
    """What a product sync writes for a listing page (the product's version changes), and
    its complete sync."""
    inventory_listing_store(
        product_key=PRODUCT_KEY,
        iot_instance_id="",
        account=account,
        listings=[
            DeviceListing(
                device_name=name,
                nickname=nickname,
                device_status="ONLINE",
                iot_id=f"iot-{name}",
                created="",
            )
            for name in names
        ],
    )
    ProductSync.objects.update_or_create(
        account=account or "default",
        product_key=PRODUCT_KEY,
        iot_instance_id="",
        defaults={"device_count": len(names), "synced_at": timezone.now()},
    )


def test_an_inventory_write_shows_at_once_and_nothing_else_is_worked_out_again(viewer, client_for):
    listed("pump-0001", "pump-0002", nickname="Boiler room")
    client = client_for(viewer)
    first = page_text(client.get(LIST_URL))
    assert "pump-0002" in first
    assert "Boiler room" in first
    assert "Coverage: 0 of 2 devices listed" in first

    # Written around the inventory functions (no new version): the cached table stands...
    CertificateRecord.objects.filter(product_key=PRODUCT_KEY).update(nickname="Cellar")
    assert "Boiler room" in page_text(client.get(LIST_URL))

    # ... and a sync's write is shown by the next view: its rows, total and coverage.
    listed("pump-0001", "pump-0002", "pump-0003", nickname="Roof")
    after = page_text(client.get(LIST_URL))
    assert "pump-0003" in after
    assert "Roof" in after
    assert "Boiler room" not in after
    assert "3 devices" in after
    assert "Coverage: 0 of 3 devices listed" in after
    # The htmx partial is the same table.
    assert "pump-0003" in page_text(client.get(LIST_URL, headers=HTMX_HEADERS))


def test_each_search_sort_and_page_is_a_table_of_its_own(viewer, client_for, settings):
    listed(*(f"unit-{n:04}" for n in range(1, 61)), "valve-0001")
    client = client_for(viewer)

    assert "valve-0001" not in page_text(client.get(LIST_URL + "&q=unit"))
    valves = page_text(client.get(LIST_URL + "&q=valve"))
    assert "valve-0001" in valves
    assert "unit-0001" not in valves
    assert "unit-0060" not in page_text(client.get(LIST_URL))
    assert "unit-0060" in page_text(client.get(LIST_URL + "&page=2"))
    assert "valve-0001" in page_text(client.get(LIST_URL + "&sort=-name"))


def test_a_cached_table_is_never_shown_for_another_account_or_to_someone_without_it(
    staging_for_a_group, viewer, client_for, make_user
):
    listed("home-0001")
    listed("stage-0001", account="staging")
    viewer.groups.add(Group.objects.get(name="Staging team"))
    member = client_for(viewer)

    staging = page_text(member.get(LIST_URL + "&account=staging"))
    default = page_text(member.get(LIST_URL))

    assert "stage-0001" in staging
    assert "home-0001" not in staging
    assert "home-0001" in default
    assert "stage-0001" not in default
    # The same URL, cached a moment ago, for a person who may not use the account.
    outsider = client_for(make_user("Viewer"))
    refused = outsider.get(LIST_URL + "&account=staging")
    assert refused.status_code != 200
    assert "stage-0001" not in page_text(refused)


def test_a_products_coverage_compiled_once_is_each_products_own(viewer):
    from certadmin.devices.kept_counts import kept_scope_q
    from certadmin.devices.selectors import product_coverage, products_coverage

    listed("pump-0001", "pump-0002")
    listed("stage-0001", account="staging")
    now = timezone.now()
    CertificateRecord.objects.filter(device_name="pump-0001").update(last_checked=now)

    for account, listed_count in (("default", 2), ("staging", 1), ("other", 0)):
        # The second call runs the query compiled by the first, with this product's values.
        for _ in range(2):
            coverage = product_coverage(product_key=PRODUCT_KEY, account=account)
            assert coverage.listed == listed_count
        numbers = products_coverage(where=kept_scope_q(product_key=PRODUCT_KEY, account=account))
        assert numbers.get((account, PRODUCT_KEY, ""), {}) == {
            name: getattr(coverage, name) for name in numbers.get((account, PRODUCT_KEY, ""), {})
        }
    assert product_coverage(product_key=PRODUCT_KEY).newest_checked == now
    assert product_coverage(product_key=PRODUCT_KEY, iot_instance_id="iot-x").listed == 0


def test_a_sync_started_or_finished_shows_at_once_on_each_products_own_list(viewer, client_for):
    from certadmin.jobs.models import Job, JobKind, JobState

    listed("pump-0001")
    listed("stage-0001", account="staging")
    client = client_for(viewer)
    assert "A sync of this product is running" not in page_text(client.get(LIST_URL))

    # A sync started writes no record: the product's list says so at the next view all the same.
    job = Job.objects.create(
        kind=JobKind.PRODUCT_SYNC, owner=viewer, state=JobState.QUEUED, product_key=PRODUCT_KEY
    )

    running = page_text(client.get(LIST_URL))
    assert "A sync of this product is running" in running
    assert f"/jobs/{job.pk}/" in running
    staging = page_text(client.get(LIST_URL + "&account=staging"))
    assert "A sync of this product is running" not in staging
    assert "(1 device)" in staging
    ProductSync.objects.filter(account="staging").update(device_count=7)
    assert "(7 devices)" in page_text(client.get(LIST_URL + "&account=staging"))
