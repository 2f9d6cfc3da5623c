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
    ACTION_QPS,
    JOB_QPS,
    QUERY_DEVICE_CERT,
    QUERY_DEVICE_CERT_QPS,
    FileRateLimiter,
    GcraRateLimiter,
    JobShareRateLimiter,
    RateLimiter,
    RedisRateLimiter,
)

logger = logging.getLogger(__name__)


@functools.cache
def _limiters(
    redis_url: str, rate_limit_dir: str, job_qps: int, qps: int = QUERY_DEVICE_CERT_QPS
) -> dict[str, RateLimiter]:
    # One set per account quota (``qps``/``job_qps`` are QueryDeviceCert's; every other action
    # has the platform's quota and the jobs' share in ``ACTION_QPS``/``JOB_QPS``). The limiters
    # key their schedules by the AccessKeyId the client passes and the quota: accounts with
    # different AccessKeys never share a schedule, and two names for one AccessKey (two
    # instances of one Alibaba Cloud account) share the quotas the platform itself counts per
    # account.
    account_limits = {**ACTION_QPS, QUERY_DEVICE_CERT: qps}
    job_limits = {**JOB_QPS, QUERY_DEVICE_CERT: job_qps}

    def on_host(limits: dict[str, int], **options) -> RateLimiter:
        # The processes of this host share the schedule through files; a process falls back
        # to its own memory only while the directory cannot be used.
        return FileRateLimiter(
            rate_limit_dir,
            limits=limits,
            fallback=GcraRateLimiter(limits=limits, **options),
            **options,
        )

    if not redis_url:
        return {
            "interactive": on_host(account_limits, max_wait=10.0),
            # The jobs' share needs no spacing margin: the account limiter behind it keeps
            # the platform's window. A job may wait longer for its turn than a person.
            "job": JobShareRateLimiter(
                batch=on_host(job_limits, margin=0),
                account=on_host(account_limits, max_wait=30.0),
            ),
        }
    import redis

    # Several gunicorn workers and job workers on several hosts share one account's quotas:
    # count calls in Redis (on this host's files while Redis cannot be reached).
    connection = redis.Redis.from_url(redis_url)
    return {
        "interactive": RedisRateLimiter(
            connection,
            limits=account_limits,
            max_wait=5.0,
            fallback=on_host(account_limits, max_wait=5.0),
        ),
        "job": JobShareRateLimiter(
            batch=RedisRateLimiter(
                connection, limits=job_limits, margin=0, fallback=on_host(job_limits, margin=0)
            ),
            # The same keys as the interactive limiter: one account budget.
            account=RedisRateLimiter(
                connection,
                limits=account_limits,
                max_wait=30.0,
                fallback=on_host(account_limits, max_wait=30.0),
            ),
        ),
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
def _client(
    purpose: str, account: IotAccount, redis_url: str, rate_limit_dir: str, deadline: float | None
) -> IotClient:
    # A person waits for a page: one budget for all attempts, and a read timeout (the call may
    # have run and spent quota) is not repeated. A job has no deadline and retries as before.
    return IotClient(
        endpoint=account.endpoint,
        access_key_id=account.access_key_id,
        access_key_secret=account.access_key_secret,
        security_token=account.security_token,
        region_id=account.region,
        rate_limiter=_limiters(redis_url, rate_limit_dir, account.job_qps, account.qps)[purpose],
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
    is the client every background job uses: no deadline, and each call takes a grant from the
    jobs' budget (its action's share, ``JOB_QPS``; QueryDeviceCert's is the account's
    ``job_qps``) and then from the account budget that interactive calls share, so jobs never
    take a whole quota.
    """
    return _client(
        purpose,
        iot_account(account),
        settings.REDIS_URL,
        str(settings.IOT_RATE_LIMIT_DIR),
        settings.IOT_DEADLINE_SECONDS if purpose == "interactive" else None,
    )


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
