"""`make run` on other ports: the dashboard and the worker follow the emulator's port."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_points_the_dashboard_and_worker_at_the_emulator_port():
    result = subprocess.run(
        ["make", "-n", "run", "PORT=9998", "EMULATOR_PORT=9999"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    script = result.stdout
    assert "iot_emulator --host 127.0.0.1 --port 9999" in script
    assert "runserver 127.0.0.1:9998" in script
    # Exported before the dashboard and the worker start, in the same shell.
    endpoint = script.index("export CERTADMIN_IOT_ENDPOINT=http://127.0.0.1:9999")
    assert endpoint < script.index("runserver")
    assert endpoint < script.index("task_worker")
