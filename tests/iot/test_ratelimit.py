"""Rate limiters: grants spaced by window * (1 + margin) / limit, so no window of `window`
seconds ever holds more than `limit` grants."""

import itertools
import os
import socket
import threading
import time
import uuid

import pytest

from certadmin.iot.errors import IotThrottledError, RateLimitTimeout
from certadmin.iot.ratelimit import (
    ACTION_QPS,
    QUERY_DEVICE,
    QUERY_DEVICE_CERT,
    QUERY_DEVICE_DEEP,
    FileRateLimiter,
    GcraRateLimiter,
    JobShareRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    call_quotas,
    process_rate_limiter,
)

CERT = {"quota": QUERY_DEVICE_CERT}

# Grant times are read just after acquire() returns, so a thread descheduled in between
# can make two grants look a little closer than they were.
SCHEDULING_SLACK = 0.05


def _acquire_concurrently(
    limiter: RateLimiter, key: str, *, threads: int, each: int
) -> list[float]:
    stamps: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker():
        start.wait()
        for _ in range(each):
            limiter.acquire(key, **CERT)
            now = time.monotonic()
            with lock:
                stamps.append(now)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=20)
    return sorted(stamps)


def _assert_no_window_exceeds(stamps: list[float], *, limit: int, window: float) -> None:
    for first, later in zip(stamps, stamps[limit:], strict=False):
        assert later - first >= window - SCHEDULING_SLACK, (
            f"{limit + 1} grants within {later - first:.3f}s"
        )


def test_thirty_acquires_from_six_threads_never_exceed_ten_per_second():
    limiter = GcraRateLimiter(limits={QUERY_DEVICE_CERT: 10}, window=1.0, margin=0.03)
    began = time.monotonic()
    stamps = _acquire_concurrently(limiter, "LTAIkey", threads=6, each=5)
    assert len(stamps) == 30
    _assert_no_window_exceeds(stamps, limit=10, window=1.0)
    # 30 grants spaced 0.103 s apart: the first at once, the last 29 intervals later.
    assert 2.9 <= stamps[-1] - began < 3.3


def test_grants_are_spaced_not_bunched():
    limiter = GcraRateLimiter(limits={QUERY_DEVICE_CERT: 10}, window=1.0, margin=0.0)
    stamps = _acquire_concurrently(limiter, "LTAIkey", threads=3, each=4)
    gaps = [later - first for first, later in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.1 - SCHEDULING_SLACK
    # Sustained: 10 per second exactly (no margin), not 10 per 1.1 s.
    assert (stamps[-1] - stamps[0]) / (len(stamps) - 1) < 0.1 + SCHEDULING_SLACK / 2


def test_keys_are_limited_independently():
    limiter = GcraRateLimiter(limits={QUERY_DEVICE_CERT: 1}, window=5.0, max_wait=0.0)
    for key in ("a", "b"):
        limiter.acquire(key, **CERT)
    with pytest.raises(RateLimitTimeout):
        limiter.acquire("a", **CERT)


def test_max_wait_raises_a_local_throttling_error():
    limiter = GcraRateLimiter(limits={QUERY_DEVICE_CERT: 1}, window=1.0, max_wait=0.1)
    limiter.acquire("k", **CERT)
    began = time.monotonic()
    with pytest.raises(IotThrottledError) as caught:
        limiter.acquire("k", **CERT)
    assert caught.value.code == "Throttling.Local"
    assert time.monotonic() - began < 0.5


def test_waiter_within_max_wait_is_granted():
    limiter = GcraRateLimiter(limits={QUERY_DEVICE_CERT: 1}, window=0.2, margin=0.0, max_wait=1.0)
    limiter.acquire("k", **CERT)
    began = time.monotonic()
    limiter.acquire("k", **CERT)
    assert 0.15 <= time.monotonic() - began < 0.6


def test_process_limiter_is_shared_and_holds_to_ten_per_second():
    assert isinstance(process_rate_limiter, GcraRateLimiter)
    assert process_rate_limiter.limits == ACTION_QPS
    assert process_rate_limiter.window >= 1.0
    assert process_rate_limiter.intervals[QUERY_DEVICE_CERT] >= 0.1


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="limit"):
        GcraRateLimiter(limits={QUERY_DEVICE_CERT: 0})
    with pytest.raises(ValueError, match="margin"):
        GcraRateLimiter(margin=-0.1)


