"""``audit_verify`` over N events: seconds for the whole chain walk (``chain_verify``, what the
management command runs), on SQLite and PostgreSQL.

Default N is 100,000 for ``make bench`` time; the issue measured 1,000,000 (``--events``).

    .venv/bin/python bench/audit_verify.py [--events 100000] [--repeats 3] [--keep 1] [--quick]

``--keep 1``: the audit scripts' kept scratch trail (see ``common.audit_trail_ready``).
"""

import json
import os
import sys
import time

from common import Stat, bench_args, database_variants, report, run_children


def _child(args) -> None:
    from common import audit_trail_ready, peak_rss_mib

    audit_trail_ready(
        "audit_verify",
        events=args.events,
        keep=args.keep,
        sqlite=os.environ["BENCH_DB"] == "sqlite",
    )
    from certadmin.audit.verification import DEFAULT_WORKERS, chain_verify

    rss_before = peak_rss_mib()
    seconds = {1: [], DEFAULT_WORKERS: []}
    for _ in range(args.repeats):
        # Alternating, so that both see the same machine.
        for workers, times in seconds.items():
            start = time.perf_counter()
            report = chain_verify(checkpoint_dir="", workers=workers, parallel_min_rows=0)
            times.append(time.perf_counter() - start)
            assert report.ok, report
            assert report.checked == args.events, report
    print(json.dumps({"seconds": seconds, "rss_before": rss_before, "rss_peak": peak_rss_mib()}))


def main() -> None:
    args = bench_args(__doc__, repeats=3, events=100_000, keep=0)
    if args.quick:
        args.events = 300
    if os.environ.get("BENCH_CHILD"):
        return _child(args)
    argv = [f"--events={args.events}", f"--repeats={args.repeats}", f"--keep={args.keep}"]
    results = run_children(sys.argv[0], database_variants(quick=args.quick), argv)
    rows = []
    for database, value in results.items():
        for workers, seconds in value["seconds"].items():
            stat = Stat(seconds)
            per_million = Stat([s * 1_000_000 / args.events for s in seconds])
            rows.append(
                [
                    database,
                    "1 (in process)" if workers == "1" else f"{workers} (`audit_verify`'s default)",
                    stat.cell("{:.2f}"),
                    per_million.cell("{:.0f}"),
                    f"{value['rss_before']:.0f} → {value['rss_peak']:.0f}",
                ]
            )
    report(
        args,
        name="audit_verify",
        title=f"audit_verify over {args.events:,} events",
        headers=[
            "database",
            "processes",
            "seconds",
            "scaled to 1,000,000 rows (s)",
            "peak RSS MiB (this process)",
        ],
        rows=rows,
        notes=(
            "Target: ≤ 15 s at 1,000,000 rows, memory flat. `manage.py audit_verify` checks a "
            "trail of 100,000 rows or more in one process per core (at most 4); the two ways "
            "alternate within each repeat. RSS is the parent's: each forked process reads in "
            "the same keyset batches of 10,000 rows."
        ),
    )


if __name__ == "__main__":
    main()
