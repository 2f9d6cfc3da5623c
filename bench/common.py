"""What every benchmark script shares: arguments, timing, medians and spread, the machine, and
writing one script's section of BENCHMARKS.md (its own section replaced, the others kept).

Each script calls ``bench_args`` (``--quick`` = tiny sizes, prints only; ``--repeats``;
``--output`` another Markdown file), measures, then ``report(...)`` prints its table and
writes its section. Loopback only; every loop is bounded.
"""

import argparse
import contextlib
import os
import platform
import re
import resource
import shlex
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
# The demo account (certadmin.settings' DEMO_ACCESS_KEY_*): what settings use with no
# ALIBABA_CLOUD_ACCESS_KEY_ID, so Django and a bench emulator agree.
BENCH_KEY_ID = "LTAIdemoCertadmin0001"
BENCH_KEY_SECRET = "demo-secret-for-the-local-emulator-only"  # noqa: S105


# ---- arguments -------------------------------------------------------------------------------


def bench_args(doc: str, *, repeats: int = 5, **sizes: int | str) -> argparse.Namespace:
    """Parse the common options plus one ``--<size>`` option per keyword (its default, whose
    type the option takes)."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes; print, write nothing")
    parser.add_argument("--repeats", type=int, default=repeats, help="repeats (median taken)")
    parser.add_argument("--output", type=Path, default=None, help="Markdown file to update")
    for name, default in sizes.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1
    return args


# ---- timing ----------------------------------------------------------------------------------


@dataclass
class Stat:
    """Samples of one measure: median and spread (min..max)."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    def spread(self, fmt: str = "{:.2f}") -> str:
        if not self.samples:
            return "-"
        return f"{fmt.format(min(self.samples))}–{fmt.format(max(self.samples))}"

    def cell(self, fmt: str = "{:.2f}") -> str:
        return f"{fmt.format(self.median)} ({self.spread(fmt)})"


def percentile(samples: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``samples``."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def timed_ms(fn: Callable[[], object], count: int) -> list[float]:
    """``count`` timings of ``fn()`` in milliseconds."""
    out = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- the machine and the report --------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    return f"nproc {os.cpu_count()}, {cpu}, {memory} RAM, Python {platform.python_version()}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def report(
    args: argparse.Namespace,
    *,
    name: str,
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    notes: str = "",
) -> None:
    """Print the table; unless ``--quick``, replace section ``name`` of BENCHMARKS.md with it."""
    table = markdown_table(headers, rows)
    print(f"\n{title}\n\n{table}\n")
    if notes:
        print(notes)
    if args.quick and args.output is None:
        return
    command = ".venv/bin/python " + shlex.join(
        [str(Path(sys.argv[0]).resolve().relative_to(ROOT)), *sys.argv[1:]]
    )
    body = (
        f"<!-- bench:{name} -->\n## {title}\n\n"
        f"`{command}` — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}; "
        f"medians of {args.repeats} repeats, spread (min–max) in brackets.\n\n"
        f"{table}\n" + (f"\n{notes.strip()}\n" if notes else "") + f"<!-- /bench:{name} -->"
    )
    section_write(args.output or BENCHMARKS_MD, name, body)


def section_write(path: Path, name: str, body: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(
        rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.DOTALL
    )
    if pattern.search(text):
        text = pattern.sub(lambda _: body, text)
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text, encoding="utf-8")


# ---- Django, the emulator, a canned server ---------------------------------------------------


def django_setup(**environ: str) -> None:
    """Configure Django from the environment (plus ``environ``) for a script."""
    os.environ.update(environ)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "certadmin.settings")
    os.environ.setdefault("CERTADMIN_LOG_LEVEL", "WARNING")
    import django

    django.setup()


