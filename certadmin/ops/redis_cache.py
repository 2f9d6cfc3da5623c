"""The cache on Redis: Django's ``RedisCache``, with one Redis client per connection pool.

Django's cache client builds a new ``redis.Redis`` for every operation (``get_client``), and
each one fills its table of about 170 response callbacks: a quarter of a millisecond each time,
three times on a logged-in page view (session, page parts, custody counts). A ``redis.Redis``
on a connection pool is safe to share between threads (each command takes a connection from
the pool), so each pool gets one, made on first use.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _ClientPerPool(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            # Two threads may both make one at first; either serves (pools are never dropped).
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    """``CACHES``' backend with REDIS_URL (``certadmin.ops.redis_cache.RedisCache``)."""

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = _ClientPerPool
