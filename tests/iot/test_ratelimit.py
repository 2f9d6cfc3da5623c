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
    GcraRateLimiter,
    JobShareRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    process_rate_limiter,
)

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
            limiter.acquire(key)
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
    limiter = GcraRateLimiter(limit=10, window=1.0, margin=0.03)
    began = time.monotonic()
    stamps = _acquire_concurrently(limiter, "LTAIkey", threads=6, each=5)
    assert len(stamps) == 30
    _assert_no_window_exceeds(stamps, limit=10, window=1.0)
    # 30 grants spaced 0.103 s apart: the first at once, the last 29 intervals later.
    assert 2.9 <= stamps[-1] - began < 3.3


def test_grants_are_spaced_not_bunched():
    limiter = GcraRateLimiter(limit=10, window=1.0, margin=0.0)
    stamps = _acquire_concurrently(limiter, "LTAIkey", threads=3, each=4)
    gaps = [later - first for first, later in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.1 - SCHEDULING_SLACK
    # Sustained: 10 per second exactly (no margin), not 10 per 1.1 s.
    assert (stamps[-1] - stamps[0]) / (len(stamps) - 1) < 0.1 + SCHEDULING_SLACK / 2


def test_keys_are_limited_independently():
    limiter = GcraRateLimiter(limit=1, window=5.0, max_wait=0.0)
    for key in ("a", "b"):
        limiter.acquire(key)
    with pytest.raises(RateLimitTimeout):
        limiter.acquire("a")


def test_max_wait_raises_a_local_throttling_error():
    limiter = GcraRateLimiter(limit=1, window=1.0, max_wait=0.1)
    limiter.acquire("k")
    began = time.monotonic()
    with pytest.raises(IotThrottledError) as caught:
        limiter.acquire("k")
    assert caught.value.code == "Throttling.Local"
    assert time.monotonic() - began < 0.5


def test_waiter_within_max_wait_is_granted():
    limiter = GcraRateLimiter(limit=1, window=0.2, margin=0.0, max_wait=1.0)
    limiter.acquire("k")
    began = time.monotonic()
    limiter.acquire("k")
    assert 0.15 <= time.monotonic() - began < 0.6


def test_process_limiter_is_shared_and_holds_to_ten_per_second():
    assert isinstance(process_rate_limiter, GcraRateLimiter)
    assert process_rate_limiter.limit == 10
    assert process_rate_limiter.window >= 1.0
    assert process_rate_limiter.interval >= 0.1


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="limit"):
        GcraRateLimiter(limit=0)
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
    first = RedisRateLimiter(redis_client, limit=1, window=5.0, prefix=prefix)
    second = RedisRateLimiter(redis_client, limit=1, window=5.0, max_wait=0.1, prefix=prefix)
    first.acquire("k")
    second.acquire("other")
    with pytest.raises(RateLimitTimeout):
        second.acquire("k")


def test_redis_limiter_spaces_grants_and_a_waiter_gets_its_reserved_slot(redis_client):
    limiter = RedisRateLimiter(
        redis_client,
        limit=5,
        window=1.0,
        margin=0.0,
        max_wait=1.0,
        prefix=f"test:{uuid.uuid4().hex}:",
    )
    limiter.acquire("k")
    began = time.monotonic()
    limiter.acquire("k")
    limiter.acquire("k")
    assert 0.4 - SCHEDULING_SLACK <= time.monotonic() - began < 0.4 + 0.15


class CountingLimiter:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def acquire(self, key: str) -> None:
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
    limiter.acquire("LTAIkey")
    limiter.acquire("LTAIkey")
    assert fallback.keys == ["LTAIkey", "LTAIkey"]
    assert len(calls) == 1  # Redis is not asked again while it is known to be down
    assert RedisRateLimiter(unreachable_redis).fallback is process_rate_limiter


def test_redis_limiter_without_fallback_lets_the_redis_error_through(unreachable_redis):
    import redis

    with pytest.raises(redis.ConnectionError):
        RedisRateLimiter(unreachable_redis, fallback=None).acquire("LTAIkey")


def test_jobs_take_at_most_their_share_and_people_still_get_the_rest():
    account = GcraRateLimiter(limit=10, window=1.0)
    jobs = JobShareRateLimiter(batch=GcraRateLimiter(limit=8, window=1.0), account=account)
    stop = threading.Event()
    job_grants: list[float] = []

    def job_worker():
        while not stop.is_set():
            jobs.acquire("LTAIkey")
            job_grants.append(time.monotonic())

    pool = [threading.Thread(target=job_worker, daemon=True) for _ in range(4)]
    for thread in pool:
        thread.start()
    time.sleep(0.3)
    waits = []
    for _ in range(4):
        began = time.monotonic()
        account.acquire("LTAIkey")
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
    batch = GcraRateLimiter(limit=1, window=10.0, max_wait=0)
    account = GcraRateLimiter(limit=2, window=1.0, max_wait=0)
    jobs = JobShareRateLimiter(batch=batch, account=account)
    jobs.acquire("LTAIkey")
    # The batch budget is spent for ten seconds; the account's next slot is half a second away.
    with pytest.raises(RateLimitTimeout):
        jobs.acquire("LTAIkey")
    with pytest.raises(RateLimitTimeout):
        account.acquire("LTAIkey")
    time.sleep(0.55)
    account.acquire("LTAIkey")  # a person's call is not held back by the spent batch budget
    assert batch._next.keys() == {"batch:LTAIkey"}