def scratch_database_url(
    suffix: str, *, sqlite_dir: Path | None = None, keep: bool = False
) -> str | None:
    """A scratch database for a script, dropped and created empty (``keep``: kept as it is,
    created when missing, named ``..._kept``): PostgreSQL beside ``DATABASE_URL`` when it names
    one, else SQLite in ``sqlite_dir``; None when neither."""
    base = os.environ.get("DATABASE_URL", "")
    # Sessions sharing a server keep their scratch databases apart with BENCH_SCRATCH_SUFFIX.
    suffix += ("_kept" if keep else "") + os.environ.get("BENCH_SCRATCH_SUFFIX", "")
    if base.startswith("postgres"):
        import psycopg

        head = base.rpartition("/")[0]
        if given := os.environ.get("BENCH_SCRATCH_DATABASE"):
            # A role that may not create databases: an existing one, never dropped; the script
            # empties what it fills (``keep`` scripts only).
            if not keep:
                raise SystemExit("BENCH_SCRATCH_DATABASE needs a script's --keep 1")
            return f"{head}/{given}"
        name = f"certadmin_bench_{suffix}"
        with psycopg.connect(f"{head}/postgres", autocommit=True) as conn:
            if not keep:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if exists.fetchone() is None:
                conn.execute(f"CREATE DATABASE {name}")
        return f"{head}/{name}"
    if sqlite_dir is not None:
        path = sqlite_dir / f"bench_{suffix}.sqlite3"
        if not keep:
            path.unlink(missing_ok=True)
        return f"sqlite:///{path}"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def canned_server(body: bytes) -> Iterator[str]:
    """A keep-alive HTTP/1.1 server on loopback answering every request with ``body`` (JSON) in
    one write with TCP_NODELAY; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args):
            pass

        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=utf-8\r\n"
                b"x-acs-request-id: 5E4F1A2B-0000-4000-8000-000000000001\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )

        do_POST = do_GET = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def emulator_start(**kwargs):
    """The IoT emulator on a free loopback port, with the bench AccessKey."""
    from certadmin.emulator.server import start_emulator

    return start_emulator(access_key_id=BENCH_KEY_ID, access_key_secret=BENCH_KEY_SECRET, **kwargs)


# ---- data fills (Django set up) --------------------------------------------------------------


# Rows shaped like a real trail's (issue 24: minimal rows hid slow plans and a slow export):
# browsers' user agents, reasons of the length people type (some with commas), the demo fleet's
# DeviceNames, many events per device with a few devices far busier than the rest.
_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "certadmin-task-worker/1.0",
)
_REASONS = (
    "INC-{n}: field technician re-provisioning the gateway after a firmware reset",
    "Replacing the sensor on line {line}, unit swapped under warranty, key needed for the new "
    "board",
    "Quarterly key escrow check requested by security, ticket SEC-{n}",
    "Customer site visit, plant {line}: device lost its credentials after power failure, "
    "restoring from inventory",
    "CHG-{n} certificate rotation rehearsal",
    "Debugging TLS handshake failures reported by the MQTT broker (alert #{n}), comparing the "
    "device's certificate with the one the platform holds",
    'audit request from compliance, "Q3 access review", sample {n}',
)
_ACTIONS = (  # (action, weight, about a device)
    ("cert_download", 34, True),
    ("key_reveal", 25, True),
    ("key_download", 10, True),
    ("finding_suppress", 3, True),
    ("finding_unsuppress", 1, True),
    ("cert_export", 8, False),
    ("chain_verify", 6, False),
    ("chain_checkpoint", 5, False),
    ("trail_export", 3, False),
    ("schedule_set", 3, False),
    ("schedule_delete", 1, False),
    ("field_redact", 1, False),
)
_OUTCOMES = (("success", 88), ("denied", 5), ("refused", 4), ("failed", 3))
_FIRST = ("wang", "li", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou")
_LAST = ("wei", "fang", "na", "min", "jing", "lei", "yan", "jun", "tao", "qiang")
# The fleet's and the demo product's names (certadmin.emulator.seed), busiest first.
AUDIT_FILL_DEMO_DEVICES = (
    "thermo-001",
    "thermo-002",
    "gateway-07",
    "thermo-003",
    "edge-ec01",
    "cam-lobby:01",
    "lab.probe@b2",
    "legacy-b64",
    "meter-expiring",
    "meter-expired",
    *(f"sensor-{n:04d}" for n in range(1, 56)),
)


def audit_fill_rows(rows: int, *, days: int = 60, seed: int = 24):
    """``rows`` realistic ``AuditEvent`` field dicts (no ids, hashes or key id), oldest first,
    spread over ``days`` days ending now: 200 users (a few busy), products ``a1Fleet5kXz``
    (its 5,000 DeviceNames) and ``a1Demo7Sh2x`` (its seeded names), every action and outcome
    in a plausible mix."""
    import random
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from certadmin.emulator.seed import FLEET_PRODUCT_KEY, FLEET_SIZE, fleet_device_name

    rng = random.Random(seed)
    fleet = [fleet_device_name(unit) for unit in range(1, FLEET_SIZE + 1)]
    users = [f"{_FIRST[n % 10]}.{_LAST[n // 10 % 10]}{n // 100 or ''}" for n in range(200)]
    actions = [a for a, weight, _ in _ACTIONS for _ in range(weight)]
    about_device = {a: device for a, _, device in _ACTIONS}
    outcomes = [o for o, weight in _OUTCOMES for _ in range(weight)]
    account = settings.IOT_DEFAULT_ACCOUNT
    start = timezone.now() - timedelta(days=days)
    step = timedelta(days=days) / max(rows, 1)
    for i in range(rows):
        action = rng.choice(actions)
        outcome = rng.choice(outcomes)
        # Skewed: low indices (a pilot line, the demo's thermostats) see most of the traffic.
        user = users[int(200 * rng.random() ** 2)]
        product_key = device_name = cert_sn = sha = key_fp = reason = detail = ""
        if about_device[action]:
            if rng.random() < 0.2:
                product_key = "a1Demo7Sh2x"
                names = AUDIT_FILL_DEMO_DEVICES
                device_name = names[int(len(names) * rng.random() ** 3)]
            else:
                product_key = FLEET_PRODUCT_KEY
                device_name = fleet[int(FLEET_SIZE * rng.random() ** 1.5)]
            cert_sn = str(rng.getrandbits(64))
            sha = rng.getrandbits(256).to_bytes(32).hex(":").upper()
            if action.startswith("key"):
                key_fp = rng.getrandbits(256).to_bytes(32).hex(":").upper()
                reason = rng.choice(_REASONS).format(n=rng.randrange(10_000), line=i % 3 + 1)
        elif action == "cert_export":
            product_key = rng.choice(("a1Demo7Sh2x", FLEET_PRODUCT_KEY))
            detail = f"{rng.randrange(1, 5000)} certificates, PEM bundle"
        if outcome == "failed":
            detail = "iot.system.SystemBusy: the platform is busy, try again later"
        elif outcome == "denied":
            detail = "wrong password for the key reveal"
        yield {
            "created_at": start + step * i,
            "actor_username": user,
            "action": action,
            "outcome": outcome,
            "product_key": product_key,
            "device_name": device_name,
            "cert_sn": cert_sn,
            "certificate_sha256": sha,
            "key_fingerprint": key_fp,
            "reason": reason,
            "detail": detail,
            "ip_address": f"10.{i % 7}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "user_agent": _USER_AGENTS[int(len(_USER_AGENTS) * rng.random() ** 2)],
            "platform_request_id": ""
            if not device_name
            else f"5E4F1A2B-{i:04X}-4000-8000-{rng.getrandbits(48):012X}",
            "platform_code": "iot.system.SystemBusy" if outcome == "failed" else "",
            "account": account if product_key else "",
        }


def audit_fill(rows: int, *, days: int = 60, batch: int = 5000) -> None:
    """Append ``rows`` audit events (``audit_fill_rows``) forming a valid keyed chain (what
    ``audit_record`` writes, without its per-row lock), then ANALYZE as the product does after
    a migration."""
    from django.conf import settings

    from certadmin.audit.hash_chain import GENESIS_HASH, event_hash
    from certadmin.audit.models import AuditEvent

    def _bulk_insert(events):
        # The manager refuses bulk inserts (the product appends one row at a time under a
        # lock); a scratch fill of a chain built here in order may use the plain QuerySet's,
        # with the ids it numbers itself (the triggers refuse an id the database did not draw).
        from django.db import connection
        from django.db.models import QuerySet

        from certadmin.audit.append_only import triggers_lifted

        with triggers_lifted(connection=connection):
            QuerySet.bulk_create(AuditEvent.objects.all(), events)

    prev = GENESIS_HASH
    pending = []
    for i, fields in enumerate(audit_fill_rows(rows, days=days)):
        event = AuditEvent(id=i + 1, prev_hash=prev, key_id=settings.AUDIT_KEY_ID, **fields)
        event.entry_hash = prev = event_hash(event)
        pending.append(event)
        if len(pending) >= batch:
            _bulk_insert(pending)
            pending = []
    if pending:
        _bulk_insert(pending)
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('audit_auditevent', 'id'), %s)", [rows + 1]
            )
    # What audit_record would have done row by row, then what a migration does.
    from certadmin.audit.planner import audit_names_refresh, audit_statistics_refresh

    audit_names_refresh(connection=connection)
    audit_statistics_refresh(connection=connection)


def scratch_django(suffix: str, *, sqlite: bool = False, keep: bool = False, **environ: str) -> str:
    """Set Django up on an empty, migrated scratch database (PostgreSQL from DATABASE_URL, or
    SQLite under var/bench when ``sqlite`` or no PostgreSQL); returns the vendor. ``keep``: the
    kept one of that name, as an earlier run left it (a script may fill it once and reuse it;
    migrated on every run, so a new index reaches the kept data)."""
    import tempfile

    directory = Path(tempfile.gettempdir()) / "certadmin-bench"
    directory.mkdir(exist_ok=True)
    url = None if sqlite else scratch_database_url(suffix, keep=keep)
    if url is None:
        os.environ.pop("DATABASE_URL", None)
        url = scratch_database_url(suffix, sqlite_dir=directory, keep=keep)
        os.environ["DATABASE_URL"] = url
    django_setup(DATABASE_URL=url, **environ)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    return connection.vendor


def run_children(script: str, variants: dict[str, dict[str, str]], argv: Sequence[str]) -> dict:
    """Run ``script`` once per variant (its environment additions) with ``BENCH_CHILD=1``; each
    prints one JSON line last. Returns {variant: parsed JSON}. Used where a measure needs
    another database (Django is set up once per process)."""
    import json
    import subprocess

    results = {}
    for name, extra in variants.items():
        env = {**os.environ, **extra, "BENCH_CHILD": "1"}
        done = subprocess.run(
            [sys.executable, script, *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"{name}: {script} failed:\n{done.stderr[-3000:]}")
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def database_variants(*, quick: bool = False) -> dict[str, dict[str, str]]:
    """SQLite always; PostgreSQL too when DATABASE_URL names it (``quick``: only one)."""
    variants = {"SQLite": {"BENCH_DB": "sqlite"}}
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        variants["PostgreSQL"] = {"BENCH_DB": "postgresql"}
        if quick:
            del variants["SQLite"]
    return variants


def audit_trail_ready(name: str, *, events: int, keep: bool, sqlite: bool) -> float:
    """Django on a scratch database holding a valid chain of exactly ``events`` audit events;
    the seconds the fill took (0 when a kept one was reused).

    ``keep``: the audit scripts share one kept database per engine (``audit_trail``), filled
    once at a size and reused while it holds that many events; rows a run appended (an
    export's own event) are removed before the next. Else a fresh scratch database ``name``."""
    scratch_django("audit_trail" if keep else name, sqlite=sqlite, keep=keep)
    from django.db import connection

    from certadmin.audit.append_only import triggers_lifted
    from certadmin.audit.models import AuditEvent

    started = time.perf_counter()
    with triggers_lifted(connection=connection), connection.cursor() as cursor:
        # audit_fill numbers its events from 1: what a run appended comes after them.
        cursor.execute("DELETE FROM audit_auditevent WHERE id > %s", [events])
    if AuditEvent.objects.count() != events:
        audit_empty()
        audit_fill(events)
        return time.perf_counter() - started
    return 0.0


def audit_empty() -> None:
    """Delete every audit event of a scratch database (its append-only triggers lifted), so
    that a kept database can be filled again at another size."""
    from django.db import connection

    from certadmin.audit.append_only import triggers_lifted

    with triggers_lifted(connection=connection), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent")
