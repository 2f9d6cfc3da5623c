"""The fleet-health page's counts and rows, cached under the findings' versions (issue 24:
130,000 open findings counted again on every view, also after every inventory write, and a
page's rows read and written out again): read from the cache
while no finding changed, right at once after a run, a suppression or a finding written around
them, and never another person's or filter's."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from certadmin.devices.inventory import inventory_changed
from certadmin.findings.counts_cache import FindingsPageCache
from certadmin.findings.models import Finding, FindingsVersion
from certadmin.findings.suppressions import suppression_create
from tests.findings.conftest import PRODUCT, days, leaf_expiring_in
from tests.findings.test_suppressions import CONTEXT, REASON
from tests.support.databases import migrate
from tests.support.iot_accounts import account_on

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def _counted(**filters) -> tuple[dict, int]:
    """The counts for the default account (code -> count), and how many queries counted."""
    with CaptureQueriesContext(connection) as queries:
        rows = FindingsPageCache(accounts=["default"], now=timezone.now(), **filters).counts()
    counting = [q for q in queries.captured_queries if "COUNT(*)" in q["sql"]]
    return {row["code"]: row["count"] for row in rows}, len(counting)


def test_counts_come_from_the_cache_until_the_findings_change(store, run):
    store(cert=leaf_expiring_in(days(-3)))
    store(cert=leaf_expiring_in(days(-2)))
    run()
    assert FindingsVersion.objects.filter(product_key=PRODUCT).exists()
    first, counted = _counted()
    assert first["cert.expired"] == 2
    assert counted == 1
    again, counted = _counted()
    assert (again, counted) == (first, 0)
    # An inventory write changes no finding: still cached.
    inventory_changed(account="default", product_key=PRODUCT, iot_instance_id="")
    assert _counted() == (first, 0)
    # A run that opens a finding: counted again, and right.
    store(cert=leaf_expiring_in(days(-1)))
    run()
    after, counted = _counted()
    assert after["cert.expired"] == 3
    assert counted == 1


def test_a_run_that_closes_findings_shows_at_once(store, run):
    record = store(cert=leaf_expiring_in(days(-3)))
    run()
    assert _counted()[0]["cert.expired"] == 1
    record.delete()  # gone from the inventory: the run closes its findings
    inventory_changed(account="default", product_key=PRODUCT, iot_instance_id="")
    run()
    assert "cert.expired" not in _counted()[0]


def _product_inactive_suppressed(actor) -> None:
    """The product's inactive-device findings suppressed for 30 days."""
    suppression_create(
        actor=actor,
        code="cert.valid_device_inactive",
        account="default",
        product_key=PRODUCT,
        iot_instance_id="",
        device_name="",
        subject="",
        reason=REASON,
        ends_at=timezone.now() + days(30),
        context=CONTEXT,
    )


def test_a_suppression_moves_findings_out_of_the_open_counts_at_once(store, run, fleet_manager):
    store(device_status="DISABLE")
    run()
    assert _counted()[0]["cert.valid_device_inactive"] == 1
    assert _counted(state="suppressed")[0] == {}
    _product_inactive_suppressed(fleet_manager)
    assert "cert.valid_device_inactive" not in _counted()[0]
    assert _counted(state="suppressed")[0] == {"cert.valid_device_inactive": 1}


def test_a_finding_written_around_the_runs_changes_the_key(store, run):
    store(cert=leaf_expiring_in(days(-3)))
    run()
    assert _counted()[0]["cert.expired"] == 1
    template = Finding.objects.get(code="cert.expired")
    template.pk = None
    template.device_name = "loaded-in-bulk"
    template.save()
    assert _counted()[0]["cert.expired"] == 2


def test_without_any_version_nothing_is_cached(store):
    Finding.objects.create(
        code="cert.expired",
        severity=50,
        account="default",
        product_key=PRODUCT,
        device_name="dev-bulk",
        first_seen=timezone.now(),
        last_seen=timezone.now(),
    )
    assert _counted() == ({"cert.expired": 1}, 1)
    assert _counted() == ({"cert.expired": 1}, 1)


