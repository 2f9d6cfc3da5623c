"""Wiring of the pure IoT client and the CA bundle to Django settings."""

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from django.conf import settings
from django.utils.translation import gettext as _

from certadmin.accounts.api_accounts import iot_account
from certadmin.certs.chain_check import ca_bundle_file_read
from certadmin.devices.live_lookups import LiveLookupsBusy
from certadmin.iot.accounts import IotAccount
from certadmin.iot.client import CallRecord, IotClient
from certadmin.iot.errors import IotError, IotResponseError, IotTransportError
from certadmin.iot.ratelimit import (
    QUERY_DEVICE_CERT_QPS,
    GcraRateLimiter,
    JobShareRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    process_rate_limiter,
)

logger = logging.getLogger(__name__)

# QueryDevice's quota is 50 QPS per account; a sync's paging keeps to half of it, leaving the
# rest to the dashboard's device lists.
LISTING_QPS = 25
# BatchQueryDeviceDetail's quota is 5 QPS per account, and only syncs call it.
DETAIL_QPS = 5


@functools.cache
def _limiters(
    redis_url: str, job_qps: int, qps: int = QUERY_DEVICE_CERT_QPS
) -> dict[str, RateLimiter]:
    # One set per account quota (``qps``/``job_qps``). The limiters key their schedules by the
    # AccessKeyId the client passes: accounts with different AccessKeys never share a schedule,
    # and two names for one AccessKey (two instances of one Alibaba Cloud account) share the
    # quota the platform itself counts per account.
    if not redis_url:
        account = (
            process_rate_limiter
            if qps == QUERY_DEVICE_CERT_QPS
            else GcraRateLimiter(limit=qps, max_wait=10.0)
        )
        return {
            "interactive": account,
            # The jobs' share needs no spacing margin: the account limiter behind it keeps
            # the platform's window.
            "job": JobShareRateLimiter(
                batch=GcraRateLimiter(limit=job_qps, margin=0), account=account
            ),
            "listing": GcraRateLimiter(limit=LISTING_QPS),
            "detail": GcraRateLimiter(limit=DETAIL_QPS),
        }
    import redis

    # Several gunicorn workers and job workers share one account quota: count calls in Redis.
    connection = redis.Redis.from_url(redis_url)
    return {
        "interactive": RedisRateLimiter(connection, limit=qps, max_wait=5.0),
        "job": JobShareRateLimiter(
            batch=RedisRateLimiter(connection, limit=job_qps, margin=0),
            # The same keys as the interactive limiter: one account budget. A job may wait
            # longer for its turn than a person.
            account=RedisRateLimiter(connection, limit=qps, max_wait=30.0),
        ),
        "listing": RedisRateLimiter(connection, limit=LISTING_QPS, prefix="certadmin:iot:listing:"),
        "detail": RedisRateLimiter(connection, limit=DETAIL_QPS, prefix="certadmin:iot:detail:"),
    }


# What is done with each call a client reports: the operations app (above this one) counts and
# logs it, and installs that observer at startup (certadmin/ops/apps.py).
_call_observer: Callable[..., None] | None = None


def platform_call_observer_use(observer: Callable[..., None] | None) -> None:
    """Report every platform call to ``observer(record, account=<account name>)`` from now on
    (None: to nobody), clients already made included."""
    global _call_observer
    _call_observer = observer


def _call_report(record: CallRecord, *, account: str) -> None:
    if _call_observer is not None:
        _call_observer(record, account=account)


@functools.cache
def _client(purpose: str, account: IotAccount, redis_url: str, deadline: float | None) -> IotClient:
    # A person waits for a page: one budget for all attempts, and a read timeout (the call may
    # have run and spent quota) is not repeated. A job has no deadline and retries as before.
    return IotClient(
        endpoint=account.endpoint,
        access_key_id=account.access_key_id,
        access_key_secret=account.access_key_secret,
        security_token=account.security_token,
        region_id=account.region,
        rate_limiter=_limiters(redis_url, account.job_qps, account.qps)[purpose],
        deadline=deadline,
        retry_read_timeouts=deadline is None,
        # Metrics and a log line per call (certadmin/ops), outside the pure client.
        on_call=functools.partial(_call_report, account=account.name),
    )


def iot_client(
    *, account: str = "", purpose: Literal["interactive", "job"] = "interactive"
) -> IotClient:
    """The process's IoT client for API account ``account`` (default: the default account),
    kept alive.

    Interactive calls (pages, the CLI) end within ``IOT_DEADLINE_SECONDS``. ``purpose="job"``
    is the client every background job uses: no deadline, and each QueryDeviceCert takes a
    grant from the jobs' batch budget (the account's ``job_qps``) and then from the account
    budget that interactive calls share, so jobs never take the whole quota.
    """
    return _client(
        purpose,
        iot_account(account),
        settings.REDIS_URL,
        settings.IOT_DEADLINE_SECONDS if purpose == "interactive" else None,
    )


