"""The event list's query shapes at scale: a day filter is asked as an id range,
and the indexes for one action and one product's outcome exist; the filters still return the
right rows, and keyset pages still continue correctly."""

from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from certadmin.audit.models import AuditAction, AuditOutcome
from certadmin.audit.selectors import events_before, events_filtered, events_page
from tests.support.audit_events import make_event, tamper

DAYS = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
OFFSETS = [
    timedelta(0),
    timedelta(hours=9),
    timedelta(hours=17),
    timedelta(days=1, microseconds=-1),
]


@pytest.fixture
def three_days():
    """Twelve events, four a day over three days, times rising with the id as ``audit_record``
    stamps them; returns {day: [ids, oldest first]}."""
    by_day = {}
    for day in DAYS:
        midnight = timezone.make_aware(datetime.combine(day, datetime.min.time()))
        ids = []
        for offset in OFFSETS:  # the first and last instants of the day count
            event = make_event()
            tamper(
                "UPDATE audit_auditevent SET created_at = %s WHERE id = %s",
                [connection.ops.adapt_datetimefield_value(midnight + offset), event.id],
            )
            ids.append(event.id)
        by_day[day] = ids
    return by_day


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("date_from", "date_to", "days"),
    [
        (DAYS[0], DAYS[0], [DAYS[0]]),
        (DAYS[1], DAYS[1], [DAYS[1]]),
        (DAYS[2], DAYS[2], [DAYS[2]]),
        (DAYS[0], DAYS[1], [DAYS[0], DAYS[1]]),
        (DAYS[1], None, [DAYS[1], DAYS[2]]),
        (None, DAYS[1], [DAYS[0], DAYS[1]]),
        (DAYS[2] + timedelta(days=1), None, []),
        (None, DAYS[0] - timedelta(days=1), []),
        (DAYS[0] - timedelta(days=9), DAYS[2] + timedelta(days=9), DAYS),
    ],
)
def test_a_date_filter_returns_exactly_the_events_of_its_days(three_days, date_from, date_to, days):
    found = list(
        events_filtered(viewer=None, date_from=date_from, date_to=date_to).values_list(
            "id", flat=True
        )
    )
    expected = sorted((i for day in days for i in three_days[day]), reverse=True)
    assert found == expected


@pytest.mark.django_db
def test_keyset_pages_of_a_date_range_continue_to_its_first_event(three_days):
    events = events_filtered(viewer=None, date_from=DAYS[0], date_to=DAYS[1])
    seen, before = [], None
    while True:
        rows, before = events_page(events, before_id=before, page_size=3)
        seen += [row.id for row in rows]
        if before is None:
            break
    assert seen == sorted(three_days[DAYS[0]] + three_days[DAYS[1]], reverse=True)


@pytest.mark.django_db
def test_a_date_filter_combines_with_the_other_filters(three_days):
    wanted = three_days[DAYS[1]][1]
    tamper("UPDATE audit_auditevent SET outcome = %s WHERE id = %s", ["denied", wanted])
    found = events_filtered(
        viewer=None, date_from=DAYS[1], date_to=DAYS[1], outcome=AuditOutcome.DENIED
    )
    assert [event.id for event in found] == [wanted]


@pytest.mark.django_db
def test_product_outcome_and_action_filters_return_their_rows_newest_first():
    a = make_event(product_key="a1Prod", outcome=AuditOutcome.DENIED)
    make_event(product_key="a1Prod", outcome=AuditOutcome.SUCCESS)
    make_event(product_key="a1Other", outcome=AuditOutcome.DENIED)
    b = make_event(product_key="a1Prod", outcome=AuditOutcome.DENIED)
    found = events_filtered(viewer=None, product_key="a1Prod", outcome=AuditOutcome.DENIED)
    assert [event.id for event in found] == [b.id, a.id]
    c = make_event(action=AuditAction.KEY_DOWNLOAD)
    found = events_filtered(viewer=None, actions=[AuditAction.KEY_DOWNLOAD])
    assert [event.id for event in found] == [c.id]


@pytest.mark.django_db
def test_the_list_filter_indexes_exist():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "audit_auditevent")
    assert constraints["audit_action_id_idx"]["columns"] == ["action", "id"]
    assert constraints["audit_product_outcome_idx"]["columns"] == ["product_key", "outcome", "id"]


@pytest.mark.django_db
def test_the_keyset_bound_leads_the_where_clause_and_keeps_the_range(three_days):
    events = events_filtered(viewer=None, date_from=DAYS[0], date_to=DAYS[1])
    middle = three_days[DAYS[1]][2]
    older = events_before(events, before_id=middle)
    expected = [*three_days[DAYS[0]], *three_days[DAYS[1]][:2]][::-1]
    assert list(older.values_list("id", flat=True)) == expected
    # SQLite walks the primary key from the first upper bound on the id it meets.
    where = str(older.query).split(" WHERE ", 1)[1]
    assert where.startswith(f'("audit_auditevent"."id" < {middle} ')
