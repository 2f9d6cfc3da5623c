"""The cache on Redis (``ops.redis_cache``): Django's ``RedisCache`` with one client per
connection pool, not a new ``redis.Redis`` (and its table of response callbacks) for every
operation. Needs REDIS_URL, as ``make test`` gives it."""

import threading

import pytest
import redis
from django.conf import settings
from django.core.cache import caches

from certadmin.ops.redis_cache import RedisCache

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (make test)")


@pytest.fixture
def clients_made(monkeypatch) -> list[redis.Redis]:
    """Every ``redis.Redis`` made while the test runs."""
    made = []
    init = redis.Redis.__init__

    def counted(self, *args, **kwargs):
        made.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counted)
    return made


def test_the_settings_use_it():
    assert isinstance(caches["default"], RedisCache)


def test_every_operation_of_every_thread_uses_the_one_client(clients_made):
    own = RedisCache(settings.REDIS_URL, {"KEY_PREFIX": "redis-cache-test"})
    own.set("a", {"value": 1}, 30)
    own.set_many({"b": 2, "c": 3}, 30)
    assert own.get("a") == {"value": 1}
    assert own.get_many(["a", "b", "c", "missing"]) == {"a": {"value": 1}, "b": 2, "c": 3}
    assert own.incr("b") == 3
    assert own.get_or_set("d", lambda: "made", 30) == "made"
    results = []

    def reader():
        results.append([own.get("c") for _ in range(50)])

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    own.delete_many(["a", "b", "c", "d"])
    assert own.get("a") is None
    assert results == [[3] * 50] * 4
    assert len(clients_made) == 1  # Django's own client made one per operation: 210 here


def test_a_logged_in_page_view_makes_no_client(viewer_client, clients_made):
    assert viewer_client.get("/jobs/").status_code == 200
    clients_made.clear()
    assert viewer_client.get("/jobs/").status_code == 200
    assert clients_made == []
