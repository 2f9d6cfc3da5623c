"""Two hosts: two gunicorn instances (gunicorn.conf.py, two gthread workers each) and two task
workers on one PostgreSQL and one Redis, against the emulator — the shared rate limiter, the
audit chain's lock and the job queue hold across processes, not only threads.

The test plays the TLS-terminating proxy in front of both instances: it sends
``X-Forwarded-Proto: https`` and its cookie jar returns the Secure session cookie over the
loopback's plain HTTP. People log in through the real login form (its CSRF token comes from
the session, read from the page)."""

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from certadmin.audit.hmac_keys import audit_keys_parse
from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.verification import chain_verify
from certadmin.emulator import DEMO_PRODUCT_KEY
from certadmin.emulator.server import RunningEmulator
from certadmin.jobs.models import Job, JobState
from tests.production.conftest import (
    Processes,
    free_port,
    manage,
    production_environment,
    wait_for,
)
from tests.support.databases import database_url_for_processes
from tests.support.people import ROLE_PASSWORD

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TIMEOUT = 30  # seconds, for every HTTP request of these tests
REASON = "Ticket OPS-4242: provisioning a replacement gateway"
_products = count(1)


@dataclass
class TwoHosts:
    bases: list[str]
    env: dict[str, str]
    home: Path
    processes: Processes


@pytest.fixture(scope="module")
def two_hosts(emulator_session, django_db_setup, tmp_path_factory) -> Iterator[TwoHosts]:
    """Two gunicorn instances on their own loopback ports, two task workers and two schedulers,
    all on the test database (by name) and the test Redis, talking to the session's
    emulator."""
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip(
            "needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL): hosts share nothing else"
        )
    folder = tmp_path_factory.mktemp("two-hosts")
    home = folder / "home"
    home.mkdir()
    env = production_environment(emulator=emulator_session, folder=folder)
    env.pop("XDG_RUNTIME_DIR", None)
    env |= {
        "DATABASE_URL": database_url_for_processes(),
        "REDIS_URL": settings.REDIS_URL,
        # One person's bursts here measure the shared quota and the audit chain, not the cap on
        # a person's lookups in flight (tests/devices/test_live_lookups.py).
        "CERTADMIN_LIVE_LOOKUPS_PER_USER": "8",
        # Where gunicorn would put its control socket by default (gunicorn.conf.py turns it off).
        "HOME": str(home),
    }
    # Static files collected once; the page templates need the manifest.
    manage("collectstatic", "--noinput", "-v", "0", env=env)
    processes = Processes(folder)
    try:
        bases = []
        for host in ("a", "b"):
            metrics_dir = folder / f"prometheus-{host}"
            metrics_dir.mkdir()
            host_env = env | {
                "CERTADMIN_BIND": f"127.0.0.1:{free_port()}",
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            }
            bases.append(processes.gunicorn(f"web-{host}", host_env))
            processes.task_worker(f"worker-{host}", env)
            processes.scheduler(f"scheduler-{host}", env)
        yield TwoHosts(bases=bases, env=env, home=home, processes=processes)
    finally:
        processes.stop()


def _csrf_token(page: requests.Response) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, f"no CSRF token on {page.url} ({page.status_code})"
    return match.group(1)


