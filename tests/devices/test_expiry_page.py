"""The expiry overview: counts per state, the table, the CSV of what the filters show, and who
may see it."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from certadmin.devices.forms import InventoryFilterForm
from certadmin.devices.inventory_csv import INVENTORY_CSV_HEADER
from certadmin.devices.models import CertificateRecord
from tests.support.iot_accounts import account_on
from tests.support.pages import HTMX_HEADERS, page_text

pytestmark = pytest.mark.django_db

PRODUCT_KEY = "a1Expiry001"


def record(device_name: str, *, product_key: str = PRODUCT_KEY, **fields) -> CertificateRecord:
    now = timezone.now()
    defaults = {"status": 2, "not_after": now + timedelta(days=400), "last_checked": now}
    return CertificateRecord.objects.create(
        product_key=product_key, device_name=device_name, **{**defaults, **fields}
    )


@pytest.fixture
def known():
    """Per state, a known number of records."""
    now = timezone.now()
    for n in range(3):
        record(f"expired-{n}", not_after=now - timedelta(days=n + 1))
    for n in range(2):
        record(f"soon-{n}", not_after=now + timedelta(days=3))
    record("month-0", not_after=now + timedelta(days=20))
    record("quarter-0", not_after=now + timedelta(days=60))
    for n in range(4):
        record(f"valid-{n}")
    record("making-0", status=0, not_after=None)
    record("failed-0", last_error_code="iot.device.NotExistedDevice", status=None, not_after=None)
    record("never-0", last_checked=None, status=None, not_after=None)
    record("elsewhere-0", product_key="a1Other0001", not_after=now - timedelta(days=9))
    return now


def counts_of(html: str) -> dict[str, int]:
    found = re.findall(
        r'class="expiry-count expiry-(\w+)"[^>]*><span class="count-number">(\d+)</span>', html
    )
    return {state: int(number) for state, number in found}


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_counts_per_state_for_one_product(known, viewer, client_for):
    response = client_for(viewer).get(f"/expiry/?product_key={PRODUCT_KEY}")

    assert response.status_code == 200
    assert counts_of(page_text(response)) == {
        "expired": 3,
        "days_0_7": 2,
        "days_8_30": 1,
        "days_31_90": 1,
        "days_over_90": 4,
        "not_issued": 1,
        "failed": 1,
        "never": 1,
    }


def test_all_products_counts_every_product(known, viewer, client_for):
    html = page_text(client_for(viewer).get("/expiry/"))

    assert counts_of(html)["expired"] == 4
    assert "elsewhere-0" in html
    assert "a1Other0001" in html


def test_a_count_link_filters_the_table_to_its_state(known, viewer, client_for):
    html = page_text(client_for(viewer).get(f"/expiry/?product_key={PRODUCT_KEY}"))
    link = re.search(r'href="(/expiry/\?[^"]*state=expired[^"]*)"', html).group(1)

    filtered = page_text(client_for(viewer).get(link.replace("&amp;", "&"), headers=HTMX_HEADERS))

    assert "<html" not in filtered
    assert "3 devices" in filtered
    shown = re.findall(r'class="mono" href="[^"]+">([\w-]+)<', filtered)
    # Days left, fewest first: the longest expired first.
    assert shown == ["expired-2", "expired-1", "expired-0"]


@pytest.mark.parametrize(
    ("query", "total"),
    [
        ("", 14),
        ("&state=expired", 3),
        ("&state=days_over_90", 4),
        ("&state=never", 1),
        ("&q=soon", 2),
    ],
)
def test_table_total_is_the_count_of_its_state_and_the_table_counts_only_a_search(
    known, viewer, client_for, query, total
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        html = page_text(
            client_for(viewer).get(
                f"/expiry/?product_key={PRODUCT_KEY}{query}", headers=HTMX_HEADERS
            )
        )

    assert re.search(rf"\b{total} devices?\b", html)
    paginator_counts = [q for q in queries.captured_queries if '"__count"' in q["sql"]]
    # The counts per state are the kept counts (``devices.kept_counts``): only a search counts.
    assert len(paginator_counts) == (1 if "q=" in query else 0)


def test_table_pages_through_a_state_with_its_count_as_the_total(viewer, client_for):
    now = timezone.now()
    for n in range(120):
        record(f"soon-{n:03d}", not_after=now + timedelta(days=2, minutes=n))
    record("later-0")

    html = page_text(
        client_for(viewer).get(f"/expiry/?product_key={PRODUCT_KEY}&state=days_0_7&page=3")
    )

    assert "120 devices" in html
    assert "Page 3 of 3" in html
    shown = re.findall(r'class="mono" href="[^"]+">([\w-]+)<', html)
    assert shown == [f"soon-{n:03d}" for n in range(100, 120)]


def test_rows_show_state_days_and_a_link_to_the_device(viewer, client_for):
    now = timezone.now()
    record("gone-1", not_after=now - timedelta(days=2, hours=1))
    record("soon-1", not_after=now + timedelta(days=3, hours=1), iot_instance_id="iot-06z00ab")

    html = page_text(client_for(viewer).get("/expiry/"))

    assert re.search(r'href="/devices/a1Expiry001/gone-1/">gone-1<', html)
    assert re.search(r'href="/devices/a1Expiry001/soon-1/\?instance=iot-06z00ab">soon-1<', html)
    assert "3 days left" in html
    # 2 days and 1 hour ago: whole days toward zero, as the CSV and the report count it.
    assert "2 days ago" in html
    assert "3 days ago" not in html
    assert '<span class="badge expiry-days_0_7">Expires in 0–7 days</span>' in html


def test_failed_lookups_show_their_error_code(known, viewer, client_for):
    html = page_text(client_for(viewer).get(f"/expiry/?product_key={PRODUCT_KEY}&state=failed"))

    assert "failed-0" in html
    assert "iot.device.NotExistedDevice" in html


def test_page_has_the_chart_and_a_csv_link_with_the_same_filters(known, viewer, client_for):
    html = page_text(
        client_for(viewer).get(f"/expiry/?product_key={PRODUCT_KEY}&state=days_0_7&q=soon")
    )

    assert "expiry-chart" in html
    assert re.search(
        r'href="/expiry/csv/\?product_key=a1Expiry001&amp;state=days_0_7&amp;q=soon"', html
    )


def test_csv_export_is_exactly_what_the_filters_show_on_every_page(viewer, client_for):
    now = timezone.now()
    CertificateRecord.objects.bulk_create(
        CertificateRecord(
            product_key=PRODUCT_KEY,
            device_name=f"unit-{n:04d}",
            status=2,
            # Half a day off every window's edge: the page's clock runs a little later.
            not_after=now + timedelta(days=n % 120, hours=12),
            last_checked=now,
        )
        for n in range(1, 2601)
    )
    client = client_for(viewer)
    query = f"?product_key={PRODUCT_KEY}&state=days_8_30&q=unit-1"

    html = page_text(client.get(f"/expiry/{query}"))
    total = int(re.search(r"(\d+) devices", html).group(1))
    response = client.get(f"/expiry/csv/{query}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert rows[0] == INVENTORY_CSV_HEADER
    name_column = INVENTORY_CSV_HEADER.index("device_name")
    exported = [row[name_column] for row in rows[1:]]
    expected = [
        r.device_name
        for r in CertificateRecord.objects.filter(
            product_key=PRODUCT_KEY,
            device_name__startswith="unit-1",
            # 8–30 days left: notAfter from 8 days ahead to 31 days ahead (not included).
            not_after__gte=now + timedelta(days=8),
            not_after__lt=now + timedelta(days=31),
        )
    ]
    assert total == len(expected) > 50
    assert sorted(exported) == sorted(expected)
    assert len(exported) == len(set(exported))


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("Viewer", True), ("Key custodian", True), ("Auditor", False), (None, False)],
)
def test_permissions_per_role(known, make_user, client_for, role, allowed):
    client = client_for(make_user(role))

    overview = client.get("/expiry/")
    export = client.get("/expiry/csv/")

    assert overview.status_code == (200 if allowed else 403)
    assert export.status_code == (200 if allowed else 403)
    if allowed:
        assert 'href="/expiry/"' in page_text(client.get("/")), "the main navigation links it"


def test_anonymous_is_sent_to_log_in(client):
    assert client.get("/expiry/").status_code == 302
    assert client.get("/expiry/csv/").status_code == 302


def test_invalid_filters_are_refused_plainly(viewer, client_for):
    response = client_for(viewer).get("/expiry/?state=soonish&product_key=<b>")

    assert response.status_code == 400
    assert "<b>" not in page_text(response)


# --- the Order box and the product picker --------------------------------------------------


def selected_options(html: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r'<option value="([^"]*)"[^>]*\bselected\b', select)


def shown_devices(html: str) -> list[str]:
    return re.findall(r'class="mono" href="[^"]+">([\w-]+)<', html)


def test_the_order_box_shows_the_order_the_rows_are_in_and_show_keeps_it(known, viewer, client_for):
    client = client_for(viewer)
    first = page_text(client.get(f"/expiry/?product_key={PRODUCT_KEY}"))
    # Days left, fewest first, and the box says so (not "DeviceName A–Z", its first option).
    assert selected_options(first, "sort") == ["days"]
    assert shown_devices(first)[:4] == ["expired-2", "expired-1", "expired-0", "soon-0"]
    # Show without a change submits what the box shows: the same rows in the same order.
    again = page_text(client.get(f"/expiry/?product_key={PRODUCT_KEY}&q=&state=&sort=days"))
    assert shown_devices(again) == shown_devices(first)
    by_name = page_text(client.get(f"/expiry/?product_key={PRODUCT_KEY}&sort=name"))
    assert selected_options(by_name, "sort") == ["name"]
    assert shown_devices(by_name) == sorted(shown_devices(first))


@pytest.mark.parametrize("default", ["name", "days"])
def test_a_table_form_without_an_order_shows_its_default(default):
    # The product device list (default "name") and the overview ("days") share the form.
    form = InventoryFilterForm({"q": "", "sort": ""}, default_sort=default, accounts=None)
    assert form.is_valid()
    assert form.cleaned_data["sort"] == default
    assert selected_options(str(form["sort"]), "sort") == [default]


def test_the_product_picker_offers_the_products_of_the_accounts_one_may_use(
    known, make_user, client_for, settings
):
    account_on(settings, "staging", groups=("Staging team",))
    record("staged-0", product_key="a1Staging01", account="staging")
    record("instanced-0", iot_instance_id="iot-06z00ep2pjifrby")
    viewer = make_user("Viewer")

    html = page_text(client_for(viewer).get("/expiry/"))
    assert selected_options(html, "product") == [""]
    options = re.findall(r'<option value="([^"]*)"', html[html.index('name="product"') :])
    assert options[:4] == [
        "",
        "default/a1Expiry001/",
        "default/a1Expiry001/iot-06z00ep2pjifrby",
        "default/a1Other0001/",
    ]
    assert "a1Staging01" not in html  # not an account this person may use

    staff = make_user("Viewer", "staged-viewer")
    staff.groups.add(Group.objects.get_or_create(name="Staging team")[0])
    html = page_text(client_for(staff).get(f"/expiry/?product_key={PRODUCT_KEY}"))
    assert selected_options(html, "product") == [f"default/{PRODUCT_KEY}/"]
    # With several accounts, each product names its account.
    assert ">a1Staging01 · staging</option>" in html
    assert ">a1Expiry001 (iot-06z00ep2pjifrby) · default</option>" in html


def test_picking_a_product_keeps_the_other_filters(known, viewer, client_for):
    client = client_for(viewer)
    html = page_text(client.get("/expiry/?state=expired&q=exp&sort=-days"))
    picker = html[html.index('class="expiry-product-picker"') :]
    picker = picker[: picker.index("</form>")]
    for name, value in (("q", "exp"), ("state", "expired"), ("sort", "-days")):
        assert f'type="hidden" name="{name}" value="{value}"' in picker

    response = client.get(f"/expiry/?product=default/{PRODUCT_KEY}/&q=exp&state=expired&sort=-days")
    assert response.status_code == 302
    assert response["Location"] == (
        f"/expiry/?product_key={PRODUCT_KEY}&q=exp&state=expired&sort=-days"
    )
    page = page_text(client.get(response["Location"]))
    assert "Certificate expiry of a1Expiry001" in page
    assert shown_devices(page) == ["expired-0", "expired-1", "expired-2"]
    assert client.get("/expiry/?product=&state=expired")["Location"] == "/expiry/?state=expired"


def test_a_product_one_may_not_see_is_refused_in_words(known, make_user, client_for, settings):
    account_on(settings, "staging", groups=("Staging team",))
    record("staged-0", product_key="a1Staging01", account="staging")
    response = client_for(make_user("Viewer")).get("/expiry/?product=staging/a1Staging01/")
    assert response.status_code == 400
    assert "Choose one of the products in the list." in page_text(response)
    assert "staged-0" not in page_text(response)
