"""The expiry states of the inventory (``devices/expiry.py``) and the chart of expiries per
month (``devices/expiry_chart.py``), against known records in the database."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.template.loader import render_to_string
from django.utils import timezone, translation

from certadmin.certs.details import Validity, expiry_days_left
from certadmin.devices.expiry import (
    EXPIRY_STATES,
    expiry_counts,
    expiry_state_annotated,
    expiry_state_of,
    expiry_state_q,
    expiry_state_rank,
    expiry_within_count,
    expiry_within_q,
)
from certadmin.devices.expiry_chart import (
    BASELINE,
    PLOT_TOP,
    expiry_chart_html,
    expiry_months,
)
from certadmin.devices.models import NOT_READY_Q, READY_Q, CertificateRecord

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai, the configured zone
MICRO = timedelta(microseconds=1)
names = iter(range(1, 100_000))


def make(**fields) -> CertificateRecord:
    values = {
        "product_key": "a1ExpiryTst",
        "device_name": f"dev-{next(names):05d}",
        "status": 2,
        "not_after": NOW + timedelta(days=400),
        "last_checked": NOW - timedelta(hours=1),
    }
    values.update(fields)
    return CertificateRecord.objects.create(**values)


def states_by_query(*, now=NOW) -> dict[str, str]:
    """device_name -> state, as the database classifies it through each state's Q."""
    found: dict[str, str] = {}
    for state, _label in EXPIRY_STATES:
        for name in CertificateRecord.objects.filter(expiry_state_q(state, now=now)).values_list(
            "device_name", flat=True
        ):
            assert name not in found, f"{name} is both {found[name]} and {state}"
            found[name] = state
    return found


def assert_every_way_says(record: CertificateRecord, state: str, *, now=NOW) -> None:
    assert expiry_state_of(record, now=now) == state
    assert states_by_query(now=now)[record.device_name] == state
    annotated = expiry_state_annotated(CertificateRecord.objects.filter(pk=record.pk), now=now)
    assert annotated.get().expiry_state == state
    # The counts come from index ranges, not from these rules: they must still agree.
    counts = expiry_counts(CertificateRecord.objects.filter(pk=record.pk), now=now)
    assert counts == {**dict.fromkeys(dict(EXPIRY_STATES), 0), state: 1}
    # The status sort's rank: the stored status_rank and notAfter (issue 24), not these rules.
    ranked = CertificateRecord.objects.filter(pk=record.pk).annotate(
        rank=expiry_state_rank(now=now)
    )
    assert ranked.get().rank == [name for name, _label in EXPIRY_STATES].index(state)


DAY = timedelta(days=1)
# The windows are whole days left (``expiry_days_left``), as every row shows them: "7 days
# left" (up to 8 days ahead, not included) is in 0–7 days, "8 days left" in 8–30.
EDGES = [
    (timedelta(0) - MICRO, "expired"),
    (timedelta(0), "days_0_7"),  # notAfter itself is still valid (RFC 5280)
    (timedelta(days=7), "days_0_7"),
    (8 * DAY - MICRO, "days_0_7"),  # 7 days left
    (8 * DAY, "days_8_30"),  # 8 days left
    (timedelta(days=30), "days_8_30"),
    (31 * DAY - MICRO, "days_8_30"),  # 30 days left: the certificate page says "expiring"
    (31 * DAY, "days_31_90"),
    (91 * DAY - MICRO, "days_31_90"),
    (91 * DAY, "days_over_90"),
    (timedelta(days=36_500), "days_over_90"),
    (-timedelta(days=3650), "expired"),
]


@pytest.mark.parametrize(("ahead", "state"), EDGES)
def test_window_edges_are_exact(ahead, state):
    assert_every_way_says(make(not_after=NOW + ahead), state)


@pytest.mark.parametrize(("ahead", "state"), EDGES)
def test_a_window_is_exactly_the_days_left_its_label_names(ahead, state):
    days = expiry_days_left(not_after=NOW + ahead, now=NOW)
    if state == "expired":
        assert ahead < timedelta(0)
    else:
        lower = {"days_0_7": 0, "days_8_30": 8, "days_31_90": 31, "days_over_90": 91}[state]
        upper = {"days_0_7": 7, "days_8_30": 30, "days_31_90": 90}.get(state, 36_500)
        assert lower <= days <= upper