class ProxiedBrowser(requests.Session):
    """A browser reaching one instance through the TLS-terminating proxy: the instance sees
    ``X-Forwarded-Proto: https`` and a same-origin ``Origin``, and gets back every cookie it
    set, its Secure session cookie included, over the loopback's plain HTTP."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.headers.update(
            {"X-Forwarded-Proto": "https", "Origin": base.replace("http://", "https://")}
        )

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        prepared = super().prepare_request(request)
        # requests sends a Secure cookie over https only; behind the proxy the hop is http.
        if self.cookies:
            prepared.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return prepared


def _log_in(base: str, username: str) -> ProxiedBrowser:
    """A browser logged in to the instance at ``base`` through its login form."""
    browser = ProxiedBrowser(base)
    form = browser.get(f"{base}/login/", timeout=TIMEOUT)
    answer = browser.post(
        f"{base}/login/",
        data={
            "csrfmiddlewaretoken": _csrf_token(form),
            "username": username,
            "password": ROLE_PASSWORD,
        },
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert answer.status_code == 302, re.sub(r"\s+", " ", answer.text)[-3000:]
    return browser


@contextmanager
def _arrivals(emulator: RunningEmulator, action: str) -> Iterator[list[float]]:
    """The times (monotonic) at which the emulator counted ``action`` calls against the quota:
    what a throttling refusal is judged on, for the failure message."""
    limiter = emulator._gateway.limiter
    real_allow = limiter.allow
    times: list[float] = []

    def allow(access_key_id: str, counted: str) -> bool:
        if counted == action:
            times.append(time.monotonic())
        return real_allow(access_key_id, counted)

    limiter.allow = allow
    try:
        yield times
    finally:
        del limiter.allow


def _tightest(times: list[float], calls: int) -> float:
    """The shortest span holding ``calls`` consecutive arrivals."""
    return min(
        (times[n + calls - 1] - times[n] for n in range(len(times) - calls + 1)),
        default=float("inf"),
    )


def test_gunicorn_instances_on_one_host_open_no_shared_control_socket(two_hosts):
    for base in two_hosts.bases:
        assert requests.get(f"{base}/healthz", timeout=TIMEOUT).status_code == 200
    assert not (two_hosts.home / ".gunicorn").exists()


def test_a_burst_of_lookups_through_both_instances_stays_within_the_quota(
    two_hosts, emulator, make_user
):
    viewer = make_user("Viewer")
    browsers = [(base, _log_in(base, viewer.username)) for base in two_hosts.bases]
    # 30 lookups take 3 s at the shared pace of 10 a second; two instances pacing themselves
    # apart would send them at 20 a second, so the 11th within a second comes in the first
    # second already: more lookups only wait longer for the same proof.
    lookups = 30

    def look_up(n: int) -> int:
        base, browser = browsers[n % 2]
        device = f"sensor-{n % 30 + 1:04d}"
        page = browser.get(
            f"{base}/devices/{DEMO_PRODUCT_KEY}/{device}/?refresh=1",
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        return page.status_code

    # The emulator runs in this process beside the 8 client threads, so on a loaded machine its
    # own arrival times can bunch up by more than the limiter's 5 % spacing margin. A burst
    # that the emulator throttled is repeated (at most twice) before the test fails.
    for _attempt in range(3):
        emulator.reset_rate_limits()
        emulator.request_log.clear()
        throttled_before = emulator.throttled["QueryDeviceCert"]
        began = time.monotonic()
        with (
            _arrivals(emulator, "QueryDeviceCert") as arrived,
            ThreadPoolExecutor(max_workers=8) as pool,
        ):
            statuses = list(pool.map(look_up, range(lookups)))
        elapsed = time.monotonic() - began
        assert statuses == [200] * lookups
        throttled = emulator.throttled["QueryDeviceCert"] - throttled_before
        if throttled == 0:
            break

    # The instances' shared limiter spaces calls 105 ms apart; the emulator refuses the 11th
    # call that *arrives* within 1 s.
    assert throttled == 0, f"11 calls arrived within {_tightest(arrived, 11):.3f} s"
    asked = [e for e in emulator.request_log if e.action == "QueryDeviceCert"]
    # ?refresh=1 asks the platform every time: the quota, not a cache, kept the pace.
    assert len(asked) >= lookups
    assert elapsed >= lookups / 10 - 1


def test_concurrent_reveals_through_both_instances_keep_the_audit_chain_valid(
    two_hosts, emulator, make_user, settings, tmp_path
):
    # Verify with the key the instances sealed with; no checkpoint of another test's rows.
    settings.AUDIT_KEYS = audit_keys_parse(two_hosts.env["CERTADMIN_AUDIT_KEYS"])
    settings.AUDIT_KEY_ID = next(iter(settings.AUDIT_KEYS))
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path)
    custodian = make_user("Key custodian")
    browsers = [(base, _log_in(base, custodian.username)) for base in two_hosts.bases]
    devices = [f"sensor-{n:04d}" for n in range(41, 45)]
    tokens = [
        _csrf_token(browser.get(f"{base}/devices/{DEMO_PRODUCT_KEY}/{devices[0]}/", timeout=30))
        for base, browser in browsers
    ]
    reveals = 12

    def reveal(n: int) -> tuple[int, bool]:
        base, browser = browsers[n % 2]
        answer = browser.post(
            f"{base}/devices/{DEMO_PRODUCT_KEY}/{devices[n % len(devices)]}/key/",
            data={
                "csrfmiddlewaretoken": tokens[n % 2],
                "action": "reveal",
                "reason": f"{REASON} ({n})",
                "password": ROLE_PASSWORD,
            },
            timeout=TIMEOUT,
        )
        return answer.status_code, "PRIVATE KEY-----" in answer.text

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(reveal, range(reveals)))

    assert answers == [(200, True)] * reveals
    recorded = AuditEvent.objects.filter(
        action=AuditAction.KEY_REVEAL, outcome=AuditOutcome.SUCCESS
    )
    assert recorded.count() == reveals
    assert {event.reason for event in recorded} == {f"{REASON} ({n})" for n in range(reveals)}
    report = chain_verify()
    assert report.ok, report.message
    assert report.checked == AuditEvent.objects.count()
    assert emulator.throttled["QueryDeviceCert"] == 0


def test_only_one_of_the_two_schedulers_runs(two_hosts):
    from certadmin.ops.heartbeat import SCHEDULER
    from certadmin.ops.models import WorkerHeartbeat

    processes = two_hosts.processes
    # The one that did not get django-crontask's Redis lock gives up (its process manager, or
    # make serve's loop, starts it again as a standby).
    wait_for(
        lambda: any(
            "Another scheduler is already running" in processes.tail(f"scheduler-{host}")
            for host in ("a", "b")
        ),
        timeout=60,
        what="one scheduler to find the lock taken",
    )
    beats = WorkerHeartbeat.objects.filter(role=SCHEDULER)
    wait_for(beats.exists, timeout=30, what="the running scheduler's heartbeat")
    assert beats.count() == 1


def test_a_job_started_on_one_instance_is_seen_and_cancelled_on_the_other(
    two_hosts, emulator, make_user
):
    product_key = f"hosts{next(_products):02d}{free_port() % 10000:04d}x"
    for number in range(1, 41):
        emulator.add_device(
            {"product_key": product_key, "device_name": f"dev-{number:05d}", "key_type": "ec"}
        )
    viewer = make_user("Viewer")
    (base_a, a), (base_b, b) = [(base, _log_in(base, viewer.username)) for base in two_hosts.bases]
    # Both instances see a task worker's and the scheduler's heartbeats in the shared database.
    for base in (base_a, base_b):
        wait_for(
            lambda base=base: requests.get(f"{base}/readyz", timeout=TIMEOUT).status_code == 200,
            timeout=30,
            what=f"{base}/readyz to see a task worker and the scheduler",
        )

    started = a.post(
        f"{base_a}/jobs/sync/",
        data={
            "csrfmiddlewaretoken": _csrf_token(a.get(f"{base_a}/jobs/", timeout=TIMEOUT)),
            "product_key": product_key,
            "instance": "",
        },
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert started.status_code == 302, started.text[:500]
    job_id = int(re.fullmatch(r"/jobs/(\d+)/", started.headers["Location"]).group(1))

    seen = b.get(f"{base_b}/jobs/{job_id}/", timeout=TIMEOUT)
    assert seen.status_code == 200
    assert product_key in seen.text
    wait_for(
        lambda: Job.objects.get(pk=job_id).done >= 1, timeout=30, what="a worker to take the job"
    )
    cancelled = b.post(
        f"{base_b}/jobs/{job_id}/cancel/",
        data={"csrfmiddlewaretoken": _csrf_token(seen)},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert cancelled.status_code == 302

    job = wait_for(
        lambda: (job := Job.objects.get(pk=job_id)) and not job.is_active and job,
        timeout=60,
        what="the job to end",
    )
    assert job.state in (JobState.CANCELLED, JobState.FINISHED)
    if job.state == JobState.CANCELLED:
        assert job.done < 40
    assert emulator.throttled["QueryDeviceCert"] == 0
