"""CSV export of the audit trail: rows per second and the process's peak RSS, in process through
Django's test client (the whole streamed response read), on SQLite and PostgreSQL.

Default N is 100,000 for ``make bench`` time; the issue measured 1,000,000 (``--events``).

    .venv/bin/python bench/audit_export.py [--events 100000] [--repeats 3] [--keep 1]
        [--baseline main] [--quick]

``--keep 1``: the audit scripts' kept scratch trail (see ``common.audit_trail_ready``).
``--baseline REV``: also time the export with ``certadmin/audit/evidence_export.py`` and
``certadmin/web/csv_safety.py`` as they are at git revision REV, in rounds alternating with the
current ones (a before/after in one process).
"""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import types
import zipfile

from common import Stat, bench_args, database_variants, report, run_children


def _module_at(revision: str, path: str, name: str, **replaced) -> types.ModuleType:
    """The module in ``path`` as it is at git ``revision``, under ``name``; ``replaced`` names
    are set in it after it ran (its functions look them up when called)."""
    source = subprocess.run(
        ["git", "show", f"{revision}:{path}"], capture_output=True, text=True, check=True
    ).stdout
    module = types.ModuleType(name)
    sys.modules[name] = module  # dataclasses look their module up
    exec(compile(source, path, "exec"), module.__dict__)  # noqa: S102 - our own file
    module.__dict__.update(replaced)
    return module


@contextlib.contextmanager
def _export_at(revision: str | None):
    """The export view writing its archive with ``certadmin/audit/evidence_export.py`` and
    ``certadmin/web/csv_safety.py`` as they are at git ``revision`` (None: now)."""
    from certadmin.audit import views

    if revision is None:
        yield
        return
    csv_safety = _module_at(revision, "certadmin/web/csv_safety.py", f"csv_safety_at_{revision}")
    export = _module_at(
        revision,
        "certadmin/audit/evidence_export.py",
        f"evidence_export_at_{revision}",
        csv_text=csv_safety.csv_text,
    )
    current = views.export_first_batch, views.export_zip_stream
    views.export_first_batch, views.export_zip_stream = (
        export.export_first_batch,
        export.export_zip_stream,
    )
    try:
        yield
    finally:
        views.export_first_batch, views.export_zip_stream = current


def _child(args) -> None:
    from common import audit_trail_ready, peak_rss_mib

    audit_trail_ready(
        "audit_export",
        events=args.events,
        keep=args.keep,
        sqlite=os.environ["BENCH_DB"] == "sqlite",
    )
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    setup_test_environment()
    users = get_user_model().objects  # a kept trail has the auditor of an earlier run
    auditor = users.filter(username="bench-auditor").first() or users.create_superuser(
        "bench-auditor", password=None
    )
    client = Client()
    client.force_login(auditor)
    rss_before = peak_rss_mib()
    _export_rate(client, reverse, args.events)  # warm: imports, caches, the first statements
    rates, baseline_rates = [], []
    rounds = [(None, rates)] + ([(args.baseline, baseline_rates)] if args.baseline else [])
    for revision, samples in [r for _ in range(args.repeats) for r in rounds]:
        with _export_at(revision):
            samples.append(_export_rate(client, reverse, args.events))
    print(
        json.dumps(
            {
                "rates": rates,
                "baseline_rates": baseline_rates,
                "rss_before": rss_before,
                "rss_peak": peak_rss_mib(),
            }
        )
    )


def _export_rate(client, reverse, events: int) -> float:
    start = time.perf_counter()
    response = client.get(reverse("audit:export"))
    assert response.status_code == 200, response.status_code
    # The export is a ZIP of events.csv and its signed manifest, streamed: read as a browser
    # saves it (to a file), so that this process's memory is the server's alone.
    with tempfile.TemporaryFile() as saved:
        for chunk in response.streaming_content:
            saved.write(chunk)
        seconds = time.perf_counter() - start
        with zipfile.ZipFile(saved) as archive:
            rows = json.loads(archive.read("manifest.json"))["rows"]
    assert rows >= events, rows  # (and the earlier repeats' export events)
    return rows / seconds


def main() -> None:
    args = bench_args(__doc__, repeats=3, events=100_000, keep=0, baseline="")
    if args.quick:
        args.events = 300
    if os.environ.get("BENCH_CHILD"):
        return _child(args)
    argv = [f"--events={args.events}", f"--repeats={args.repeats}", f"--keep={args.keep}"]
    argv += [f"--baseline={args.baseline}"] if args.baseline else []
    results = run_children(sys.argv[0], database_variants(quick=args.quick), argv)
    rows = []
    for database, value in results.items():
        rss = f"{value['rss_before']:.0f} → {value['rss_peak']:.0f}"
        rows.append([database, "now", Stat(value["rates"]).cell("{:,.0f}"), rss])
        if value["baseline_rates"]:
            cell = Stat(value["baseline_rates"]).cell("{:,.0f}")
            rows.append([database, f"export as at {args.baseline}", cell, ""])
    report(
        args,
        name="audit_export",
        title=f"Audit CSV export of {args.events:,} realistic events, in process",
        headers=["database", "code", "rows/s", "peak RSS MiB (before → after)"],
        rows=rows,
        notes="Target: ≥ 80,000 rows/s, < 150 MB. RSS includes the fill before the export. "
        "With --baseline, the rounds alternate with the export code (evidence_export.py, "
        "csv_safety.py) as at that revision, in one process.",
    )


if __name__ == "__main__":
    main()
