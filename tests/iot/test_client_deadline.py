"""A call's deadline: one time budget for every attempt of a call, and a read
timeout that is not repeated when the caller says so (a page); a job keeps its retries."""

import socket
import time

import pytest

from certadmin.iot.client import IotClient
from certadmin.iot.errors import IotTransportError
from certadmin.iot.results import CertStatus
from tests.iot.test_client import ok_cert, query
from tests.support.canned_api import Canned


def timed_failure(client: IotClient) -> tuple[IotTransportError, float]:
    started = time.monotonic()
    with pytest.raises(IotTransportError) as caught:
        query(client)
    return caught.value, time.monotonic() - started


def test_a_read_timeout_is_not_retried_when_the_caller_says_so(canned_api, make_client):
    canned_api.push(*[Canned(delay=1.0, body={})] * 4)
    client = make_client(read_timeout=0.3, deadline=5.0, retry_read_timeouts=False)

    error, elapsed = timed_failure(client)

    assert error.code == "Transport.Timeout"
    assert len(canned_api.requests) == 1
    assert elapsed < 0.9


def test_the_deadline_cuts_every_attempt_and_the_retries_share_it(canned_api, make_client):
    # Read timeouts retried (a job's choice), but inside one budget shorter than one timeout.
    canned_api.push(*[Canned(delay=2.0, body={})] * 4)
    client = make_client(read_timeout=10.0, deadline=0.6)

    error, elapsed = timed_failure(client)

    assert error.code == "Transport.Timeout"
    assert elapsed < 0.6 + 0.4
    assert len(canned_api.requests) == 1


def test_an_unreachable_endpoint_is_retried_within_the_deadline(make_client):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(
        endpoint=f"http://127.0.0.1:{port}",
        deadline=2.0,
        retry_read_timeouts=False,
        max_attempts=3,
        backoff_base=0.05,
    )

    error, elapsed = timed_failure(client)

    assert error.code == "Transport.Unreachable"
    assert error.retryable
    assert elapsed < 2.0


def test_without_a_deadline_a_job_keeps_retrying_read_timeouts(canned_api, make_client):
    canned_api.push(Canned(delay=0.6, body={}), ok_cert())
    client = make_client(read_timeout=0.2, deadline=None, retry_read_timeouts=True)

    assert query(client).status is CertStatus.READY
    assert len(canned_api.requests) == 2


def test_a_deadline_must_be_positive():
    with pytest.raises(ValueError, match="deadline"):
        IotClient(
            endpoint="http://127.0.0.1:1", access_key_id="a", access_key_secret="b", deadline=0
        )
