"""Wiring of the pure IoT client and the CA bundle to Django settings."""

import functools
from pathlib import Path

from cryptography import x509
from django.conf import settings
from django.utils.translation import gettext as _

from certadmin.certs.loading import load_ca_bundle
from certadmin.iot.client import IotClient
from certadmin.iot.errors import IotError, IotResponseError, IotTransportError
from certadmin.iot.ratelimit import RateLimiter, RedisRateLimiter, process_rate_limiter


@functools.cache
def _client(
    endpoint: str,
    key_id: str,
    secret: str,
    token: str | None,
    region: str,
    redis_url: str,
    deadline: float | None = None,
) -> IotClient:
    limiter: RateLimiter = process_rate_limiter
    if redis_url:
        import redis

        # Several gunicorn workers share one account quota: count calls in Redis.
        limiter = RedisRateLimiter(redis.Redis.from_url(redis_url), max_wait=5.0)
    return IotClient(
        endpoint=endpoint,
        access_key_id=key_id,
        access_key_secret=secret,
        security_token=token,
        region_id=region,
        rate_limiter=limiter,
        # A person waits for a page: one budget for all attempts, and a read timeout (the call
        # may have run and spent quota) is not repeated. Without a deadline, retry as before.
        deadline=deadline,
        retry_read_timeouts=deadline is None,
    )


def iot_client() -> IotClient:
    """The process's IoT client for pages: calls end within ``IOT_DEADLINE_SECONDS``."""
    return _client(
        settings.IOT_ENDPOINT,
        settings.IOT_ACCESS_KEY_ID,
        settings.IOT_ACCESS_KEY_SECRET,
        settings.IOT_SECURITY_TOKEN,
        settings.IOT_REGION,
        settings.REDIS_URL,
        settings.IOT_DEADLINE_SECONDS,
    )


@functools.cache
def _ca_bundle(path: str, mtime_ns: int) -> tuple[x509.Certificate, ...]:
    return tuple(load_ca_bundle(Path(path).read_text(encoding="utf-8")))


def ca_certificates() -> tuple[x509.Certificate, ...]:
    """The configured CA certificates (re-read when the file changes); empty when none."""
    path = settings.IOT_CA_BUNDLE
    if not path:
        return ()
    try:
        mtime = Path(path).stat().st_mtime_ns
    except OSError:
        return ()
    return _ca_bundle(path, mtime)


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
