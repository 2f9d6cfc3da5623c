"""Errors raised by the IoT API client.

Every failure is an ``IotError`` carrying the platform's ``code``, a human ``message``, the
``request_id`` to quote to Alibaba Cloud support, the HTTP status when there was one, and whether
the same call may be retried. Subclasses say where the failure came from:

- ``IotGatewayError``: the API gateway refused the call (non-2xx JSON body: signature, AccessKey,
  permission, parameter, throttling, service errors).
- ``IotThrottledError``: a ``Throttling*`` gateway error, or the local rate limiter gave up waiting.
- ``IotBusinessError``: HTTP 200 with ``Success: false`` (device or product not found, ...).
- ``IotTransportError``: no usable HTTP exchange (unreachable, timeout, dropped connection).
- ``IotResponseError``: an HTTP answer the client cannot use (not JSON, wrong shape, too large).

Messages never carry the AccessKey secret, a signature, an STS token or key material: the client
builds them from fixed text and from scrubbed server messages only.
"""

NOT_FOUND_CODES = frozenset({"iot.device.NotExistedDevice", "iot.prod.NotExistedProduct"})
INSTANCE_ERROR_CODES = frozenset({"iot.system.InstanceNotFound"})
CREDENTIAL_ERROR_PREFIXES = (
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidAccessKeyId",
    "InvalidSecurityToken",
    "Forbidden",
    "iot.common.RamActionPermissionDeny",
)
THROTTLING_PREFIX = "Throttling"


class IotError(Exception):
    """Base class of every IoT client error.

    ``code`` is the platform's error code (or a ``Transport.*``/``Response.*`` code of the
    client's own), ``message`` its text, ``request_id`` the platform's RequestId ("" when the
    platform never answered), ``http_status`` the HTTP status (None without an answer) and
    ``retryable`` whether repeating the same call may succeed.
    """

    default_retryable = False

    def __init__(
        self,
        code: str,
        message: str,
        *,
        request_id: str = "",
        http_status: int | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.http_status = http_status
        self.retryable = self.default_retryable if retryable is None else retryable

    def __str__(self) -> str:
        text = f"{self.code}: {self.message}"
        if self.request_id:
            text += f" (RequestId: {self.request_id})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"request_id={self.request_id!r}, http_status={self.http_status!r}, "
            f"retryable={self.retryable!r})"
        )

    def __reduce__(self):
        # Rebuild from the attributes: subclasses' __init__ signatures differ.
        return (_rebuild_error, (type(self), self.code, self.message, dict(self.__dict__)))

    @property
    def is_not_found(self) -> bool:
        """The device or the product does not exist (on this instance)."""
        return self.code in NOT_FOUND_CODES

    @property
    def is_instance_error(self) -> bool:
        """The IotInstanceId is wrong or missing (enterprise instances need it)."""
        return self.code in INSTANCE_ERROR_CODES

    @property
    def is_throttled(self) -> bool:
        """The account's API quota (or the local rate limiter) refused the call."""
        return self.code.startswith(THROTTLING_PREFIX)

    @property
    def is_credentials_error(self) -> bool:
        """The AccessKey pair, STS token or RAM permissions are wrong: an operator must act."""
        return self.code.startswith(CREDENTIAL_ERROR_PREFIXES)


def _rebuild_error(cls: type[IotError], code: str, message: str, state: dict) -> IotError:
    error = cls.__new__(cls)
    Exception.__init__(error, code, message)
    error.__dict__.update(state)
    return error


class IotGatewayError(IotError):
    """The API gateway answered non-2xx with ``{RequestId, HostId, Code, Message, Recommend}``."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        request_id: str = "",
        http_status: int | None = None,
        retryable: bool | None = None,
        host_id: str = "",
        recommend: str = "",
    ) -> None:
        super().__init__(
            code, message, request_id=request_id, http_status=http_status, retryable=retryable
        )
        self.host_id = host_id
        self.recommend = recommend


class IotThrottledError(IotGatewayError):
    """A ``Throttling*`` error: the call may succeed later."""

    default_retryable = True


class RateLimitTimeout(IotThrottledError):
    """The local rate limiter could not grant a call within its ``max_wait``."""

    def __init__(self, message: str = "local rate limit: no call slot within max_wait") -> None:
        super().__init__("Throttling.Local", message)


class IotBusinessError(IotError):
    """HTTP 200 with ``Success: false``: the platform understood the call and said no."""


class IotTransportError(IotError):
    """No usable HTTP exchange: connection refused or dropped, DNS failure, timeout."""

    default_retryable = True


class IotResponseError(IotError):
    """An answer the client cannot use: not JSON, an unexpected shape, or too large."""
