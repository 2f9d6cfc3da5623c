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


def dry_run(*args: str) -> str:
    result = subprocess.run(
        ["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_test_quick_needs_no_debian_packages_services_or_browser():
    script = dry_run("test-quick")

    for step in ("apt-get", "dpkg", ".ci/services", "test-services.env", "ruff"):
        assert step not in script
    pytest_line = next(line for line in script.splitlines() if "/bin/pytest" in line)
    # SQLite and Django's local cache, whatever the developer's shell has exported.
    assert pytest_line.startswith("env -u DATABASE_URL -u REDIS_URL ")
    assert '-m "not browser and not postgres and not slow"' in script


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_test_still_runs_everything_after_the_services():
    script = dry_run("test")

    assert "bash .ci/services" in script
    # Every test (no marker or path chosen), on three workers, a test file whole on one worker.
    assert (
        "source var/test-services.env && .venv/bin/pytest -n 3 --dist loadfile "
        "--no-loadscope-reorder\n" in script
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_test_runs_in_one_process_when_asked():
    script = dry_run("test", "TEST_WORKERS=0")

    assert (
        "source var/test-services.env && .venv/bin/pytest -n 0 --dist loadfile "
        "--no-loadscope-reorder\n" in script
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_help_lists_test_quick():
    assert (
        "make test-quick"
        in subprocess.run(
            ["make", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
        ).stdout
    )
