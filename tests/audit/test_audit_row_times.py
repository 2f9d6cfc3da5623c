"""An audit row's time is what ``{% timestamp %}`` shows, in every zone, across DST changes and
at the calendar's edges (``rows.TimeFormat`` writes it without ``strftime``)."""

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from certadmin.audit.rows import TimeFormat
from certadmin.audit.templatetags.timestamps import timestamp

ZONES = ["UTC", "Asia/Shanghai", "America/Los_Angeles", "Asia/Kathmandu", "Europe/London"]
EDGES = [
    datetime(1, 1, 2, tzinfo=UTC),
    datetime(999, 5, 1, 12, 30, tzinfo=UTC),
    datetime(9999, 12, 30, 23, 59, 59, tzinfo=UTC),
]


@pytest.mark.parametrize("zone", ZONES)
def test_row_time_is_the_timestamp_tag(zone):
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        times = TimeFormat()
        start = datetime(2026, 1, 1, tzinfo=UTC)
        moments = [start + timedelta(hours=n, seconds=n * 13) for n in range(0, 24 * 400, 7)]
        for moment in [*moments, *EDGES]:
            assert times.html(moment) == timestamp(moment)
