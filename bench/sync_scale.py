"""The 120,000-device product against the emulator, with real ``task_worker`` processes: its
listing, a bounded window of its sync at the real quota, a sync resumed after its workers are
killed, and an incremental re-sync of the unchanged product.

The emulator serves over loopback HTTP from this process (its calls are counted on its side,
per quota, as it grants them); the workers are the ones ``make serve`` starts (two taking every
queue, one taking the interactive queue, where the jobs' watchdog runs), on a scratch database
(PostgreSQL when DATABASE_URL names it) and Redis's limiter when REDIS_URL is set.

1. A full sync of ``a1Scale120k`` starts. When the listing has fetched ``--kill-page`` pages
   (2,100: past the 100,000-row offset, so in the deep pages and while the other run looks
   devices up) both job workers are SIGKILLed and two new ones started, as a deploy would; the
   watchdog revives the job after a lease period (``--lease``). Reported: devices asked twice,
   listing pages fetched again, the outage.
2. The listing: wall time, QueryDevice calls/s over its shallow and deep pages against the jobs'
   share and the account's quota, BatchQueryDeviceDetail calls/s, listing rows stored/s.
3. ``--window`` seconds of lookups once the listing is complete: QueryDeviceCert calls/s against
   the jobs' share (and over the whole run: the listing run looks devices up while its listing
   calls wait), throttled answers, the job workers' RSS (start, middle, end; slope per
   10,000 devices done), records written/s and CPU time per device done. The job is then
   cancelled (the whole sync takes 120,000 ÷ 8 s, about 4 hours).
4. An incremental re-sync of the product as a finished full sync ``--since-hours`` ago leaves it
   (the fake clock: the records the window did not reach are marked as looked up then, with the
   listing's UtcModified, and certificate statuses the emulator gives them, so its generating
   and failed devices are asked again as they would be; the product's last sync set back as
   far): its listing's calls/s, the lookups it plans (its items: each is one QueryDeviceCert
   call), those made in ``--incremental-window`` seconds after the listing, and lookups ÷
   devices ÷ days since the last sync.

    .venv/bin/python bench/sync_scale.py [--window 900] [--kill-page 2100] [--quick]

``--quick``: a product of 150 devices, a 50-row NextToken window, short leases and windows.
"""

import bisect
import contextlib
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from common import ROOT, bench_args, emulator_start, free_port, report, scratch_django

SCALE_PRODUCT = "a1Scale120k"
QUICK_PRODUCT = "a1BenchScaleQ"
QUICK_DEVICES = 150
PAGE_SIZE = 50
DEEP_ROWS = 100_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Granted:
    """The emulator's grants per quota ("QueryDevice", "QueryDevice.DeepPage", ...), as
    monotonic times, counted where it decides (its limiter's ``allow``)."""

    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # Refusals per quota (the emulator's own ``throttled`` counts them per action only).
    refused: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, gateway) -> None:
        real_allow = gateway.limiter.allow

        def allow(account, action):
            allowed = real_allow(account, action)
            with self.lock:
                if allowed:
                    self.times[action].append(time.monotonic())
                else:
                    self.refused[action] += 1
            return allowed

        gateway.limiter.allow = allow

    def count(self, quota: str, start: float = 0.0, end: float = math.inf) -> int:
        with self.lock:
            times = self.times[quota]
            return bisect.bisect_right(times, end) - bisect.bisect_left(times, start)

    def span(self, quota: str, start: float = 0.0) -> tuple[float, float]:
        """The first and last grant at or after ``start`` ((0, 0) when none)."""
        with self.lock:
            times = self.times[quota][bisect.bisect_left(self.times[quota], start) :]
            return (times[0], times[-1]) if times else (0.0, 0.0)

    def clear(self) -> None:
        with self.lock:
            self.times.clear()
            self.refused.clear()


@dataclass
class Sample:
    at: float
    done: int
    pages: int
    listing_complete: bool
    state: str
    rss_kib: dict[int, int]
    cpu_s: dict[int, float]