def test_the_page_shows_the_cached_counts_of_the_persons_own_filters(store, run, viewer_client):
    store(cert=leaf_expiring_in(days(-3)))
    store(device_status="DISABLE")
    run()
    fleet = reverse("findings:fleet")

    def codes(**query) -> dict:
        # Read from the page: a cached page is written out without its context.
        html = viewer_client.get(fleet, query).content.decode()
        counted = re.findall(
            r'<td><code>([\w.]+)</code>[^<]*</td><td><span class="badge[^"]*">[^<]*</span></td>'
            r"<td>(\d+)</td>",
            html,
        )
        return {code: int(count) for code, count in counted}

    both = codes()
    assert both["cert.expired"] == 1
    assert both["cert.valid_device_inactive"] == 1
    assert set(codes(code="cert.expired")) == {"cert.expired"}
    # The wider view again (now from the cache) still has both.
    assert codes() == both


def _rows_read(client, **query) -> tuple[str, int]:
    """The fleet page's HTML, and how many queries read findings' rows (not the cache key's)."""
    with CaptureQueriesContext(connection) as queries:
        html = client.get(reverse("findings:fleet"), query).content.decode()
    reads = [
        q
        for q in queries.captured_queries
        if 'FROM "findings_finding"' in q["sql"] and "findings_findingsversion" not in q["sql"]
    ]
    return html, len(reads)


def test_a_page_of_rows_is_cached_until_the_findings_change(store, run, viewer_client):
    first = store(status=1)
    run()
    html, reads = _rows_read(viewer_client)
    assert first.device_name in html
    assert reads == 2  # the counts and the page's rows
    again, reads = _rows_read(viewer_client)
    assert (again.count(first.device_name), reads) == (html.count(first.device_name), 0)
    # Other filters are other values.
    assert _rows_read(viewer_client, state="all")[1] == 2
    # An inventory write changes no finding: still cached.
    inventory_changed(account="default", product_key=PRODUCT, iot_instance_id="")
    assert _rows_read(viewer_client)[1] == 0
    # A run that opens a finding: the page shows it at once.
    second = store(status=1)
    run()
    after, reads = _rows_read(viewer_client)
    assert second.device_name in after
    assert reads == 2


def test_a_suppression_takes_the_rows_off_the_open_page_at_once(store, run, fleet_manager):
    record = store(device_status="DISABLE")
    run()
    client = Client()
    client.force_login(fleet_manager)
    assert record.device_name in _rows_read(client)[0]
    _product_inactive_suppressed(fleet_manager)
    assert record.device_name not in _rows_read(client)[0]
    assert record.device_name in _rows_read(client, state="suppressed")[0]


def test_cached_rows_are_never_shown_to_a_person_of_other_accounts(
    store, run, settings, make_user, client_for, staging_iot
):
    account_on(settings, "staging", groups=("Staging team",))
    mine = store(status=1)
    theirs = store(status=1, account="staging", product_key="a1Stage0001")
    run()
    staff = make_user("Viewer")
    staff.groups.add(Group.objects.get_or_create(name="Staging team")[0])
    viewer = make_user("Viewer")
    for _ in range(2):  # the second time from the cache
        wide = client_for(staff).get(reverse("findings:fleet")).content.decode()
        assert mine.device_name in wide
        assert theirs.device_name in wide
        narrow = client_for(viewer).get(reverse("findings:fleet")).content.decode()
        assert mine.device_name in narrow
        assert theirs.device_name not in narrow


def test_cached_rows_keep_the_suppress_link_to_fleet_managers(
    store, run, viewer_client, fleet_manager_client
):
    store(status=1)
    run()
    link = reverse("findings:suppressions") + "?finding="
    for _ in range(2):
        assert link in _rows_read(fleet_manager_client)[0]
        assert link not in _rows_read(viewer_client)[0]


