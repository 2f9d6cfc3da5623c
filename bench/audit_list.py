"""The auditor's event list at N events: whole request (middleware, form, query, render) through
Django's test client, p95 per filter, on SQLite and (when DATABASE_URL names it) PostgreSQL.

Default N is 100,000 so that ``make bench`` ends in minutes (the fill is the slow part: each row
is hashed as ``audit_record`` would); the issue's table was measured at 1,000,000
(``--events 1000000``).

    .venv/bin/python bench/audit_list.py [--events 100000] [--requests 40] [--keep 1] [--quick]

``--keep 1`` keeps the filled scratch databases between runs (``certadmin_bench_audit_trail_kept``
and its SQLite twin, shared by the audit scripts): a second run at 1,000,000 events skips the
fill when the count matches.
"""

import json
import os
import sys
import time

from common import Stat, bench_args, database_variants, percentile, report, run_children


def _child(args) -> None:
    from common import audit_trail_ready

    fill_seconds = audit_trail_ready(
        "audit_list", events=args.events, keep=args.keep, sqlite=os.environ["BENCH_DB"] == "sqlite"
    )
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment

    from certadmin.audit.models import AuditEvent

    setup_test_environment()
    users = get_user_model().objects
    auditor = users.filter(username="bench-auditor").first() or users.create_superuser(
        "bench-auditor", password=None
    )
    client = Client()
    client.force_login(auditor)
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    newest = AuditEvent.objects.order_by("-id").values_list("created_at", flat=True).first()
    day = timezone.localdate(newest).isoformat()
    # A day weeks back (the fill spans 60 days): its page is deep in the table.
    old_day = timezone.localdate(newest - timedelta(days=30)).isoformat()
    range_from = timezone.localdate(newest - timedelta(days=40)).isoformat()
    middle = args.events // 2
    filters = {
        "no filter": {},
        "deep page": {"before": str(middle)},
        "user": {"user": "user17"},
        "device + action": {"device_name": "device-42", "action": "key_reveal"},
        "outcome": {"outcome": "failed"},
        "action": {"action": "cert_export"},
        "one day": {"date_from": day, "date_to": day},
        "one old day": {"date_from": old_day, "date_to": old_day},
        "date range": {"date_from": range_from, "date_to": old_day},
        "product + outcome": {"product_key": "a1Fleet5kXz", "outcome": "denied"},
        "account": {"account": settings.IOT_DEFAULT_ACCOUNT},
    }
    out = {"fill_seconds": fill_seconds}
    for name, query in filters.items():
        assert client.get("/audit/", query).status_code == 200
        samples = []
        for _ in range(args.requests):
            start = time.perf_counter()
            response = client.get("/audit/", query)
            samples.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        out[name] = {"p50": percentile(samples, 50), "p95": percentile(samples, 95)}
    print(json.dumps(out))


def main() -> None:
    args = bench_args(__doc__, repeats=1, events=100_000, requests=40, keep=0)
    if args.quick:
        args.events, args.requests = 300, 3
    if os.environ.get("BENCH_CHILD"):
        return _child(args)
    argv = [f"--events={args.events}", f"--requests={args.requests}", f"--keep={args.keep}"]
    results = run_children(sys.argv[0], database_variants(quick=args.quick), argv)
    rows = []
    for database, measured in results.items():
        for name, value in measured.items():
            if name != "fill_seconds":
                p95 = Stat([value["p95"]])
                rows.append([database, name, f"{value['p50']:.1f}", f"{p95.median:.1f}"])
    report(
        args,
        name="audit_list",
        title=f"Audit list page at {args.events:,} events, whole request",
        headers=["database", "filter", "p50 ms", "p95 ms"],
        rows=rows,
        notes="Target: p95 ≤ 50 ms for every filter on both databases. Percentiles are over "
        f"{args.requests} requests per filter (no repeat median: the requests are the samples).",
    )


if __name__ == "__main__":
    main()
