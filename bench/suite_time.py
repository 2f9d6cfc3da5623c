"""How long `make test` takes on this machine: the whole target (lint, catalogs, services, the
suite on its pytest-xdist workers), the suite's own wall time, and the files that cost most.

    .venv/bin/python bench/suite_time.py [--repeats 1] [--files 12] [--quick]

It runs `make test` in this checkout with a JUnit XML report added through PYTEST_ADDOPTS, so
it measures what CI runs, less a clean clone's first install of the environment. ``--quick``
runs the suite's command (the Makefile's worker options) on one small file of tests that
need no database, prints the table and writes nothing: what tests/bench checks.
"""

import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from common import ROOT, Stat, bench_args, report

TARGET_SECONDS = 600
QUICK_TESTS = "tests/certs/test_fingerprints.py"


def makefile_pytest_options() -> list[str]:
    """The worker options `make test` gives pytest (``TEST_WORKERS`` and ``TEST_DIST``)."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    values = dict(re.findall(r"^(TEST_WORKERS|TEST_DIST) \?= (\S+)$", text, re.MULTILINE))
    return ["-n", values["TEST_WORKERS"], "--dist", values["TEST_DIST"]]


def junit_read(path: Path) -> tuple[int, int, dict[str, float]]:
    """Tests run, tests failed or in error, and the seconds each test file took (its tests'
    setup, call and teardown summed, whichever worker ran them)."""
    root = ET.parse(path).getroot()  # noqa: S314 (pytest's own report)
    files: dict[str, float] = defaultdict(float)
    tests = failed = 0
    for case in root.iter("testcase"):
        tests += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        module = case.get("classname", "").split("::")[0]
        files[module.replace(".", "/") + ".py"] += float(case.get("time") or 0)
    return tests, failed, dict(files)


def suite_run(*, quick: bool, report_path: Path) -> tuple[float, float]:
    """Run the suite once; return the whole command's and pytest's wall seconds."""
    environ = dict(os.environ, PYTEST_ADDOPTS=f"--junitxml={report_path}")
    if quick:
        # A nested run beside the suite's own workers: no database, no Redis, no worker name.
        for name in ("DATABASE_URL", "REDIS_URL", "PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS"):
            environ.pop(name, None)
        command = [
            str(ROOT / ".venv/bin/pytest"),
            *makefile_pytest_options(),
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report_path}",
            QUICK_TESTS,
        ]
    else:
        command = ["make", "--no-print-directory", "test"]
    start = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True)
    whole = time.monotonic() - start
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"the suite failed (exit {done.returncode})")
    suite = float(ET.parse(report_path).getroot().find("testsuite").get("time"))  # noqa: S314
    return whole, suite


def main() -> None:
    args = bench_args(__doc__, repeats=1, files=12)
    whole, suite = Stat(), Stat()
    files: dict[str, float] = {}
    tests = failed = 0
    with tempfile.TemporaryDirectory(prefix="certadmin-suite-time-") as scratch:
        for repeat in range(args.repeats):
            report_path = Path(scratch) / f"junit-{repeat}.xml"
            seconds, suite_seconds = suite_run(quick=args.quick, report_path=report_path)
            whole.samples.append(seconds)
            suite.samples.append(suite_seconds)
            tests, failed, files = junit_read(report_path)
    summed = sum(files.values())
    rows = [
        ["`make test`, whole" if not args.quick else f"pytest {QUICK_TESTS}", whole.cell("{:.0f}")],
        ["the suite (pytest's own wall time)", suite.cell("{:.0f}")],
        ["tests run (last repeat) / failed", f"{tests:,} / {failed}"],
        [
            "tests' own seconds summed ÷ the suite's wall time",
            f"{summed / suite.median:.2f} ({' '.join(makefile_pytest_options())})",
        ],
    ]
    slowest = sorted(files.items(), key=lambda item: item[1], reverse=True)[: args.files]
    rows += [[f"file: `{name}`", f"{seconds:.1f}"] for name, seconds in slowest]
    report(
        args,
        name="suite_time",
        title="`make test` on this machine",
        headers=["measure", "seconds"],
        rows=rows,
        notes=(
            f"Target (issue 24): `make test` under {TARGET_SECONDS // 60} minutes on this 2-core "
            "machine. The files' seconds are their tests' setup, call and teardown, summed "
            "over the workers; a clean clone adds the first install of .venv and of the Debian "
            "packages."
        ),
    )


if __name__ == "__main__":
    main()
