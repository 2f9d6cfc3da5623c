"""Page latency under load: gunicorn (2 workers × 4 threads) on PostgreSQL + Redis, 8 concurrent
keep-alive clients for N seconds on each of: the login page (the trivial view), the
certificate page served from the inventory, and the audit list (N events). p50/p99 and the p99
relative to the login page's, measured in the same run.

Needs DATABASE_URL (PostgreSQL) and REDIS_URL (``make services; source var/test-services.env``).
The scratch database ``certadmin_bench_pages`` is re-created; gunicorn and the emulator listen
on free loopback ports and are stopped at the end.

    .venv/bin/python bench/page_latency.py [--seconds 20] [--events 100000] [--repeats 3] [--quick]
"""

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

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
CLIENTS = 8


def _load(base: str, path: str, cookie: str, seconds: float) -> list[float]:
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
            response = session.get(base + path, timeout=30)
            own.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        with lock:
            samples.extend(own)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    return samples


def main() -> None:
    args = bench_args(__doc__, repeats=3, seconds=20, events=100_000)
    if args.quick:
        args.seconds, args.events = 1, 300
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get(
        "REDIS_URL"
    ):
        sys.exit("page_latency.py needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    emulator_port, web_port = free_port(), free_port()
    environ = {
        "CERTADMIN_IOT_ENDPOINT": f"http://127.0.0.1:{emulator_port}",
        "CERTADMIN_INVENTORY_FRESH_SECONDS": "86400",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "CERTADMIN_BIND": f"127.0.0.1:{web_port}",
        "CERTADMIN_WEB_WORKERS": "2",
        "CERTADMIN_WEB_THREADS": "4",
        "CERTADMIN_LOG_LEVEL": "WARNING",
        "CERTADMIN_LOG_FORMAT": "text",
    }
    scratch_django("pages", **environ)
    from common import audit_fill
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    audit_fill(args.events)
    user = get_user_model().objects.create_superuser("bench-pages", password=None)
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    emulator = emulator_start(port=emulator_port)
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env={**os.environ, **environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{web_port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310 - loopback
                break
            except OSError:
                time.sleep(0.2)
        # Warm: both workers load templates; the first certificate view fills the inventory.
        for path, with_cookie in (("/login/", False), (DEVICE, True), ("/audit/", True)):
            _load(base, path, cookie if with_cookie else "", 0.5 if args.quick else 2.0)
        pages = {
            "login page (trivial)": ("/login/", ""),
            "certificate page (inventory)": (DEVICE, cookie),
            f"audit list ({args.events:,} events)": ("/audit/", cookie),
        }
        stats = {name: (Stat(), Stat(), Stat()) for name in pages}
        for _ in range(args.repeats):
            measured = {}
            for name, (path, session) in pages.items():
                measured[name] = _load(base, path, session, args.seconds)
            login_p99 = percentile(measured["login page (trivial)"], 99)
            for name, samples in measured.items():
                p50, p99, ratio = stats[name]
                p50.samples.append(percentile(samples, 50))
                p99.samples.append(percentile(samples, 99))
                ratio.samples.append(percentile(samples, 99) / login_p99)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        emulator.stop()
    report(
        args,
        name="page_latency",
        title=f"Page latency under load: gunicorn 2×4, {CLIENTS} clients × {args.seconds} s",
        headers=["page", "p50 ms", "p99 ms", "p99 ÷ login p99"],
        rows=[
            [name, p50.cell("{:.1f}"), p99.cell("{:.1f}"), ratio.cell("{:.2f}")]
            for name, (p50, p99, ratio) in stats.items()
        ],
        notes="Target: p99 of each ≤ 3× the login page's. PostgreSQL + Redis, loopback; the "
        "load generator runs on the same 2 cores.",
    )


if __name__ == "__main__":
    main()