def test_within_n_days_is_the_unexpired_with_at_most_n_days_left():
    for ahead, _state in EDGES:
        make(not_after=NOW + ahead)
    counts = expiry_counts(CertificateRecord.objects.all(), now=NOW)
    for days in (7, 30, 90):
        within = CertificateRecord.objects.filter(expiry_within_q(days, now=NOW))
        assert within.count() == expiry_within_count(counts, days)
        assert all(
            0 <= expiry_days_left(not_after=record.not_after, now=NOW) <= days for record in within
        )
    assert expiry_within_count(counts, 30) == counts["days_0_7"] + counts["days_8_30"]
    assert not CertificateRecord.objects.filter(
        expiry_within_q(30, now=NOW), not_after__lt=NOW
    ).exists()


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        # Never checked wins over everything a listing may have left behind.
        ({"last_checked": None, "last_error_code": "iot.system.SystemException"}, "never"),
        ({"last_checked": None, "status": None, "not_after": None}, "never"),
        # A failed last lookup wins over the certificate fields kept from an earlier one.
        ({"last_error_code": "iot.device.NotExistedDevice"}, "failed"),
        ({"last_error_code": "Throttling.User", "status": 0, "not_after": None}, "failed"),
        ({"last_error_code": "x", "not_after": NOW - timedelta(days=1)}, "failed"),
        ({"status": None, "not_after": None}, "failed"),
        ({"status": 2, "not_after": None}, "failed"),  # ready but unreadable
        ({"status": 7}, "failed"),  # a Status this code does not know
        ({"status": 0, "not_after": None}, "not_issued"),
        ({"status": 1, "not_after": None}, "not_issued"),
        ({"status": 1, "not_after": NOW - timedelta(days=1)}, "not_issued"),
    ],
)
def test_precedence_of_never_failed_and_not_issued(fields, state):
    assert_every_way_says(make(**fields), state)


def test_every_record_is_in_exactly_one_state_and_counts_match_the_records():
    for ahead, _state in EDGES:
        make(not_after=NOW + ahead)
    make(last_checked=None)
    make(last_error_code="iot.device.NotExistedDevice")
    make(status=0, not_after=None)
    make(status=9)
    make(status=None, not_after=None)
    records = CertificateRecord.objects.all()
    counts = expiry_counts(records, now=NOW)
    expected = dict.fromkeys(dict(EXPIRY_STATES), 0)
    for record in records:
        expected[expiry_state_of(record, now=NOW)] += 1
    assert counts == expected
    assert sum(counts.values()) == records.count()
    assert len(states_by_query()) == records.count()
    assert counts["failed"] == 3


PRECEDENCE_CASES = [
    {"last_checked": None, "last_error_code": "iot.system.SystemException"},
    {"last_checked": None, "status": None, "not_after": None},
    {"last_error_code": "iot.device.NotExistedDevice"},
    {"status": None, "not_after": None},
    {"status": 2, "not_after": None},
    {"status": 7},
    {"status": 0, "not_after": None},
    {"status": 1, "not_after": NOW - timedelta(days=1)},
    {"not_after": NOW - timedelta(days=1)},
    {"not_after": NOW + timedelta(days=1)},
    {},
]


@pytest.mark.parametrize("fields", PRECEDENCE_CASES)
def test_ready_and_not_ready_split_the_records_as_the_states_do(fields):
    # The counts and their partial indexes rest on this: every record is in exactly one of
    # the two, and the ready ones are exactly those whose state is a window of notAfter.
    record = make(**fields)
    ready = CertificateRecord.objects.filter(READY_Q, pk=record.pk).exists()
    not_ready = CertificateRecord.objects.filter(NOT_READY_Q, pk=record.pk).exists()
    assert ready != not_ready
    windows = ("expired", "days_0_7", "days_8_30", "days_31_90", "days_over_90")
    assert ready == (expiry_state_of(record, now=NOW) in windows)


def test_counts_take_three_queries_however_many_records(django_assert_num_queries):
    for days in (-5, 3, 20, 60, 400):
        make(not_after=NOW + timedelta(days=days))
    make(last_checked=None)
    make(status=0, not_after=None)
    with django_assert_num_queries(3):
        counts = expiry_counts(CertificateRecord.objects.all(), now=NOW)
    assert counts == {
        "expired": 1,
        "days_0_7": 1,
        "days_8_30": 1,
        "days_31_90": 1,
        "days_over_90": 1,
        "not_issued": 1,
        "failed": 0,
        "never": 1,
    }


def test_chart_is_one_query(django_assert_num_queries):
    make(not_after=NOW + timedelta(days=3))
    make(not_after=NOW + timedelta(days=300))
    with django_assert_num_queries(1):
        chart = expiry_months(CertificateRecord.objects.all(), now=NOW)
    assert chart.total == 2


def test_counts_list_every_state_even_when_empty():
    assert expiry_counts(CertificateRecord.objects.all(), now=NOW) == dict.fromkeys(
        dict(EXPIRY_STATES), 0
    )


def test_counts_follow_the_queryset_filter():
    make(product_key="a1Other1234", not_after=NOW - timedelta(days=1))
    make(not_after=NOW + timedelta(days=3))
    counts = expiry_counts(CertificateRecord.objects.filter(product_key="a1ExpiryTst"), now=NOW)
    assert counts["expired"] == 0
    assert counts["days_0_7"] == 1