def listing_rate_limiter(*, account: str = "") -> RateLimiter:
    """The limiter a sync's QueryDevice paging acquires per page (key: the AccessKeyId)."""
    configured = iot_account(account)
    return _limiters(settings.REDIS_URL, configured.job_qps, configured.qps)["listing"]


def detail_rate_limiter(*, account: str = "") -> RateLimiter:
    """The limiter a sync's BatchQueryDeviceDetail calls acquire per call (key: the
    AccessKeyId)."""
    configured = iot_account(account)
    return _limiters(settings.REDIS_URL, configured.job_qps, configured.qps)["detail"]


@dataclass(frozen=True)
class CaBundle:
    """The configured CA bundle as read: its certificates, or why it could not be read."""

    certificates: tuple[x509.Certificate, ...] = ()
    problem: str = ""
    path: str = ""


@functools.cache
def _ca_bundle(path: str, signature: tuple[int, ...]) -> CaBundle:
    certificates, problem = ca_bundle_file_read(path)
    if problem:
        logger.warning("CA bundle %s unusable: %s", path, problem)
    return CaBundle(certificates, problem, path)


def ca_bundle() -> CaBundle:
    """The configured CA bundle (re-read when the file changes, its permissions included),
    never raising: a bundle that cannot serve (missing, a directory, unreadable, empty, no
    certificate in it, corrupt) has no certificates and says why; no setting is an empty
    bundle with no problem."""
    path = settings.IOT_CA_BUNDLE
    if not path:
        return CaBundle()
    try:
        found = Path(path).stat()
        signature: tuple[int, ...] = (
            found.st_mtime_ns,
            found.st_ctime_ns,
            found.st_size,
            found.st_ino,
        )
    except OSError:
        signature = ()
    return _ca_bundle(path, signature)


def ca_certificates() -> tuple[x509.Certificate, ...]:
    """The configured CA certificates; empty when none or when the bundle is unreadable
    (``ca_bundle().problem`` says why)."""
    return ca_bundle().certificates


def describe_iot_error(error: IotError, *, product_key: str = "", device_name: str = "") -> str:
    """A sentence for the user saying what went wrong and what to do next."""
    code = error.code
    if code == "iot.device.NotExistedDevice":
        return _("There is no device %(device)s in product %(product)s.") % {
            "device": device_name,
            "product": product_key,
        }
    if code == "iot.prod.NotExistedProduct":
        return _("There is no product %(product)s in this account.") % {"product": product_key}
    if error.is_instance_error:
        return _(
            "The instance was not found. Products on an enterprise instance need their "
            "IotInstanceId: check it and try again."
        )
    if isinstance(error, LiveLookupsBusy):
        return _(
            "You already have %(count)d lookups waiting for the IoT Platform. Wait for them "
            "to finish, then try again (in about %(seconds)d seconds)."
        ) % {"count": error.limit, "seconds": error.retry_after}
    if error.is_throttled:
        return _(
            "The IoT Platform is busy (10 queries per second per account): try again in a moment."
        )
    if error.code == "Transport.Timeout":
        return _(
            "The IoT Platform did not answer in time. Try again in a moment; if it persists, "
            "the platform may be slow or unreachable."
        )
    if isinstance(error, IotTransportError):
        return _(
            "The IoT Platform endpoint could not be reached. Try again; if it persists, "
            "check the network and the endpoint setting."
        )
    if isinstance(error, IotResponseError):
        return _("The IoT Platform sent an answer that could not be read. Try again in a moment.")
    if error.is_credentials_error:
        return _(
            "The IoT Platform refused certadmin's credentials or permissions. "
            "Ask an administrator to check the AccessKey and its RAM policy."
        )
    if code.startswith(
        (
            "iot.device.Invalid",
            "iot.prod.Invalid",
            "iot.device.Null",
            "iot.prod.Null",
            "InvalidParameter",
            "MissingParameter",
        )
    ):
        return _("The IoT Platform rejected the device reference as malformed.")
    return _("The IoT Platform could not answer this request.")


def iot_error_status(error: IotError) -> int:
    """The HTTP status a page answers with for a platform failure.

    An unknown device or instance is the user's 404, throttling a 429, anything else a 502.
    """
    if error.is_not_found or error.is_instance_error:
        return 404
    if error.is_throttled:
        return 429
    return 502