def test_cached_rows_are_kept_per_language(store, run, viewer_client):
    store(status=1)
    run()
    english, _reads = _rows_read(viewer_client)
    assert "<td>open</td>" in english
    chinese = viewer_client.get(
        reverse("findings:fleet"), headers={"Accept-Language": "zh-hans"}
    ).content.decode()
    assert "<td>未关闭</td>" in chinese
    assert "<td>open</td>" in _rows_read(viewer_client)[0]


@pytest.fixture
def findings_migrated_back():
    """Whatever the test migrates the findings back to, the later tests of this database find
    every migration applied (left at 0005, the index of 0006 was gone for them)."""
    yield
    migrate("findings", "latest")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("findings_migrated_back")
def test_the_migration_gives_every_product_with_findings_from_before_versions_one(store, run):
    store(cert=leaf_expiring_in(days(-3)))
    run()
    kept = FindingsVersion.objects.get(product_key=PRODUCT)
    before_versions = {"account": "second", "product_key": "pOld", "iot_instance_id": "iot-cn-1"}
    for scope in (before_versions, {"account": "", "product_key": "", "iot_instance_id": ""}):
        Finding.objects.create(
            code="cert.expired",
            severity=50,
            device_name="dev-old",
            first_seen=timezone.now(),
            last_seen=timezone.now(),
            **scope,
        )
    migrate("findings", "0004_findings_version")
    migrate("findings", "0005_findings_versions_given")
    given = set(
        FindingsVersion.objects.values_list("account", "product_key", "iot_instance_id", "version")
    )
    assert {row[:3] for row in given} == {
        ("default", PRODUCT, ""),
        ("second", "pOld", "iot-cn-1"),
        ("", "", ""),
    }
    assert ("default", PRODUCT, "", kept.version) in given  # a version there stays
    # An install whose findings all come from before versions: cached from the first view on,
    # without waiting for a run.
    FindingsVersion.objects.all().delete()
    migrate("findings", "0004_findings_version")
    assert _counted()[1] == _counted()[1] == 1
    migrate("findings", "0005_findings_versions_given")
    counts, counted = _counted()
    assert counted == 1
    assert _counted() == (counts, 0)


def test_the_htmx_results_are_the_cached_part_and_show_a_run_at_once(store, run, viewer_client):
    first = store(status=1)
    run()
    page, reads = _rows_read(viewer_client)
    assert reads == 2
    with CaptureQueriesContext(connection) as queries:
        partial = viewer_client.get(
            reverse("findings:fleet"), headers={"HX-Request": "true"}
        ).content.decode()
    assert "<html" not in partial
    assert first.device_name in partial
    assert partial.strip() in page
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"]]
    second = store(status=1)
    run()
    partial = viewer_client.get(
        reverse("findings:fleet"), headers={"HX-Request": "true"}
    ).content.decode()
    assert second.device_name in partial


def test_a_cached_page_stays_across_minutes_while_nothing_changes(
    store, run, viewer_client, a_fresh_minute
):
    store(status=1)
    run()
    html, reads = _rows_read(viewer_client)
    assert reads == 2
    # Keyed by the minute, every reader worked the page out again each minute.
    a_fresh_minute.shift(3 * 60)
    again, reads = _rows_read(viewer_client)
    assert (again.count("<tr"), reads) == (html.count("<tr"), 0)


def test_a_suppression_that_ends_shows_the_finding_open_at_once(
    store, run, fleet_manager, a_fresh_minute
):
    record = store(device_status="DISABLE")
    run()
    client = Client()
    client.force_login(fleet_manager)
    suppression_create(
        actor=fleet_manager,
        code="cert.valid_device_inactive",
        account="default",
        product_key=PRODUCT,
        reason=REASON,
        ends_at=timezone.now() + timedelta(seconds=5),
        context=CONTEXT,
    )
    assert record.device_name not in _rows_read(client)[0]
    assert _rows_read(client)[1] == 0  # cached while suppressed
    # Within the same minute: a key of the minute showed the finding suppressed for up to one.
    a_fresh_minute.shift(6)
    html, reads = _rows_read(client)
    assert record.device_name in html
    assert reads == 2
    assert record.device_name not in _rows_read(client, state="suppressed")[0]