@pytest.fixture
def redis_client():
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("REDIS_URL is not set")
    import redis

    client = redis.Redis.from_url(url)
    yield client
    client.close()


def test_redis_limiter_never_exceeds_ten_per_second_across_threads(redis_client):
    limiter = RedisRateLimiter(redis_client, prefix=f"test:{uuid.uuid4().hex}:")
    stamps = _acquire_concurrently(limiter, "LTAIkey", threads=5, each=5)
    assert len(stamps) == 25
    _assert_no_window_exceeds(stamps, limit=10, window=1.0)
    assert stamps[-1] - stamps[0] >= 1.0 - SCHEDULING_SLACK


def test_redis_limiter_shares_its_schedule_between_instances_and_times_out(redis_client):
    prefix = f"test:{uuid.uuid4().hex}:"
    first = RedisRateLimiter(redis_client, limits={QUERY_DEVICE_CERT: 1}, window=5.0, prefix=prefix)
    second = RedisRateLimiter(
        redis_client, limits={QUERY_DEVICE_CERT: 1}, window=5.0, max_wait=0.1, prefix=prefix
    )
    first.acquire("k", **CERT)
    second.acquire("other", **CERT)
    with pytest.raises(RateLimitTimeout):
        second.acquire("k", **CERT)


def test_redis_limiter_spaces_grants_and_a_waiter_gets_its_reserved_slot(redis_client):
    limiter = RedisRateLimiter(
        redis_client,
        limits={QUERY_DEVICE_CERT: 5},
        window=1.0,
        margin=0.0,
        max_wait=1.0,
        prefix=f"test:{uuid.uuid4().hex}:",
    )
    limiter.acquire("k", **CERT)
    began = time.monotonic()
    limiter.acquire("k", **CERT)
    limiter.acquire("k", **CERT)
    assert 0.4 - SCHEDULING_SLACK <= time.monotonic() - began < 0.4 + 0.15


class CountingLimiter:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def acquire(self, key: str, *, quota: str) -> None:
        self.keys.append(key)