def _proc(pid: int) -> tuple[int, float] | None:
    """(RSS KiB, user+system CPU seconds) of a live process."""
    try:
        with open(f"/proc/{pid}/status") as status:
            rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return rss, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, StopIteration, ValueError, IndexError):
        return None


class Workers:
    """The task workers `make serve` starts, as real processes on the scratch database."""

    def __init__(self, environ: dict[str, str]) -> None:
        self.environ = environ
        self.job_workers: list[subprocess.Popen] = []
        self.others: list[subprocess.Popen] = []

    def _start(self, queues: str) -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "task_worker",
                "--no-reload",
                "--no-startup-delay",
                "--interval",
                "0.2",
                "--queue-name",
                queues,
                "-v",
                "0",
            ],
            cwd=ROOT,
            env=self.environ,
            stdout=subprocess.DEVNULL,
        )

    def start(self, *, job_workers: int = 2, interactive: bool = True) -> None:
        self.job_workers += [self._start("*") for _ in range(job_workers)]
        if interactive:
            self.others.append(self._start("interactive"))

    def kill_job_workers(self) -> None:
        for process in self.job_workers:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        self.job_workers = []

    def stop(self) -> None:
        for process in self.job_workers + self.others:
            if process.poll() is None:
                process.terminate()
        for process in self.job_workers + self.others:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def sample_take(job_id: int, workers: Workers, granted: Granted) -> Sample:
    from certadmin.jobs.models import Job

    done, complete, state = Job.objects.filter(pk=job_id).values_list(
        "done", "listing_complete", "state"
    )[0]
    rss, cpu = {}, {}
    for process in workers.job_workers:
        reading = _proc(process.pid)
        if reading is not None:
            rss[process.pid], cpu[process.pid] = reading
    return Sample(time.monotonic(), done, granted.count("QueryDevice"), complete, state, rss, cpu)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("nan")


