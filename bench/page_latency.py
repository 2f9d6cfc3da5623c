"""Page latency under load: gunicorn (2 workers × 4 threads, production settings), 8 keep-alive
connections from ``wrk`` for N seconds on each of: the login page (the trivial view), the
certificate page served from the inventory, the audit list (N realistic events:
``common.audit_fill``), and the pages that grow with the fleet at ``--records`` inventory
records (100,000; the fill of ``inventory_search.py``: one product of the demo fleet's names,
200 ended syncs, 30 schedules, one findings run): the device list, the expiry overview, the
jobs list and fleet health. p50/p99 and the p99 relative to the login page's, measured in the
same run. The emulator's CA is the configured CA bundle, so the certificate page verifies the
chain as it does in production.

``wrk`` (Debian's package; ``make bench`` installs it) makes the load: a load generator in
Python needs a core of its own on this 2-core machine and flattens every ratio. Without ``wrk``
on PATH the script's own generator (8 threads) is used and the table says so.

PostgreSQL and Redis by default (DATABASE_URL, REDIS_URL: ``make services; source
var/test-services.env``); ``--sqlite 1``: a SQLite file and the local-memory cache instead.
``--keep 1`` keeps the filled database (``certadmin_bench_pages_kept``) for the next run, which
fills again only what does not hold its size.
``BENCH_BEFORE_REV=<commit>``: that commit (``git archive`` into a temporary directory) is
served beside this checkout on the same database, and the rounds alternate between the two,
so the before/after ratios come from one run.

    .venv/bin/python bench/page_latency.py [--seconds 20] [--events 100000] [--repeats 3]
        [--records 100000] [--keep 0] [--sqlite 0] [--quick]
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from common import (
    ROOT,
    Stat,
    bench_args,
    emulator_start,
    free_port,
    percentile,
    report,
    scratch_django,
)

DEVICE = "/devices/a1Fleet5kXz/line1-unit-00042/"
CONNECTIONS = 8
WRK = shutil.which("wrk")
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(url: str, cookie: str, seconds: float) -> tuple[float, float]:
    """p50 and p99 (ms) of ``wrk`` with CONNECTIONS connections on ``url`` for ``seconds``."""
    command = [WRK, "-t", "2", "-c", str(CONNECTIONS), "-d", f"{max(seconds, 1):.0f}s"]
    command += ["--latency", "--timeout", "30s"]
    if cookie:
        command += ["-H", f"Cookie: sessionid={cookie}"]
    done = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + 60, check=True
    )
    if "Non-2xx or 3xx responses" in done.stdout or "requests in" not in done.stdout:
        raise SystemExit(f"wrk on {url}: not every answer was a 200\n{done.stdout}")
    found = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)\s*$", done.stdout, re.MULTILINE))
    values = []
    for rank in ("50", "99"):
        number, unit = re.fullmatch(r"([\d.]+)(\w+)", found[rank]).groups()
        values.append(float(number) * _UNITS[unit])
    return values[0], values[1]


def _threads(url: str, cookie: str, seconds: float) -> tuple[float, float]:
    """p50 and p99 (ms) from CONNECTIONS Python clients (when ``wrk`` is missing)."""
    import requests

    samples: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client():
        session = requests.Session()
        if cookie:
            session.cookies.set("sessionid", cookie, domain="127.0.0.1")
        own = []
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            response = session.get(url, timeout=30)
            own.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        with lock:
            samples.extend(own)

    threads = [threading.Thread(target=client) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    return percentile(samples, 50), percentile(samples, 99)


def _load(url: str, cookie: str, seconds: float) -> tuple[float, float]:
    return (_wrk if WRK else _threads)(url, cookie, seconds)


def _gunicorn(directory: Path, environ: dict[str, str], port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py"],
        cwd=directory,
        env={**os.environ, **environ, "CERTADMIN_BIND": f"127.0.0.1:{port}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310 - loopback
            break
        except OSError:
            time.sleep(0.2)
    return server


def _checkout(rev: str, into: Path) -> Path:
    """``rev`` of this repository exported into ``into`` (its files only, as committed)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def main() -> None:
    args = bench_args(
        __doc__, repeats=3, seconds=20, events=100_000, records=100_000, keep=0, sqlite=0
    )
    if args.quick:
        args.seconds, args.events, args.records = 1, 300, 500
    postgres = os.environ.get("DATABASE_URL", "").startswith("postgres")
    if not args.sqlite and not (postgres and os.environ.get("REDIS_URL")):
        sys.exit("page_latency.py needs DATABASE_URL (PostgreSQL) and REDIS_URL, or --sqlite 1")
    if args.sqlite:
        os.environ.pop("REDIS_URL", None)
    before_rev = os.environ.get("BENCH_BEFORE_REV", "")
    emulator_port = free_port()
    environ = {
        "CERTADMIN_IOT_ENDPOINT": f"http://127.0.0.1:{emulator_port}",
        "CERTADMIN_INVENTORY_FRESH_SECONDS": "86400",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "CERTADMIN_WEB_WORKERS": "2",
        "CERTADMIN_WEB_THREADS": "4",
        "CERTADMIN_LOG_LEVEL": "WARNING",
        "CERTADMIN_LOG_FORMAT": "text",
    }
    vendor = scratch_django("pages", sqlite=bool(args.sqlite), keep=bool(args.keep), **environ)
    from common import audit_empty, audit_fill
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from inventory_search import PRODUCT, fleet_pages_fill, inventory_empty, inventory_fill

    from certadmin.audit.models import AuditEvent
    from certadmin.devices.models import CertificateRecord
    from certadmin.jobs.models import Job

    setup_test_environment()
    if AuditEvent.objects.count() != args.events:
        audit_empty()
        audit_fill(args.events)
    records = CertificateRecord.objects.filter(product_key=PRODUCT).count()
    if records != args.records or not Job.objects.exists():
        # inventory_search.py's fleet, the same rows its in-process measures use.
        inventory_empty()  # with the bench users: the page's user is made again below
        inventory_fill(args.records)
        user = get_user_model().objects.create_superuser("bench-pages", password=None)
        fleet_pages_fill(args.records, viewer=user)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # what autovacuum does after a bulk load
                cursor.execute("ANALYZE")
    user = get_user_model().objects.filter(username="bench-pages").first()
    if user is None:
        user = get_user_model().objects.create_superuser("bench-pages", password=None)
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    emulator = emulator_start(port=emulator_port)
    scratch = Path(tempfile.mkdtemp(prefix="certadmin-pages-"))
    # The emulator's CA as the configured bundle (as `make run` has it): the page verifies the
    # chain, as it does in production.
    environ["CERTADMIN_CA_BUNDLE"] = str(emulator.write_ca(scratch / "emulator-ca.pem"))
    sides = {"after": ROOT}
    if before_rev:
        (scratch / "before").mkdir()
        sides = {"before": _checkout(before_rev, scratch / "before"), "after": ROOT}
    ports = {side: free_port() for side in sides}
    servers = {side: _gunicorn(path, environ, ports[side]) for side, path in sides.items()}
    bases = {side: f"http://127.0.0.1:{port}" for side, port in ports.items()}
    pages = {
        "login page (trivial)": ("/login/", ""),
        "certificate page (inventory)": (DEVICE, cookie),
        f"audit list ({args.events:,} events)": ("/audit/", cookie),
        f"device list ({args.records:,} devices)": (f"/devices/?product_key={PRODUCT}", cookie),
        "expiry overview with chart (product)": (f"/expiry/?product_key={PRODUCT}", cookie),
        "jobs": ("/jobs/", cookie),
        "fleet health": ("/fleet/", cookie),
    }
    stats = {(side, name): (Stat(), Stat(), Stat(), Stat()) for side in sides for name in pages}
    try:
        # Warm: both workers load templates; the first certificate view asks the platform (this
        # run's emulator, whose CA the bundle holds) and stores its answer in the inventory.
        for base in bases.values():
            cookie_header = {"Cookie": f"sessionid={cookie}"}
            request = urllib.request.Request(  # noqa: S310 - loopback
                base + DEVICE + "?refresh=1", headers=cookie_header
            )
            urllib.request.urlopen(request, timeout=30).read()  # noqa: S310 - loopback
            for path, session in pages.values():
                _load(base + path, session, 1 if args.quick else 3)
        loads = [os.getloadavg()[0]]
        for _ in range(args.repeats):
            for side, base in bases.items():
                measured = {
                    name: _load(base + path, session, args.seconds)
                    for name, (path, session) in pages.items()
                }
                login_p50, login_p99 = measured["login page (trivial)"]
                for name, (p50, p99) in measured.items():
                    cells = stats[(side, name)]
                    cells[0].samples.append(p50)
                    cells[1].samples.append(p99)
                    cells[2].samples.append(p99 / login_p99)
                    cells[3].samples.append(p50 / login_p50)
                loads.append(os.getloadavg()[0])
    finally:
        for server in servers.values():
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
        emulator.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    engine = "SQLite, local-memory cache" if vendor == "sqlite" else "PostgreSQL + Redis"
    generator = f"`wrk`, {CONNECTIONS} connections" if WRK else f"{CONNECTIONS} Python clients"
    headers = ["page", "p50 ms", "p99 ms", "p99 ÷ login p99", "p50 ÷ login p50"]
    if before_rev:
        headers = ["code", *headers]
    rows = []
    for (side, name), (p50, p99, ratio, ratio_p50) in stats.items():
        row = [
            name,
            p50.cell("{:.1f}"),
            p99.cell("{:.1f}"),
            ratio.cell("{:.2f}"),
            ratio_p50.cell("{:.2f}"),
        ]
        if before_rev:
            row = [f"before ({before_rev})" if side == "before" else "after", *row]
        rows.append(row)
    report(
        args,
        name="page_latency" + ("_sqlite" if vendor == "sqlite" else ""),
        title=f"Page latency under load: gunicorn 2×4, {generator} × {args.seconds} s ({engine})",
        headers=headers,
        rows=rows,
        notes="Target: p99 of each ≤ 3× the login page's. Loopback; the load generator runs on "
        "the same 2 cores; the p50 ratio is the steadier one on a shared machine (one slow "
        f"answer moves a p99). 1-minute load average {min(loads):.1f}–{max(loads):.1f} during the "
        "rounds."
        + (
            " Before and after served side by side on one database, their rounds alternating."
            if before_rev
            else ""
        ),
    )


if __name__ == "__main__":
    main()