@pytest.fixture
def unreachable_redis():
    import redis

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(
        host="127.0.0.1", port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    yield client
    client.close()


def test_redis_limiter_falls_back_to_the_process_limiter_when_redis_is_down(unreachable_redis):
    fallback = CountingLimiter()
    limiter = RedisRateLimiter(unreachable_redis, fallback=fallback)
    calls = []
    limiter._script = lambda **kwargs: calls.append(kwargs) or unreachable_redis.ping()
    limiter.acquire("LTAIkey", **CERT)
    limiter.acquire("LTAIkey", **CERT)
    assert fallback.keys == ["LTAIkey", "LTAIkey"]
    assert len(calls) == 1  # Redis is not asked again while it is known to be down
    assert RedisRateLimiter(unreachable_redis).fallback is process_rate_limiter


def test_redis_limiter_without_fallback_lets_the_redis_error_through(unreachable_redis):
    import redis

    with pytest.raises(redis.ConnectionError):
        RedisRateLimiter(unreachable_redis, fallback=None).acquire("LTAIkey", **CERT)


def test_jobs_take_at_most_their_share_and_people_still_get_the_rest():
    account = GcraRateLimiter(limits={QUERY_DEVICE_CERT: 10}, window=1.0)
    jobs = JobShareRateLimiter(
        batch=GcraRateLimiter(limits={QUERY_DEVICE_CERT: 8}, window=1.0), account=account
    )
    stop = threading.Event()
    job_grants: list[float] = []

    def job_worker():
        while not stop.is_set():
            jobs.acquire("LTAIkey", **CERT)
            job_grants.append(time.monotonic())

    pool = [threading.Thread(target=job_worker, daemon=True) for _ in range(4)]
    for thread in pool:
        thread.start()
    time.sleep(0.3)
    waits = []
    for _ in range(4):
        began = time.monotonic()
        account.acquire("LTAIkey", **CERT)
        waits.append(time.monotonic() - began)
        time.sleep(0.5)
    stop.set()
    for thread in pool:
        thread.join(timeout=5)
    _assert_no_window_exceeds(sorted(job_grants), limit=8, window=1.0)
    # Two of every ten grants are never taken by jobs: a person waits a slot or two at most.
    assert max(waits) < 0.3 + SCHEDULING_SLACK
    assert len(job_grants) >= 16


def test_the_job_share_and_the_account_count_under_their_own_keys():
    batch = GcraRateLimiter(limits={QUERY_DEVICE_CERT: 1}, window=10.0, max_wait=0)
    account = GcraRateLimiter(limits={QUERY_DEVICE_CERT: 2}, window=1.0, max_wait=0)
    jobs = JobShareRateLimiter(batch=batch, account=account)
    jobs.acquire("LTAIkey", **CERT)
    # The batch budget is spent for ten seconds; the account's next slot is 0.625 s away (2
    # calls/s: a low quota's margin).
    with pytest.raises(RateLimitTimeout):
        jobs.acquire("LTAIkey", **CERT)
    with pytest.raises(RateLimitTimeout):
        account.acquire("LTAIkey", **CERT)
    time.sleep(0.65)
    account.acquire("LTAIkey", **CERT)  # a person's call is not held back by the spent batch budget
    assert batch._next.keys() == {"QueryDeviceCert:batch:LTAIkey"}


# ---- one quota per action -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "quotas"),
    [
        ({"CurrentPage": "1", "PageSize": "50"}, (QUERY_DEVICE,)),
        ({"CurrentPage": "1999", "PageSize": "50"}, (QUERY_DEVICE,)),
        ({"CurrentPage": "2000", "PageSize": "50"}, (QUERY_DEVICE_DEEP, QUERY_DEVICE)),
        ({"CurrentPage": "10000", "PageSize": "10"}, (QUERY_DEVICE_DEEP, QUERY_DEVICE)),
        ({"CurrentPage": "9999"}, (QUERY_DEVICE,)),  # PageSize defaults to 10: row 99,990
        ({"CurrentPage": "x", "PageSize": "50"}, (QUERY_DEVICE,)),
    ],
)
def test_query_device_pages_at_or_past_row_100000_count_against_the_deep_page_quota(params, quotas):
    assert call_quotas(QUERY_DEVICE, params) == quotas


def test_every_other_action_counts_against_its_own_quota():
    assert call_quotas(QUERY_DEVICE_CERT, {"CurrentPage": "5000"}) == (QUERY_DEVICE_CERT,)
    assert call_quotas("BatchQueryDeviceDetail", {}) == ("BatchQueryDeviceDetail",)


def test_the_documented_quotas_per_account():
    assert ACTION_QPS == {
        "QueryDeviceCert": 10,
        "QueryDevice": 50,
        "QueryDevice.deep": 2,
        "BatchQueryDeviceDetail": 5,
        "QueryDeviceDetail": 50,
    }


def test_deep_query_device_pages_are_held_to_two_per_second():
    limiter = GcraRateLimiter(margin=0.0)
    stamps = []
    for _ in range(5):
        for quota in call_quotas(QUERY_DEVICE, {"CurrentPage": "2001", "PageSize": "50"}):
            limiter.acquire("LTAIkey", quota=quota)
        stamps.append(time.monotonic())
    # Five deep pages: four intervals of half a second, not 50 per second.
    assert 2.0 - SCHEDULING_SLACK <= stamps[-1] - stamps[0] < 2.3
    began = time.monotonic()
    limiter.acquire("LTAIkey", quota=QUERY_DEVICE)  # a shallow page: QueryDevice's 50/s only
    assert time.monotonic() - began < 0.1


