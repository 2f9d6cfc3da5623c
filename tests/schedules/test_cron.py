"""Cron expressions and CERTADMIN_SYNC_SCHEDULES: what is accepted, and what is refused with
which words."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from certadmin.schedules.cron import (
    CRON_FIELDS,
    CRON_INVALID,
    CRON_WEEKDAY_NUMBER,
    ConfiguredSchedule,
    CronError,
    cron_next_run,
    cron_trigger,
    sync_schedules_parse,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
ACCOUNTS = {"default": "", "prod": "iot-06z00ep2pjifrby"}


@pytest.mark.parametrize(
    ("expression", "code"),
    [
        ("0 3 * *", CRON_FIELDS),
        ("0 3 * * * *", CRON_FIELDS),
        ("", CRON_FIELDS),
        ("0 3 * * 1-5", CRON_WEEKDAY_NUMBER),
        ("0 3 * * 0", CRON_WEEKDAY_NUMBER),
        ("61 3 * * *", CRON_INVALID),
        ("0 3 * * funday", CRON_INVALID),
    ],
)
def test_an_expression_that_is_not_a_schedule_is_refused_with_its_reason(expression, code):
    with pytest.raises(CronError) as refused:
        cron_trigger(expression, timezone=SHANGHAI)
    assert refused.value.code == code


def test_days_of_the_week_by_name_run_on_those_days_in_the_dashboards_time_zone():
    # Friday 2026-12-04 10:00 in Shanghai: the next weekday run at 03:00 is Monday's.
    after = datetime(2026, 12, 4, 10, 0, tzinfo=SHANGHAI)
    run = cron_next_run("0 3 * * mon-fri", after=after, timezone=SHANGHAI)
    assert run == datetime(2026, 12, 7, 3, 0, tzinfo=SHANGHAI)
    assert run.strftime("%a") == "Mon"


def test_configured_schedules_are_read_with_their_instance_and_mode():
    text = "default:a1Demo7Sh2x=0 3 * * * | prod:a1Prod00001=*/30 * * * *;full\n"
    text += "prod:a1Prod00002:iot-cn-0pp1n8t=0  4 * * sun"
    assert sync_schedules_parse(text, accounts=ACCOUNTS, timezone=SHANGHAI) == [
        ConfiguredSchedule("default", "a1Demo7Sh2x", "", "0 3 * * *", "full"),
        # No instance named: the account's own.
        ConfiguredSchedule("prod", "a1Prod00001", "iot-06z00ep2pjifrby", "*/30 * * * *", "full"),
        ConfiguredSchedule("prod", "a1Prod00002", "iot-cn-0pp1n8t", "0 4 * * sun", "full"),
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a1Demo7Sh2x=0 3 * * *", "account:ProductKey"),
        ("nosuch:a1Demo7Sh2x=0 3 * * *", "no API account 'nosuch'"),
        ("default:a1-Demo=0 3 * * *", "is not a ProductKey"),
        ("default:a1Demo7Sh2x=0 3 * * 1", "names (mon, tue, … sun), not numbers"),
        ("default:a1Demo7Sh2x=0 3 * *", "five fields"),
        (
            "default:a1Demo7Sh2x=0 3 * * *;weekly",
            "mode 'weekly' is not one of full, incremental",
        ),
        ("default:a1Demo7Sh2x=0 3 * * *|default:a1Demo7Sh2x=0 4 * * *", "scheduled twice"),
        ("default:a1Demo7Sh2x", "write account:ProductKey"),
    ],
)
def test_a_bad_configured_schedule_is_refused_naming_the_entry(text, words):
    with pytest.raises(ValueError, match=r"^'") as refused:
        sync_schedules_parse(text, accounts=ACCOUNTS, timezone=SHANGHAI)
    assert words in str(refused.value)


def test_settings_refuse_to_load_a_bad_configured_schedule():
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "CERTADMIN_SYNC_SCHEDULES": "default:a1Demo7Sh2x=0 3 * * 1"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "CERTADMIN_SYNC_SCHEDULES: 'default:a1Demo7Sh2x=0 3 * * 1'" in result.stderr
