"""Every benchmark script runs on a tiny size (``--quick``), prints its table and writes nothing.

The benchmarks themselves are ``make bench``, never part of ``make test``.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
NEEDS_REDIS = {"quota.py"}
NEEDS_POSTGRES_AND_REDIS = {"page_latency.py"}
# Rows a script's table must show besides its header (its parts all ran).
ROWS = {"sync_scale.py": ("| listing |", "| sync |", "| resumed |", "| incremental |")}
SCRIPTS = sorted(
    path.name for path in BENCH.glob("*.py") if path.name not in {"common.py", "audit_trail.py"}
)


def test_every_measure_of_issue_13_has_a_script():
    expected = sorted(
        [
            "audit_export.py",
            "audit_list.py",
            "audit_verify.py",
            "client_calls.py",
            "decode.py",
            "findings.py",
            "inventory_search.py",
            "page_latency.py",
            "quota.py",
            "sync.py",
            "sync_cpu.py",  # issue 24
            # Issue 21, item 6: the 120,000-device product (listing, window, resume, incremental).
            "sync_scale.py",
            "suite_time.py",  # issue 24: `make test` under 10 minutes
        ]
    )
    assert expected == SCRIPTS


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_script_runs_quick_and_prints_its_table(script, tmp_path):
    environ = dict(os.environ)
    has_postgres = environ.get("DATABASE_URL", "").startswith("postgres")
    if script in NEEDS_REDIS and not environ.get("REDIS_URL"):
        pytest.skip("needs REDIS_URL")
    if script in NEEDS_POSTGRES_AND_REDIS and not (has_postgres and environ.get("REDIS_URL")):
        pytest.skip("needs PostgreSQL and Redis")
    benchmarks = BENCH.parent / "BENCHMARKS.md"
    before = benchmarks.read_text(encoding="utf-8")
    environ.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert len(table) >= 3, done.stdout  # header, rule, at least one row
    assert table[1].startswith("|---")
    for part in ROWS.get(script, ()):
        assert any(line.startswith(part) for line in table), (part, done.stdout)
    assert benchmarks.read_text(encoding="utf-8") == before  # --quick writes nothing