@pytest.mark.parametrize(
    ("ahead", "days"),
    [
        (timedelta(days=30, minutes=1), 30),
        (timedelta(hours=1), 0),
        (-timedelta(hours=1), 0),
        (-timedelta(days=30, minutes=1), -30),
    ],
)
def test_days_left_counts_like_the_certificate_page(ahead, days):
    not_after = NOW + ahead
    validity = Validity(
        "expired" if not_after < NOW else "valid", NOW, NOW - timedelta(days=1), not_after
    )
    assert expiry_days_left(not_after=not_after, now=NOW) == days
    assert abs(days) == validity.days_until_expiry + validity.days_since_expiry


# --- the chart ---------------------------------------------------------------------------------


def local(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.get_current_timezone())


def bar_counts(chart) -> dict[str, int]:
    counts = {month.strftime("%Y-%m"): count for month, count in chart.month_counts if count}
    for drawing in chart.drawings:  # every drawing draws the same numbers
        assert [(bar.month, bar.count) for bar in drawing.bars] == chart.month_counts
    return counts


def test_chart_counts_by_local_calendar_month_over_24_months():
    # 2026-03-31 23:59:59 in Shanghai is March; one second later is April.
    make(not_after=local(2026, 3, 31, 23, 59, 59))
    make(not_after=local(2026, 4, 1, 0, 0, 0))
    make(not_after=local(2026, 4, 20))
    # The 24th month is February 2028; March 2028 is outside.
    make(not_after=local(2028, 2, 29, 23, 59, 59))
    make(not_after=local(2028, 3, 1))
    chart = expiry_months(CertificateRecord.objects.all(), now=NOW)
    assert len(chart.month_counts) == chart.months == 24
    assert chart.month_counts[0][0].isoformat() == "2026-03-01"
    assert chart.month_counts[-1][0].isoformat() == "2028-02-01"
    assert bar_counts(chart) == {"2026-03": 1, "2026-04": 2, "2028-02": 1}
    assert chart.total == 4
    assert chart.max_count == 2


def test_chart_month_follows_the_time_zone():
    make(not_after=datetime(2026, 3, 31, 16, 30, tzinfo=UTC))  # April 1st in Shanghai
    assert bar_counts(expiry_months(CertificateRecord.objects.all(), now=NOW)) == {"2026-04": 1}
    with timezone.override("UTC"):
        assert bar_counts(expiry_months(CertificateRecord.objects.all(), now=NOW)) == {"2026-03": 1}


def test_chart_leaves_out_expired_failed_and_unissued_certificates():
    make(not_after=NOW - MICRO)  # expired earlier this month
    make(not_after=NOW + timedelta(days=2), last_error_code="Throttling.User")
    make(not_after=NOW + timedelta(days=2), status=1)
    make(not_after=NOW + timedelta(days=2), last_checked=None)
    make(not_after=NOW)  # expires this very moment: not expired yet
    chart = expiry_months(CertificateRecord.objects.all(), now=NOW)
    assert bar_counts(chart) == {"2026-03": 1}


def test_chart_geometry_scales_bars_to_a_round_axis():
    for _ in range(7):
        make(not_after=local(2026, 5, 10))
    for _ in range(2):
        make(not_after=local(2026, 6, 10))
    chart = expiry_months(CertificateRecord.objects.all(), now=NOW, months=12)
    assert chart.axis_max == 8
    assert [drawing.name for drawing in chart.drawings] == ["wide", "narrow"]
    for drawing in chart.drawings:
        assert [tick.value for tick in drawing.ticks] == [0, 2, 4, 6, 8]
        assert drawing.ticks[0].y == BASELINE
        assert drawing.ticks[-1].y == PLOT_TOP
        may, june = drawing.bars[2], drawing.bars[3]
        assert may.height == pytest.approx((BASELINE - PLOT_TOP) * 7 / 8, abs=0.1)
        assert june.height == pytest.approx((BASELINE - PLOT_TOP) * 2 / 8, abs=0.1)
        assert may.y + may.height == pytest.approx(BASELINE, abs=0.1)
        assert drawing.bars[0].height == 0
        xs = [bar.x for bar in drawing.bars]
        assert xs == sorted(xs)
        assert drawing.plot_left <= xs[0]
        assert all(bar.x + bar.width <= drawing.plot_right for bar in drawing.bars)


