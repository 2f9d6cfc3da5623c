"""The export's local times, worked out once per UTC hour, are exactly what converting each
time on its own gives: across daylight-saving changes, in zones whose offset is not a whole
number of hours, for times without a fraction, and for values that are not UTC text."""

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from certadmin.audit.evidence_export import LocalTimes, _local_time

ZONES = [
    "UTC",
    "Asia/Shanghai",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "Australia/Lord_Howe",  # moves by 30 minutes
    "America/St_Johns",  # -03:30 / -02:30
]


def utc_text(moment: datetime) -> str:
    """A time as the database writes it for the export."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def around_changes(zone: ZoneInfo) -> list[datetime]:
    """Times every few minutes around each offset change of 2025-2027, and random ones."""
    moments = []
    start = datetime(2025, 1, 1, tzinfo=UTC)
    hour = timedelta(hours=1)
    previous = start.astimezone(zone).utcoffset()
    for n in range(3 * 365 * 24):
        moment = start + n * hour
        offset = moment.astimezone(zone).utcoffset()
        if offset != previous:
            moments += [moment + timedelta(minutes=m) for m in range(-120, 121, 7)]
            moments += [moment - timedelta(microseconds=1), moment]
        previous = offset
    rng = random.Random(zone.key)
    moments += [start + timedelta(seconds=rng.uniform(0, 3 * 365 * 86400)) for _ in range(500)]
    moments += [m.replace(microsecond=0) for m in moments[::5]]
    return moments


@pytest.mark.parametrize("zone_name", ZONES)
def test_every_time_is_what_converting_it_alone_gives(zone_name):
    zone = ZoneInfo(zone_name)
    local_time = LocalTimes(zone)
    moments = around_changes(zone)
    assert len(moments) > 500
    for moment in moments:
        text = utc_text(moment)
        assert local_time(text) == _local_time(text, zone) == moment.astimezone(zone).isoformat()


def test_values_that_are_not_utc_text_are_converted_alone():
    zone = ZoneInfo("Europe/Berlin")
    local_time = LocalTimes(zone)
    moment = datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC)
    assert local_time(None) is None
    assert local_time(moment) == "2026-03-29T01:59:59.999999+01:00"
    assert local_time("2026-03-29T01:00:00+00:00") == "2026-03-29T03:00:00+02:00"


def test_the_hours_remembered_are_bounded(monkeypatch):
    monkeypatch.setattr(LocalTimes, "_MAX_HOURS", 3)
    local_time = LocalTimes(ZoneInfo("Asia/Shanghai"))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(10):
        moment = start + timedelta(hours=n, minutes=n)
        assert local_time(utc_text(moment)) == moment.astimezone(local_time._zone).isoformat()
    assert len(local_time._hours) <= 3
