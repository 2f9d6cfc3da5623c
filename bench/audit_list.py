"""The auditor's event list at N realistic events (``common.audit_fill_rows``): whole request
(middleware, form, query, render) through Django's test client, p95 per filter (each the form
offers, alone and combined), on SQLite and (when DATABASE_URL names it) PostgreSQL.

Default N is 100,000 so that ``make bench`` ends in minutes (the fill is the slow part: each row
is hashed as ``audit_record`` would); the issue's table was measured at 1,000,000
(``--events 1000000``).

    .venv/bin/python bench/audit_list.py [--events 100000] [--requests 40] [--keep 1]
        [--substring 1] [--quick]

``--substring 1``: each filter naming a part of a name is also timed as before issue 24 (the
part matched by LIKE over the events), alternating request by request with the current code.

``--keep 1`` keeps the filled scratch databases between runs (``certadmin_bench_audit_trail_kept``
and its SQLite twin, shared by the audit scripts): a second run at 1,000,000 events skips the
fill when the count matches.
"""

import contextlib
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
    # What the form offers, alone and combined, with names of the fill (common.audit_fill_rows):
    # a busy demo device, a fleet device of average traffic, a busy user.
    fleet_device = "line2-unit-02345"
    filters = {
        "no filter": {},
        "deep page": {"before": str(middle)},
        "user": {"user": "wang.wei"},
        "user + action": {"user": "zhao.wei", "action": "key_reveal"},
        "device": {"device_name": fleet_device},
        "device, exact": {"device_name": f'"{fleet_device}"'},
        "device + action": {"device_name": fleet_device, "action": "key_reveal"},
        "busy device + action": {"device_name": "thermo-001", "action": "key_download"},
        "product + device": {"product_key": "a1Fleet5kXz", "device_name": fleet_device},
        "product + device + action": {
            "product_key": "a1Fleet5kXz",
            "device_name": fleet_device,
            "action": "key_reveal",
        },
        "outcome": {"outcome": "failed"},
        "action": {"action": "cert_export"},
        "action + outcome": {"action": "key_reveal", "outcome": "denied"},
        "one day": {"date_from": day, "date_to": day},
        "one old day": {"date_from": old_day, "date_to": old_day},
        "date range": {"date_from": range_from, "date_to": old_day},
        "product + outcome": {"product_key": "a1Fleet5kXz", "outcome": "denied"},
        "account": {"account": settings.IOT_DEFAULT_ACCOUNT},
        "account + date range": {
            "account": settings.IOT_DEFAULT_ACCOUNT,
            "date_from": range_from,
            "date_to": old_day,
        },
    }
    out = {"fill_seconds": fill_seconds}
    for name, query in filters.items():
        sides = {name: False}
        named = [query.get(key, "") for key in ("user", "device_name")]
        if args.substring and any(text and not text.startswith('"') for text in named):
            sides[f"{name}, as before: the part by LIKE"] = True
        for as_before in sides.values():
            with _names_matched_by_substring(as_before):
                assert client.get("/audit/", query).status_code == 200
        samples = {side: [] for side in sides}
        for _ in range(args.requests):  # the sides alternate request by request
            for side, as_before in sides.items():
                with _names_matched_by_substring(as_before):
                    start = time.perf_counter()
                    response = client.get("/audit/", query)
                    samples[side].append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200
        for side, times in samples.items():
            out[side] = {"p50": percentile(times, 50), "p95": percentile(times, 95)}
    print(json.dumps(out))


@contextlib.contextmanager
def _names_matched_by_substring(as_before: bool):
    """``as_before``: a part of a name matched as before issue 24, by LIKE over the events
    instead of looked up among the trail's names (AuditName)."""
    from django.db.models import Q

    from certadmin.audit import selectors

    current = selectors._name_matching

    def by_substring(field: str, text: str) -> Q:
        if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
            return Q(**{field: text[1:-1]})
        return Q(**{f"{field}__icontains": text})

    if as_before:
        selectors._name_matching = by_substring
    try:
        yield
    finally:
        selectors._name_matching = current


def main() -> None:
    args = bench_args(__doc__, repeats=1, events=100_000, requests=40, keep=0, substring=0)
    if args.quick:
        args.events, args.requests = 300, 3
    if os.environ.get("BENCH_CHILD"):
        return _child(args)
    argv = [f"--events={args.events}", f"--requests={args.requests}", f"--keep={args.keep}"]
    argv.append(f"--substring={args.substring}")
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
        notes="Target: p95 ≤ 50 ms for every filter on both databases. Realistic rows "
        "(common.audit_fill_rows). Measured on a shared 2-core machine (other sessions running): "
        "compare rows of one run. Percentiles are over "
        f"{args.requests} requests per filter (no repeat median: the requests are the samples).",
    )


if __name__ == "__main__":
    main()
