"""A findings run over N inventory records: seconds and the process's peak RSS, first run (every
finding opened, the certificate pool linted) and a repeat (findings refreshed, nothing linted).

The records are written straight into a scratch database: a fleet where about 1 % of
certificates have expired, 3 % expire within 30 days, 1 % are being generated or failed, 1 %
share a key, 1 % sit on disabled devices and 0.5 % are stale; every record names one of a pool
of 500 real certificates (what pkilint lints) and a key of its own. Default N is 100,000 for
``make bench`` time; the issue's target is 1,000,000 (``--records 1000000``): ≤ 60 s on one
core, RSS < 300 MB. The process is pinned to one core (the database server is not).

``--keep 1`` fills a kept scratch database once (or the one ``BENCH_SCRATCH_DATABASE`` names) and
reuses it while it holds that many records. Each of ``--repeats`` rounds empties the findings,
lint results and generation times, then runs a first run and a repeat; the runs take the fill's
time as now, so every round finds the same. ``--sqlite 1`` measures SQLite instead of the
PostgreSQL of ``DATABASE_URL`` (its own section of BENCHMARKS.md). ``--profile N`` prints each
run's N most expensive functions (cProfile, cumulative).

    .venv/bin/python bench/findings.py [--records 100000] [--keep 1] [--sqlite 1] [--quick]
"""

import contextlib
import cProfile
import hashlib
import os
import pstats
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import Stat, bench_args, peak_rss_mib, report, scratch_django

PRODUCTS = ("a1BenchFind1", "a1BenchFind2", "a1BenchFind3")
POOL = 500