def test_each_quota_has_its_own_schedule():
    limiter = GcraRateLimiter(max_wait=0.0)
    limiter.acquire("LTAIkey", quota=QUERY_DEVICE_CERT)
    # QueryDeviceCert's next slot is 0.105 s away; QueryDevice's is free.
    limiter.acquire("LTAIkey", quota=QUERY_DEVICE)
    with pytest.raises(RateLimitTimeout):
        limiter.acquire("LTAIkey", quota=QUERY_DEVICE_CERT)


def test_a_quota_without_a_known_limit_is_refused_before_any_call():
    for limiter in (
        GcraRateLimiter(),
        JobShareRateLimiter(batch=GcraRateLimiter(), account=GcraRateLimiter()),
    ):
        with pytest.raises(ValueError, match="DisableThing"):
            limiter.acquire("LTAIkey", quota="DisableThing")


# ---- one schedule for every process of a host (no Redis) ------------------------------------

_FILE_WORKER = """
import sys, time
from certadmin.iot.ratelimit import FileRateLimiter
limiter = FileRateLimiter(sys.argv[1], limits={"QueryDeviceCert": 10}, fallback=None)
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
for _ in range(int(sys.argv[3])):
    limiter.acquire("LTAIkey", quota="QueryDeviceCert")
    print(time.monotonic(), flush=True)
"""


def test_processes_sharing_a_file_schedule_never_exceed_ten_per_second_together(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    start_at = str(time.time() + 1.5)  # every process has imported by then
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _FILE_WORKER, str(tmp_path), start_at, "8"],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    stamps = sorted(
        float(line) for process in processes for line in process.communicate(timeout=30)[0].split()
    )
    assert len(stamps) == 24
    _assert_no_window_exceeds(stamps, limit=10, window=1.0)
    # Shared, not three schedules of ten: 24 grants span 23 intervals of 0.105 s.
    assert stamps[-1] - stamps[0] >= 23 * 0.1 - SCHEDULING_SLACK


def test_a_file_schedule_is_shared_between_instances_and_times_out(tmp_path):
    first = FileRateLimiter(tmp_path, limits={QUERY_DEVICE_CERT: 1}, window=5.0)
    second = FileRateLimiter(tmp_path, limits={QUERY_DEVICE_CERT: 1}, window=5.0, max_wait=0.1)
    first.acquire("k", **CERT)
    second.acquire("other", **CERT)
    with pytest.raises(RateLimitTimeout):
        second.acquire("k", **CERT)
    names = sorted(path.name for path in tmp_path.iterdir())
    # One small file per key and quota, named by a digest of the key (never the key itself).
    assert len(names) == 2
    assert all(name.startswith("QueryDeviceCert-") for name in names)
    assert not any("other" in name for name in names)


def test_a_schedule_from_another_boot_or_far_ahead_is_ignored(tmp_path):
    limiter = FileRateLimiter(tmp_path, limits={QUERY_DEVICE_CERT: 1}, window=5.0, max_wait=0.1)
    path = limiter._path("k", QUERY_DEVICE_CERT)
    for stale in (f"another-boot {time.monotonic() + 4:.6f}", f"x {time.monotonic() + 1e7:.6f}"):
        path.write_text(stale)
        limiter.acquire("k", **CERT)  # at once: nothing from this boot's clock waits ahead


def test_an_unusable_directory_falls_back_to_the_process_limiter(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    fallback = CountingLimiter()
    limiter = FileRateLimiter(blocker / "ratelimit", fallback=fallback)
    limiter.acquire("LTAIkey", **CERT)
    limiter.acquire("LTAIkey", **CERT)
    assert fallback.keys == ["LTAIkey", "LTAIkey"]
