"""Benchmark: the auditor's event list and CSV export on a large audit table (PostgreSQL).

Fills a scratch database with N audit events (default 2,000,000) straight through SQL — the
pagination and export paths don't look at the hash chain — then times the real selectors the
auditor views use (`events_filtered` + `events_page`) at the newest page, deep in the table and
with filters, next to what OFFSET paging would cost, and measures the memory the streamed CSV
export needs for the whole table.

    make services && source var/test-services.env
    .venv/bin/python bench/audit_trail.py --rows 2000000

Writes nothing outside the scratch database `certadmin_bench` (or $BENCH_DATABASE; dropped and
re-created).
"""

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


SCRATCH = os.environ.get("BENCH_DATABASE", "certadmin_bench")


def _scratch_database_url(base_url: str) -> str:
    head, _, _ = base_url.rpartition("/")
    return f"{head}/{SCRATCH}"


def _recreate_database(base_url: str) -> None:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}"')
        conn.execute(f'CREATE DATABASE "{SCRATCH}"')


def _fill(rows: int) -> None:
    from django.db import connection

    users = 200
    devices = 5000
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO audit_auditevent (
                created_at, actor_id, actor_username, action, outcome, product_key, device_name,
                iot_instance_id, cert_sn, certificate_sha256, key_fingerprint, reason, detail,
                ip_address, user_agent, platform_code, platform_request_id, prev_hash, entry_hash,
                key_id)
            SELECT now() - make_interval(secs => (%(rows)s - i)),
                   i %% %(users)s, 'user' || (i %% %(users)s),
                   (ARRAY['key_reveal','key_download','cert_download'])[1 + i %% 3],
                   (ARRAY['success','success','success','denied','failed'])[1 + i %% 5],
                   'a1Demo7Sh2x', 'device-' || (i %% %(devices)s), '',
                   (i::bigint * 7919)::text, '', '',
                   'INC-' || i || ' routine maintenance', '', '10.0.0.1', 'bench', '', '',
                   md5(i::text) || md5((i + 1)::text), md5((i + 2)::text) || md5(i::text), ''
            FROM generate_series(1, %(rows)s) AS i
            """,
            {"rows": rows, "users": users, "devices": devices},
        )
        cursor.execute("ANALYZE audit_auditevent")


def _timed(fn, repeat: int = 7) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--skip-fill", action="store_true", help="reuse the scratch database")
    args = parser.parse_args()

    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to PostgreSQL (make services; source var/test-services.env).")
    if not args.skip_fill:
        _recreate_database(base_url)
    os.environ["DATABASE_URL"] = _scratch_database_url(base_url)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "certadmin.settings")

    import django

    django.setup()
    from django.core.management import call_command
    from django.test import RequestFactory

    from certadmin.audit import views
    from certadmin.audit.models import AuditEvent
    from certadmin.audit.selectors import events_filtered, events_page

    if not args.skip_fill:
        call_command("migrate", verbosity=0)
        start = time.perf_counter()
        _fill(args.rows)
        print(f"filled {args.rows:,} events in {time.perf_counter() - start:.1f} s")

    newest = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    cases = {
        "newest page": dict(filters={}, before=None),
        "page at the middle of the table": dict(filters={}, before=newest // 2),
        "page near the oldest row": dict(filters={}, before=200),
        "filter user, newest page": dict(filters={"user": "user17"}, before=None),
        "filter user, deep page": dict(filters={"user": "user17"}, before=newest // 10),
        "filter device + action": dict(
            filters={"device_name": '"device-42"', "actions": ["key_reveal"]}, before=None
        ),
        "filter part of device, any case": dict(filters={"device_name": "VICE-424"}, before=None),
        "filter part of user + any key access": dict(
            filters={"user": "USER17", "actions": ["key_reveal", "key_download"]}, before=None
        ),
        "filter rare part of device": dict(filters={"device_name": "ce-4999"}, before=None),
        "filter outcome=failed, deep page": dict(filters={"outcome": "failed"}, before=newest // 3),
    }
    print(f"\nevents in table: {AuditEvent.objects.order_by().count():,}")
    print(f"{'keyset page of 50 (real selectors)':<40} {'median ms':>10}")
    for name, case in cases.items():

        def run(case=case):
            rows, _ = events_page(
                events_filtered(viewer=None, **case["filters"]), before_id=case["before"]
            )
            assert rows

        print(f"{name:<40} {_timed(run):>10.2f}")

    print(f"\n{'for comparison: OFFSET paging':<40} {'median ms':>10}")
    for depth in (1_000, newest // 2, newest - 100):

        def offset_page(depth=depth):
            assert list(AuditEvent.objects.order_by("-id")[depth : depth + 50])

        print(f"{'OFFSET ' + format(depth, ','):<40} {_timed(offset_page, repeat=3):>10.2f}")

    from django.contrib.auth import get_user_model

    auditor, _ = get_user_model().objects.get_or_create(
        username="bench-auditor", defaults={"is_superuser": True}
    )
    request = RequestFactory().get("/audit/export/")
    request.user = auditor
    request.htmx = False
    before = _peak_rss_mib()
    start = time.perf_counter()
    response = views.event_export(request)
    size = 0
    for chunk in response.streaming_content:
        size += len(chunk)
    elapsed = time.perf_counter() - start
    print(
        f"\nZIP export (CSV + signed manifest) of every event: {size / 2**20:,.0f} MiB"
        f" in {elapsed:.1f} s;"
        f" peak RSS {before:.0f} MiB before, {_peak_rss_mib():.0f} MiB after"
    )


if __name__ == "__main__":
    main()
