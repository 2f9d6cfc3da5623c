"""The demo as `make run` starts it: the emulator, a task worker and the scheduler with the
Makefile's demo schedules and tick, the dashboard (its demo inbox receiving), and
``notify_demo_seed``. Within a minute a finding is raised and its message is in the demo inbox.

Real processes need a database they can share (PostgreSQL, DATABASE_URL); on the in-memory
SQLite test database the process test skips."""

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from certadmin.findings.models import Finding
from certadmin.notifications.models import DemoInboxMessage
from tests.schedules.conftest import process_env, processes, task_worker  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


def _makefile_value(name: str) -> str:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return re.search(rf"^{name} \?= (.+)$", text, re.MULTILINE).group(1).strip()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_starts_the_demo_schedules_the_demo_channel_and_its_route():
    script = subprocess.run(
        ["make", "-n", "run", "PORT=9998"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert f"export CERTADMIN_SYNC_SCHEDULES='{_makefile_value('DEMO_SYNC_SCHEDULES')}'" in script
    assert "export CERTADMIN_BASE_URL=http://127.0.0.1:9998" in script
    tick = _makefile_value("DEMO_SCHEDULER_TICK_SECONDS")
    assert f"export CERTADMIN_SCHEDULER_TICK_SECONDS={tick}" in script
    # Exported before the processes start; the route is seeded once they run.
    assert script.index("CERTADMIN_SYNC_SCHEDULES") < script.index("crontask")
    assert script.index("crontask") < script.index("notify_demo_seed")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_within_a_minute_of_make_run_a_finding_is_raised_and_its_message_is_in_the_inbox(
    staging_iot,
    live_server,
    process_env,  # noqa: F811
    processes,  # noqa: F811
    task_worker,  # noqa: F811
):
    demo = {
        "CERTADMIN_SYNC_SCHEDULES": _makefile_value("DEMO_SYNC_SCHEDULES"),
        "CERTADMIN_SCHEDULER_TICK_SECONDS": _makefile_value("DEMO_SCHEDULER_TICK_SECONDS"),
        "CERTADMIN_BASE_URL": live_server.url,
    }
    started = time.monotonic()
    task_worker(**demo)
    # The scheduler as make run starts it, with the demo's tick (not the tests' 1 s).
    processes(["crontask", "--no-heartbeat"], process_env(**demo))
    seeded = subprocess.run(
        [sys.executable, "manage.py", "notify_demo_seed"],
        cwd=ROOT,
        env=process_env(**demo),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stderr
    assert "scheduled syncs due now" in seeded.stdout

    while time.monotonic() - started < 60 and not DemoInboxMessage.objects.exists():
        time.sleep(0.5)
    assert DemoInboxMessage.objects.exists(), "no message in the demo inbox within 60 s"
    assert Finding.objects.filter(product_key="a1Demo7Sh2x", closed_at__isnull=True).exists()
    titles = list(DemoInboxMessage.objects.values_list("title", flat=True))
    assert any("meter-expired" in title or "sensor-fail" in title for title in titles), titles
