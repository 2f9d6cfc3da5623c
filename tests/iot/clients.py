"""Making IotClients for a test: quick back-off, no rate limiter, every one closed after."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from certadmin.iot.client import IotClient


@contextmanager
def quick_clients(**server) -> Iterator[Callable[..., IotClient]]:
    """``make(**overrides)``: an IotClient on ``server`` (its endpoint and AccessKey pair), no
    rate limiter, quick back-off; each one made is closed on leaving the block."""
    clients = []

    def make(**overrides) -> IotClient:
        options = {"backoff_base": 0.01, "backoff_max": 0.05, "rate_limiter": None, **server}
        client = IotClient(**{**options, **overrides})
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            client.close()
