"""The request id that joins a request's log lines (django-log-request-id), and binding one
for work that is not a request: a job run logs as ``job-<id>``."""

import contextlib
from collections.abc import Iterator

from log_request_id import local


@contextlib.contextmanager
def request_id_bound(request_id: str) -> Iterator[None]:
    """Log lines written inside carry ``request_id`` (a job run's ``job-<id>``, say)."""
    previous = getattr(local, "request_id", None)
    local.request_id = request_id
    try:
        yield
    finally:
        if previous is None:
            with contextlib.suppress(AttributeError):
                del local.request_id
        else:
            local.request_id = previous