def _pool(now: datetime) -> list[tuple[str, str]]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench")])
    pool = []
    for serial in range(1, POOL + 1):
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - timedelta(days=30))
            .not_valid_after(now + timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        pool.append((pem, hashlib.sha256(der).digest().hex(":").upper()))
    return pool


def _fill(records: int, now: datetime) -> None:
    from certadmin.devices.models import CertificateRecord

    rng = random.Random(7)
    pool = _pool(now)
    batch = []
    for number in range(records):
        roll = rng.random()
        pem, fingerprint = pool[number % POOL]
        not_after = now + timedelta(days=rng.randint(200, 3000))
        status, device_status, checked = 2, rng.choice(("ONLINE", "OFFLINE")), now
        key = hashlib.sha256(f"key-{number}".encode()).hexdigest()
        if roll < 0.01:
            not_after = now - timedelta(days=rng.randint(1, 90))
        elif roll < 0.04:
            not_after = now + timedelta(days=rng.uniform(0, 30))
        elif roll < 0.045:
            status = 0
        elif roll < 0.05:
            status = 1
        elif roll < 0.06:
            key = hashlib.sha256(f"key-{number // 2}".encode()).hexdigest()
        elif roll < 0.07:
            device_status = "DISABLE"
        elif roll < 0.075:
            checked = now - timedelta(days=10)
        batch.append(
            CertificateRecord(
                account="default",
                product_key=PRODUCTS[number % len(PRODUCTS)],
                device_name=f"bench-{number:07d}",
                device_status=device_status,
                status=status,
                certificate=pem if status == 2 else "",
                sha256_fingerprint=fingerprint if status == 2 else "",
                not_before=now - timedelta(days=30) if status == 2 else None,
                not_after=not_after if status == 2 else None,
                public_key_sha256=key if status == 2 else "",
                key_algorithm="EC",
                key_size=256,
                key_curve="secp256r1",
                signature_hash="sha256",
                chain_status="verified",
                last_checked=checked,
            )
        )
        if len(batch) == 5000:
            CertificateRecord.objects.bulk_create(batch)
            batch = []
    CertificateRecord.objects.bulk_create(batch)


def _findings_empty(vendor: str) -> None:
    """No findings, lint results or generation times: what a first run starts from."""
    from django.db import connection

    from certadmin.findings.models import Finding, LintResult, PendingGeneration

    # In SQL: the ORM's delete() would load a million findings to send its signals (the
    # process's peak RSS is measured). TRUNCATE leaves PostgreSQL no dead rows to step over, as
    # a fresh database has none (CASCADE: what refers to them, empty in a scratch database).
    empty = "TRUNCATE {} CASCADE" if vendor == "postgresql" else "DELETE FROM {}"
    with connection.cursor() as cursor:
        for model in (Finding, LintResult, PendingGeneration):
            cursor.execute(empty.format(model._meta.db_table))


def _ready(records: int, *, keep: bool, vendor: str) -> datetime:
    """The scratch inventory of ``records`` records; the fill's time (a kept one's: its
    records' latest check, which the fill sets to its now)."""
    from django.db import connection
    from django.db.models import Max

    from certadmin.devices.models import CertificateRecord

    if keep:
        _findings_empty(vendor)
        if CertificateRecord.objects.count() == records:
            return CertificateRecord.objects.aggregate(Max("last_checked"))["last_checked__max"]
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {CertificateRecord._meta.db_table}")  # noqa: S608
    now = datetime.now(UTC)
    _fill(records, now)
    if vendor == "postgresql":
        # The steady state autovacuum leaves a bulk-loaded table in: statistics, visibility map.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return now


def _server_cpu() -> float:
    """CPU seconds the database server's process of this connection has used (PostgreSQL on this
    machine); -1 when unknown (SQLite runs in this process)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return -1.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return -1.0
    # utime and stime, fields 14 and 15 of stat(5) (the 12th and 13th after the name).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    args = bench_args(__doc__, repeats=1, records=100_000, keep=0, sqlite=0, profile=0)
    if args.quick:
        args.records = 2000
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    vendor = scratch_django(
        "findings", sqlite=bool(args.sqlite), keep=bool(args.keep), CERTADMIN_IOT_CA_BUNDLE=""
    )
    from django.conf import settings

    from certadmin.findings.runs import findings_run

    settings.IOT_CA_BUNDLE = ""
    now = _ready(args.records, keep=bool(args.keep), vendor=vendor)
    rss_filled = peak_rss_mib()
    rows = []
    measured: dict[str, list[Stat]] = {}
    runs = [("first run", now), ("repeat", now + timedelta(minutes=1))]
    for round_ in range(args.repeats):
        if round_:
            _findings_empty(vendor)
        for label, at in runs:
            profile = cProfile.Profile() if args.profile else None
            load = os.getloadavg()[0]
            server = _server_cpu()
            cpu = time.process_time()
            started = time.perf_counter()
            with profile or contextlib.nullcontext():
                summary = findings_run(now=at)
            seconds = time.perf_counter() - started
            stats = measured.setdefault(label, [Stat() for _ in range(4)])
            for stat, sample in zip(
                stats,
                (seconds, time.process_time() - cpu, _server_cpu() - server, load),
                strict=True,
            ):
                stat.samples.append(sample)
            if profile is not None:
                print(f"--- {label}, round {round_ + 1}")
                pstats.Stats(profile).sort_stats("cumulative").print_stats(args.profile)
            if round_ + 1 < args.repeats:
                continue
            rows.append(
                [
                    label,
                    vendor,
                    f"{summary.records:,}",
                    stats[0].cell(),
                    stats[1].cell(),
                    stats[2].cell() if server >= 0 else "-",
                    stats[3].cell("{:.1f}"),
                    f"{summary.opened:,} / {summary.refreshed:,}",
                    f"{summary.linted:,}",
                    f"{peak_rss_mib():.0f}",
                ]
            )
    report(
        args,
        # Each database its own section: one run measures one.
        name="findings_sqlite" if args.sqlite else "findings",
        title=f"Findings run over {args.records:,} inventory records"
        + (", SQLite" if args.sqlite else ""),
        headers=[
            "run",
            "database",
            "records",
            "seconds",
            "CPU s, this process",
            "CPU s, database server",
            "load before",
            "opened / refreshed",
            "linted",
            "peak RSS MiB",
        ],
        rows=rows,
        notes=(
            f"Target (issue 24): ≤ 60 s on one core, RSS < 300 MB at 1,000,000 records. "
            f"RSS after the fill: {rss_filled:.0f} MiB. The process is pinned to one core; "
            "seconds are wall time, which includes the database server's work (its CPU is "
            "that of the connection's server process, read from /proc when the server is on "
            "this machine) and waiting for a core on a shared machine (the load average "
            "before the run)."
        ),
    )


if __name__ == "__main__":
    main()