def test_year_labels_sit_apart_the_first_left_of_the_plot_each_january_after_a_mark():
    # December first: the old labels put 2025 and 2026 on neighbouring months.
    december = datetime(2025, 12, 10, 4, 0, tzinfo=UTC)
    make(not_after=december + timedelta(days=40))
    chart = expiry_months(CertificateRecord.objects.all(), now=december)
    for drawing in chart.drawings:
        first, *januaries = drawing.years
        assert (first.year, first.anchor, first.mark_x) == (2025, "end", None)
        assert first.x < drawing.plot_left
        assert [(year.year, year.anchor) for year in januaries] == [
            (2026, "start"),
            (2027, "start"),
        ]
        slot = (drawing.plot_right - drawing.plot_left) / 24
        assert januaries[0].mark_x == pytest.approx(drawing.plot_left + slot, abs=0.1)
        assert januaries[1].mark_x == pytest.approx(drawing.plot_left + 13 * slot, abs=0.1)
        assert januaries[0].x > drawing.plot_left
    wide, narrow = chart.drawings
    assert all(bar.shows_month for bar in wide.bars)
    labelled = [bar.month.month for bar in narrow.bars if bar.shows_month]
    assert set(labelled) == {1, 4, 7, 10}


def test_chart_renders_accessible_svg_with_a_table_and_no_inline_style():
    make(not_after=local(2026, 4, 20))
    make(not_after=local(2026, 4, 21))
    chart = expiry_months(CertificateRecord.objects.all(), now=NOW)
    html = render_to_string("devices/expiry_chart.html", {"chart": chart})
    assert 'role="img"' in html
    for name in ("wide", "narrow"):
        assert f'aria-labelledby="expiry-chart-title-{name} expiry-chart-desc-{name}"' in html
        assert f'<title id="expiry-chart-title-{name}">' in html
    assert "<details" in html
    assert "<table" in html
    assert re.search(r"<th scope=\"row\">April 2026</th><td>2</td>", html)
    assert html.count('class="expiry-chart-bar"') == 2  # one bar in each drawing
    assert "style=" not in html
    assert "<script" not in html
    assert not re.search(r"\son[a-z]+=", html)


def test_chart_months_are_labelled_in_the_users_language():
    make(not_after=local(2026, 4, 20))
    chart = expiry_months(CertificateRecord.objects.all(), now=NOW)
    with translation.override("zh-hans"):
        html = render_to_string("devices/expiry_chart.html", {"chart": chart})
    assert "2026年4月" in html


def test_a_chart_drawn_once_is_drawn_again_for_other_counts_months_and_languages():
    drawn = expiry_chart_html([1] + [0] * 23, now=NOW)
    assert drawn is expiry_chart_html([1] + [0] * 23, now=NOW)  # the same drawing reused
    assert "April 2026" in drawn
    with translation.override("zh-hans"):
        assert "2026年4月" in expiry_chart_html([1] + [0] * 23, now=NOW)
    assert "May 2026" in expiry_chart_html([1] + [0] * 23, now=NOW + timedelta(days=31))
    assert ">2</td>" in expiry_chart_html([2] + [0] * 23, now=NOW)


def test_empty_chart_says_so_instead_of_drawing():
    make(not_after=NOW - timedelta(days=1))
    chart = expiry_months(CertificateRecord.objects.all(), now=NOW)
    html = render_to_string("devices/expiry_chart.html", {"chart": chart})
    assert chart.total == 0
    assert "<svg" not in html
    assert "No issued certificate expires in the next 24 months." in html


def test_the_stored_status_rank_follows_every_kind_of_write():
    """The database keeps it (a generated column): an update() that no Python code sees too."""
    record = make(last_checked=None)
    assert CertificateRecord.objects.get(pk=record.pk).status_rank == 7
    CertificateRecord.objects.filter(pk=record.pk).update(last_checked=NOW, last_error_code="x")
    assert CertificateRecord.objects.get(pk=record.pk).status_rank == 6
    CertificateRecord.objects.filter(pk=record.pk).update(last_error_code="", status=0)
    assert CertificateRecord.objects.get(pk=record.pk).status_rank == 5
    CertificateRecord.objects.filter(pk=record.pk).update(status=2)
    assert CertificateRecord.objects.get(pk=record.pk).status_rank == 0


@pytest.mark.parametrize("sort", ["status", "-status"])
def test_the_device_list_sorted_by_status_is_by_state_then_name(sort):
    from certadmin.devices.selectors import inventory_devices

    for ahead, _state in EDGES:
        make(not_after=NOW + ahead)
    for fields in PRECEDENCE_CASES:
        make(**fields)
    order = [name for name, _label in EXPIRY_STATES]
    direction = -1 if sort == "-status" else 1  # most urgent last; ties still by name
    records = list(inventory_devices(product_key="a1ExpiryTst", sort=sort, now=NOW))
    expected = sorted(
        records,
        key=lambda r: (direction * order.index(expiry_state_of(r, now=NOW)), r.device_name),
    )
    assert [r.device_name for r in records] == [r.device_name for r in expected]
