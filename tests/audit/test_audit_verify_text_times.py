"""The verifier reads each row's time as text written out by the database (no datetime per row):
that text is exactly the time the hash covers, and a database that printed it otherwise could
never make an intact row look edited."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from certadmin.audit import selectors, verification
from certadmin.audit.hash_chain import CHAIN_FIELDS, created_at_text
from certadmin.audit.models import AuditEvent, ChainProblem
from certadmin.audit.verification import chain_verify
from tests.support.audit_events import make_event, tamper

pytestmark = pytest.mark.django_db

CREATED_AT = CHAIN_FIELDS.index("created_at")
MOMENTS = [
    datetime(2026, 11, 26, 6, 3, 7, 0, tzinfo=UTC),  # no fraction: SQLite stores none
    datetime(2026, 11, 26, 6, 3, 7, 1, tzinfo=UTC),
    datetime(2026, 11, 26, 6, 3, 7, 999_999, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
    datetime(2038, 1, 19, 3, 14, 8, 123_456, tzinfo=UTC),
]


@pytest.fixture(autouse=True)
def _no_checkpoint_age_limit(settings):
    # Rows dated years ago with no checkpoint would be overdue: not what these tests are about.
    settings.AUDIT_CHECKPOINT_MAX_AGE = timedelta(0)


@pytest.fixture
def events_at_moments(monkeypatch):
    events = []
    for moment in MOMENTS:
        monkeypatch.setattr(timezone, "now", lambda moment=moment: moment)
        events.append(make_event())
    monkeypatch.undo()
    return events


def test_the_database_writes_each_time_as_the_hash_holds_it(events_at_moments):
    read = {row_id: values for row_id, values, _ in verification._rows_in_chain_order(batch_size=2)}
    for event in AuditEvent.objects.all():
        assert read[event.id][CREATED_AT] == created_at_text(event.created_at)
    assert chain_verify().ok


def test_a_time_the_database_prints_otherwise_does_not_make_a_row_look_edited(
    events_at_moments, monkeypatch
):
    # As if the database wrote every time out in some other shape.
    monkeypatch.setattr(
        selectors,
        "UTC_TIME_TEXT",
        dict.fromkeys(selectors.UTC_TIME_TEXT, "'26/11/2026 06:03' || ''"),
    )
    report = chain_verify()
    assert report.ok, report
    assert report.checked == len(MOMENTS)


def test_an_edited_time_is_still_found(events_at_moments):
    third = events_at_moments[2]
    tamper(
        "UPDATE audit_auditevent SET created_at = %s WHERE id = %s",
        [datetime(2026, 11, 26, 6, 3, 8, 999_999, tzinfo=UTC), third.id],
    )
    report = chain_verify()
    assert not report.ok
    assert report.problem == ChainProblem.EDITED
    assert report.first_broken_id == third.id