def job_cancel_wait(job_id: int, timeout: float) -> str:
    from certadmin.jobs.models import ENDED_STATES, Job, JobState

    Job.objects.filter(pk=job_id, state__in=(JobState.QUEUED, JobState.RUNNING)).update(
        state=JobState.CANCELLING
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = Job.objects.filter(pk=job_id).values_list("state", flat=True)[0]
        if state in ENDED_STATES:
            return state
        time.sleep(0.5)
    return state


def full_sync_run(args, *, product, devices, owner, emulator, granted, workers) -> dict:
    """Phases 1-3: the full sync with its kill, listing and window."""
    from certadmin.jobs.models import ENDED_STATES
    from certadmin.jobs.services import product_sync_start

    emulator.request_log.clear()
    emulator.throttled.clear()
    granted.clear()
    job = product_sync_start(owner=owner, product_key=product)
    started = time.monotonic()
    samples: list[Sample] = []
    killed_at = resumed_at = listed_at = None
    kill = {}
    pages_needed = math.ceil(devices / PAGE_SIZE)
    # Bounded: the listing at its slowest (details every 2 pages, deep pages at 2/s), the
    # outage and the window, twice over.
    deadline = started + 2 * (pages_needed * 0.6 + 4 * args.lease + args.window) + 60
    while time.monotonic() < deadline:
        sample = sample_take(job.pk, workers, granted)
        samples.append(sample)
        if killed_at is None and sample.pages >= args.kill_page:
            workers.kill_job_workers()
            killed_at = time.monotonic()
            kill = {
                "done": sample_take(job.pk, workers, granted).done,
                "pages": granted.count("QueryDevice"),
                "lookups": granted.count("QueryDeviceCert"),
            }
            workers.start(job_workers=2, interactive=False)
        elif (
            killed_at is not None
            and resumed_at is None
            and (
                granted.count("QueryDevice", killed_at)
                or granted.count("QueryDeviceCert", killed_at + 1)
            )
        ):
            resumed_at = time.monotonic()
        if listed_at is None and sample.listing_complete:
            listed_at = sample.at
        if sample.state in ENDED_STATES:
            break
        if listed_at is not None and sample.at >= listed_at + args.window:
            break
        time.sleep(args.sample)
    window_end = time.monotonic()
    state = job_cancel_wait(job.pk, timeout=3 * args.lease)

    # Devices asked more than once in this job, and listing pages fetched beyond the product's.
    asked = Counter(entry[3] for entry in emulator.request_log if entry[0] == "QueryDeviceCert")
    twice = sum(1 for count in asked.values() if count > 1)
    pages = granted.count("QueryDevice", started)
    # The listing: shallow pages from the first to the first deep one; deep ones; details.
    first_page, last_page = granted.span("QueryDevice", started)
    first_deep, last_deep = granted.span("QueryDevice.DeepPage", started)
    outage = (resumed_at - killed_at) if killed_at and resumed_at else 0.0
    outage_in_listing = outage if killed_at and listed_at and killed_at < listed_at else 0.0
    shallow_end = first_deep or last_page
    shallow_outage = outage_in_listing if killed_at and killed_at < shallow_end else 0.0
    deep_outage = outage_in_listing - shallow_outage
    deep_pages = granted.count("QueryDevice.DeepPage")
    listing_seconds = (listed_at or window_end) - started
    details = granted.count("BatchQueryDeviceDetail", started, listed_at or window_end)
    # The window after the listing.
    window = [s for s in samples if listed_at is not None and s.at >= listed_at]
    lookups_window = granted.count("QueryDeviceCert", listed_at or window_end, window_end)
    lookups_listing = granted.count(
        "QueryDeviceCert", started, (killed_at or listed_at or window_end)
    )
    rss_rows = _rss(window or samples)
    # The first workers over the listing until the kill, against devices listed (50 a page).
    before_kill = [s for s in samples if killed_at is None or s.at < killed_at]
    rss_listing = _rss(before_kill, devices=lambda s: s.pages * PAGE_SIZE)
    cpu_ms = _cpu_per_device(window or samples)
    return {
        "job_state": state,
        "devices": devices,
        "listing_seconds": listing_seconds,
        "listing_complete": listed_at is not None,
        "outage": outage,
        "shallow_rate": rate(
            granted.count("QueryDevice", started, shallow_end) - 1,
            shallow_end - first_page - shallow_outage,
        ),
        "deep_pages": deep_pages,
        "deep_rate": rate(deep_pages - 1, last_deep - first_deep - deep_outage)
        if deep_pages > 1
        else float("nan"),
        "detail_rate": rate(details, listing_seconds - outage_in_listing),
        "listing_rows_rate": rate(devices, listing_seconds - outage_in_listing),
        "lookups_listing_rate": rate(
            lookups_listing, (killed_at or listed_at or window_end) - started
        ),
        # From the revival to the end of the listing: the revived runs look devices up too.
        "lookups_revived_rate": rate(
            granted.count("QueryDeviceCert", resumed_at, listed_at),
            listed_at - resumed_at,
        )
        if resumed_at and listed_at and listed_at > resumed_at
        else float("nan"),
        # The whole run: from the job's start to the end of the window, less the outage.
        "run_rate": rate(
            granted.count("QueryDeviceCert", started, window_end),
            window_end - started - outage,
        ),
        "run_seconds": window_end - started - outage,
        "window_seconds": window_end - (listed_at or window_end),
        "window_rate": rate(lookups_window, window_end - (listed_at or window_end)),
        "records_rate": rate(window[-1].done - window[0].done, window[-1].at - window[0].at)
        if len(window) > 1
        else float("nan"),
        "done": samples[-1].done,
        "throttled": dict(granted.refused),
        "rss": rss_rows,
        # The second half of the window: past any bounded cache's filling (each worker keeps
        # its last 2,048 signature checks, certs/chain_check.py, some 200 bytes each).
        "rss_late": _rss(window[len(window) // 2 :]),
        "rss_listing": rss_listing,
        "cpu_ms": cpu_ms,
        "twice": twice,
        "in_flight_bound": 2,  # one item per job worker
        "pages_again": max(0, pages - pages_needed),
        "pages_needed": pages_needed,
        "killed": killed_at is not None,
        "kill": kill,
        "job_id": job.pk,
    }


def _rss(samples: list[Sample], devices=lambda sample: sample.done) -> dict:
    """Total RSS of the job workers at the start, middle and end of ``samples`` (MiB), and its
    slope against ``devices`` (done, by default; MiB per 10,000), by least squares."""
    points = [(devices(s), sum(s.rss_kib.values()) / 1024) for s in samples if s.rss_kib]
    if len(points) < 2:
        return {"start": float("nan"), "middle": float("nan"), "end": float("nan"), "slope": 0.0}
    xs, ys = zip(*points, strict=True)
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else float("nan")
    return {
        "start": ys[0],
        "middle": ys[len(ys) // 2],
        "end": ys[-1],
        "slope": slope * 10_000,
    }


def _cpu_per_device(samples: list[Sample]) -> float:
    """The job workers' CPU time over ``samples`` per device done (ms); workers present at
    both ends only."""
    if len(samples) < 2:
        return float("nan")
    first, last = samples[0], samples[-1]
    pids = set(first.cpu_s) & set(last.cpu_s)
    cpu = sum(last.cpu_s[pid] - first.cpu_s[pid] for pid in pids)
    devices = last.done - first.done
    return cpu * 1000 / devices if devices > 0 else float("nan")


def inventory_as_synced(*, product: str, full_job_id: int, since_hours: float) -> None:
    """The fake clock: the product's records as a full sync that finished ``since_hours`` ago
    leaves them (see the module text)."""
    from datetime import timedelta

    from django.db.models import OuterRef, Subquery
    from django.utils import timezone

    from certadmin.devices.models import CertificateRecord, ProductSync
    from certadmin.emulator.seed import fleet_profile
    from certadmin.iot.results import CertStatus
    from certadmin.jobs.models import JobItem

    then = timezone.now() - timedelta(hours=since_hours)
    records = CertificateRecord.objects.filter(product_key=product)
    unchecked = records.filter(last_checked__isnull=True)
    statuses = defaultdict(list)
    for name in unchecked.values_list("device_name", flat=True).iterator():
        statuses[fleet_profile(name).status].append(name)
    for status, names in statuses.items():
        for start in range(0, len(names), 5000):
            unchecked.filter(device_name__in=names[start : start + 5000]).update(
                status=int(status) if int(status) in set(CertStatus) else CertStatus.READY
            )
    records.filter(listing_modified="").update(
        listing_modified=Subquery(
            JobItem.objects.filter(
                job_id=full_job_id, product_key=product, device_name=OuterRef("device_name")
            ).values("listing_modified")[:1]
        )
    )
    records.update(last_checked=then)
    account = records.values_list("account", flat=True).first() or ""
    ProductSync.objects.update_or_create(
        account=account,
        product_key=product,
        iot_instance_id="",
        defaults={
            "device_count": records.count(),
            "synced_at": then,
            "mode": "full",
            "full_synced_at": then,
        },
    )


def incremental_run(args, *, product, devices, owner, emulator, granted, workers) -> dict:
    from certadmin.jobs.models import ENDED_STATES, Job, SyncMode
    from certadmin.jobs.services import product_sync_start

    emulator.request_log.clear()
    emulator.throttled.clear()
    granted.clear()
    job = product_sync_start(owner=owner, product_key=product, mode=SyncMode.INCREMENTAL)
    started = time.monotonic()
    listed_at = None
    deadline = started + 2 * (math.ceil(devices / PAGE_SIZE) * 0.6 + args.incremental_window) + 60
    state = ""
    while time.monotonic() < deadline:
        complete, state = Job.objects.filter(pk=job.pk).values_list("listing_complete", "state")[0]
        if listed_at is None and complete:
            listed_at = time.monotonic()
        if state in ENDED_STATES:
            break
        if listed_at is not None and time.monotonic() >= listed_at + args.incremental_window:
            break
        time.sleep(args.sample)
    end = time.monotonic()
    job.refresh_from_db()
    state = job_cancel_wait(job.pk, timeout=3 * args.lease) if state not in ENDED_STATES else state
    first_deep, last_deep = granted.span("QueryDevice.DeepPage", started)
    first_page, last_page = granted.span("QueryDevice", started)
    deep_pages = granted.count("QueryDevice.DeepPage", started)
    shallow_end = first_deep or last_page
    listed = job.listed or devices
    return {
        "job_state": state,
        "listing_seconds": (listed_at or end) - started,
        "listing_complete": listed_at is not None,
        "items": job.total,
        "listed": listed,
        "done": job.done,
        "calls": granted.count("QueryDeviceCert", started),
        "ratio_per_day": job.total / listed / (args.since_hours / 24),
        "shallow_rate": rate(
            granted.count("QueryDevice", started, shallow_end) - 1, shallow_end - first_page
        ),
        "deep_rate": rate(deep_pages - 1, last_deep - first_deep)
        if deep_pages > 1
        else float("nan"),
        "peak_query_device": _peak(granted, "QueryDevice"),
        "throttled": dict(granted.refused),
    }


def _peak(granted: Granted, quota: str) -> int:
    """The most grants of ``quota`` in any 1-second span."""
    with granted.lock:
        times = list(granted.times[quota])
    peak, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


def main() -> None:
    args = bench_args(
        __doc__,
        repeats=1,
        window=900,
        kill_page=2100,
        lease=30,
        since_hours=24,
        incremental_window=60,
    )
    args.sample = 1.0
    if args.quick:
        args.window, args.kill_page, args.lease, args.incremental_window = 3, 3, 4, 2
        args.sample = 0.25
    port = free_port()
    scratch_django(
        "scale",
        CERTADMIN_IOT_ENDPOINT=f"http://127.0.0.1:{port}",
        CERTADMIN_JOB_LEASE_SECONDS=str(args.lease),
    )
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from certadmin.iot.ratelimit import ACTION_QPS, JOB_QPS

    product, devices = SCALE_PRODUCT, 120_000
    extra = []
    if args.quick:
        product, devices = QUICK_PRODUCT, QUICK_DEVICES
        extra = [
            {"product_key": product, "device_name": f"scale-{i:05d}", "key_type": "ec"}
            for i in range(devices)
        ]
    emulator = emulator_start(port=port, extra_devices=extra)
    if args.quick:
        emulator.set_listing_rules(window_rows=PAGE_SIZE)
    granted = Granted()
    granted.wrap(emulator._gateway)
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter("certadmin:iot:*"):
            client.delete(key)
    import tempfile

    ca_bundle = emulator.write_ca(Path(tempfile.mkdtemp(prefix="bench-scale-")) / "ca.pem")
    environ = {
        **os.environ,
        # The emulator's CA, so that the workers verify chains as production does.
        "CERTADMIN_CA_BUNDLE": str(ca_bundle),
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "CERTADMIN_IOT_ENDPOINT": f"http://127.0.0.1:{port}",
        "CERTADMIN_JOB_LEASE_SECONDS": str(args.lease),
        "CERTADMIN_LOG_LEVEL": "ERROR",
    }
    environ.pop("ALIBABA_CLOUD_ACCESS_KEY_ID", None)
    environ.pop("DJANGO_SETTINGS_MODULE", None)
    owner = get_user_model().objects.create_user("bench-scale")
    workers = Workers(environ)
    load_before = os.getloadavg()
    try:
        workers.start()
        full = full_sync_run(
            args,
            product=product,
            devices=devices,
            owner=owner,
            emulator=emulator,
            granted=granted,
            workers=workers,
        )
        inventory_as_synced(
            product=product, full_job_id=full["job_id"], since_hours=args.since_hours
        )
        incremental = incremental_run(
            args,
            product=product,
            devices=devices,
            owner=owner,
            emulator=emulator,
            granted=granted,
            workers=workers,
        )
    finally:
        workers.stop()
        with contextlib.suppress(Exception):
            emulator.stop()
    load_after = os.getloadavg()
    _report(args, full, incremental, settings.JOB_QPS, ACTION_QPS, JOB_QPS, load_before, load_after)


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _report(args, full, incr, job_qps, action_qps, job_share, load_before, load_after) -> None:
    throttled = sum(full["throttled"].values())
    throttled_incr = sum(incr["throttled"].values())
    share_used = full["window_rate"] / job_qps
    rss = full["rss"]
    n = full["devices"]
    rows = [
        ["listing", "wall time (outage included)", f"{full['listing_seconds']:.0f} s", "-", "-"],
        [
            "listing",
            "QueryDevice, shallow pages",
            f"{full['shallow_rate']:.1f} calls/s (share {job_share['QueryDevice']}, "
            f"quota {action_qps['QueryDevice']})",
            "within quota",
            _met(full["shallow_rate"] <= action_qps["QueryDevice"]),
        ],
        [
            "listing",
            f"QueryDevice, deep pages ({full['deep_pages']:,})",
            f"{full['deep_rate']:.2f} calls/s (share and quota {action_qps['QueryDevice.deep']})",
            "within quota",
            _met(not full["deep_rate"] > action_qps["QueryDevice.deep"]),
        ],
        [
            "listing",
            "BatchQueryDeviceDetail",
            f"{full['detail_rate']:.2f} calls/s (share {job_share['BatchQueryDeviceDetail']}, "
            f"quota {action_qps['BatchQueryDeviceDetail']})",
            "within quota",
            _met(full["detail_rate"] <= action_qps["BatchQueryDeviceDetail"]),
        ],
        ["listing", "rows stored", f"{full['listing_rows_rate']:,.0f} rows/s", "-", "-"],
        [
            "sync",
            "QueryDeviceCert during the listing, until the kill",
            f"{full['lookups_listing_rate']:.2f} calls/s "
            f"= {full['lookups_listing_rate'] / job_qps:.0%} of the share",
            "-",
            "-",
        ],
        [
            "resumed",
            "QueryDeviceCert from the revival to the end of the listing",
            f"{full['lookups_revived_rate']:.2f} calls/s "
            f"= {full['lookups_revived_rate'] / job_qps:.0%} of the share",
            "-",
            "-",
        ],
        [
            "sync",
            f"QueryDeviceCert, {full['window_seconds']:.0f} s after the listing",
            f"{full['window_rate']:.2f} calls/s = {share_used:.1%} of the share ({job_qps})",
            "≥ 97 %",
            _met(share_used >= 0.97),
        ],
        [
            "sync",
            f"QueryDeviceCert over the whole run ({full['run_seconds']:.0f} s: listing and "
            "window, the outage left out)",
            f"{full['run_rate']:.2f} calls/s = {full['run_rate'] / job_qps:.1%} of the share",
            "≥ 97 %",
            _met(full["run_rate"] / job_qps >= 0.97),
        ],
        [
            "sync",
            "throttled answers (whole run), per quota",
            f"{throttled} {dict(full['throttled']) or ''}".strip(),
            "0",
            _met(throttled == 0),
        ],
        [
            "listing",
            "job workers' RSS: start / middle / end, until the kill",
            f"{full['rss_listing']['start']:.0f} / {full['rss_listing']['middle']:.0f} / "
            f"{full['rss_listing']['end']:.0f} MiB; "
            f"{full['rss_listing']['slope']:+.1f} MiB per 10,000 devices listed",
            "flat",
            _met(abs(full["rss_listing"]["slope"]) < 5),
        ],
        [
            "sync",
            "job workers' RSS: start / middle / end of the window",
            f"{rss['start']:.0f} / {rss['middle']:.0f} / {rss['end']:.0f} MiB",
            "flat",
            "-",
        ],
        [
            "sync",
            "RSS slope",
            f"{rss['slope']:+.1f} MiB per 10,000 devices done",
            "flat",
            _met(abs(rss["slope"]) < 5),
        ],
        [
            "sync",
            "RSS slope, second half of the window",
            f"{full['rss_late']['slope']:+.1f} MiB per 10,000 devices done",
            "flat",
            _met(abs(full["rss_late"]["slope"]) < 5),
        ],
        [
            "sync",
            "inventory records written by lookups",
            f"{full['records_rate']:.2f} records/s",
            "-",
            "-",
        ],
        [
            "sync",
            "CPU per device done (job workers)",
            f"{full['cpu_ms']:.1f} ms",
            "≤ 8 ms",
            _met(full["cpu_ms"] <= 8),
        ],
        [
            "sync",
            "devices done when stopped",
            f"{full['done']:,} of {n:,} (job {full['job_state']})",
            "-",
            "-",
        ],
        [
            "resumed",
            "devices asked twice",
            f"{full['twice']}",
            f"≤ {full['in_flight_bound']} (in flight)",
            _met(full["killed"] and full["twice"] <= full["in_flight_bound"]),
        ],
        [
            "resumed",
            "listing pages fetched again",
            f"{full['pages_again']} (killed after page {full['kill'].get('pages', '-')} "
            f"of {full['pages_needed']:,})",
            "≤ 1, the page in flight (the listing goes on)",
            _met(full["killed"] and full["pages_again"] <= 1),
        ],
        [
            "resumed",
            "kill to first call of the revived job",
            f"{full['outage']:.0f} s (lease {args.lease:.0f} s)",
            "-",
            "-",
        ],
        [
            "incremental",
            f"lookups planned, last sync {args.since_hours:g} h before",
            f"{incr['items']:,} of {incr['listed']:,} devices "
            f"({incr['calls']:,} made in {incr['listing_seconds']:.0f} s listing "
            f"+ {args.incremental_window} s)",
            "-",
            "-",
        ],
        [
            "incremental",
            "lookups ÷ devices ÷ days since the last sync",
            f"{incr['ratio_per_day']:.3f}",
            "< 0.2",
            _met(incr["ratio_per_day"] < 0.2),
        ],
        [
            "incremental",
            "QueryDevice: shallow / deep pages; most in any second",
            f"{incr['shallow_rate']:.1f} / {incr['deep_rate']:.2f} calls/s; "
            f"{incr['peak_query_device']}",
            f"≤ {action_qps['QueryDevice']} / ≤ {action_qps['QueryDevice.deep']}",
            _met(
                incr["peak_query_device"] <= action_qps["QueryDevice"]
                and not incr["deep_rate"] > action_qps["QueryDevice.deep"]
            ),
        ],
        [
            "incremental",
            "throttled answers, per quota",
            f"{throttled_incr} {dict(incr['throttled']) or ''}".strip(),
            "0",
            _met(throttled_incr == 0),
        ],
    ]
    report(
        args,
        name="sync_scale",
        title=f"The {n:,}-device product: listing, sync window, resumed sync, incremental",
        headers=["part", "measure", "current", "target", "met"],
        rows=rows,
        notes=(
            f"Load average (1, 5, 15 min) before {', '.join(f'{x:.1f}' for x in load_before)}, "
            f"after {', '.join(f'{x:.1f}' for x in load_after)}. Job workers: 2 × "
            "`task_worker --queue-name '*'` (killed and replaced once), 1 interactive."
        ),
    )


if __name__ == "__main__":
    main()
