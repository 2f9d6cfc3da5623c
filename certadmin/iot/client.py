"""HTTP client for Alibaba Cloud IoT Platform's ``QueryDeviceCert``, ``QueryDevice``,
``BatchQueryDeviceDetail`` and ``QueryDeviceDetail``.

Each attempt is signed afresh (new nonce and timestamp) with V3 (ACS3-HMAC-SHA256, the default)
or V1 (HMAC-SHA1), sent as ``POST /`` with the parameters in the query string and an empty body,
and read as a stream capped at ``max_response_bytes``.

Retries: only failures that a repeat can cure are retried, with exponential backoff and full
jitter (``uniform(0, min(backoff_max, backoff_base * 2**n))``), up to ``max_attempts`` attempts:
``Throttling*`` codes, HTTP 5xx, ``ServiceUnavailable``, and transport failures (refused or
dropped connections, timeouts). Signature, AccessKey, permission, parameter and every business
error (HTTP 200 with ``Success: false``) are raised at once, as are malformed responses.

Deadlines: the caller chooses how long one call may take. With ``deadline`` (seconds) every
attempt, backoff wait and body read of a call shares that budget: each attempt's connect and
read timeouts are cut to the time left, no retry starts that could not finish in time, and a
body still arriving at the deadline is abandoned. With ``retry_read_timeouts=False`` a read
timeout (``Transport.Timeout``: the request was sent, so it may have run and spent quota) is
raised at once; a connection that could not be made (``Transport.Unreachable``) is still retried
within the deadline. A page uses both; a background job may keep ``deadline=None`` and retries.

Rate limiting: before every attempt the client calls
``rate_limiter.acquire(access_key_id, quota=...)`` for each quota the call counts against
(``ratelimit.call_quotas``: its action's, and for a ``QueryDevice`` page at or past row 100,000
the deep-page quota too). Quotas are per account, shared by its RAM users, one per action.

Listing: ``QueryDevice`` answers carry a ``NextToken`` (``DeviceListPage.next_token``, "" on the
last page). The platform returns no data for a page past ``LISTING_WINDOW_ROWS`` rows unless the
previous answer's token is sent, so ``query_device`` refuses to ask for such a page without one.

Observing: ``on_call`` (optional) is called once per call, after its last attempt, with a
``CallRecord`` (action, device, outcome code, RequestId, duration, attempts, throttled answers):
how the Django side counts metrics and writes log lines without this module knowing Django. An
observer that raises is logged and ignored; the call's result stands.

Nothing secret is logged or put into an exception: not the AccessKey secret, the STS token, a
signature, or any response body.
"""

import functools
import json
import logging
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.hooks import dispatch_hook
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity
from urllib3.exceptions import ReadTimeoutError

from certadmin.certs.key_material import KeyMaterialMatcher, key_material_matcher
from certadmin.iot import signing
from certadmin.iot.errors import (
    IotBusinessError,
    IotError,
    IotGatewayError,
    IotResponseError,
    IotThrottledError,
    IotTransportError,
)
from certadmin.iot.platform_text import platform_identifier, platform_message, platform_token
from certadmin.iot.ratelimit import RateLimiter, call_quotas, process_rate_limiter
from certadmin.iot.results import (
    DeviceCert,
    DeviceDetail,
    DeviceDetails,
    DeviceListPage,
    parse_device_cert,
    parse_device_detail,
    parse_device_details,
    parse_device_list_page,
)

logger = logging.getLogger(__name__)

API_VERSION = "2018-01-20"
SIGNATURE_VERSIONS = ("v3", "v1")
MAX_PAGE_SIZE = 50
# QueryDevice: rows (PageSize x CurrentPage) reachable without a NextToken, and with one.
LISTING_WINDOW_ROWS = 10_000
LISTING_MAX_ROWS = 1_000_000
MAX_DETAIL_NAMES = 100
_RETRYABLE_GATEWAY_CODES = frozenset({"ServiceUnavailable", "InternalError", "ServiceTimeout"})
_READ_TIMEOUT_CODE = "Transport.Timeout"
_MAX_MESSAGE_CHARS = 2000
_REDACTED = "[redacted]"
_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL
)


@dataclass(frozen=True)
class CallRecord:
    """One API call as an observer sees it (no parameters beyond the device, no bodies).

    ``outcome`` is ``"Success"`` or the last error's Code; ``attempts`` counts the attempts
    sent (``attempts - 1`` retries); ``throttled`` how many of them were refused with a
    ``Throttling*`` code.
    """

    action: str
    product_key: str
    device_name: str
    outcome: str
    request_id: str
    duration: float
    attempts: int
    throttled: int


CallObserver = Callable[[CallRecord], None]


class _Answer(NamedTuple):
    """A successful answer: its JSON body, its RequestId (already screened), and the matcher
    for the private key it carries (QueryDeviceCert), built once and used by its parser."""

    data: dict[str, Any]
    request_id: str
    key_material: KeyMaterialMatcher | None


_timestamp_cache: tuple[int, str] = (0, "")


def _timestamp() -> str:
    """UTC now as ``YYYY-MM-DDThh:mm:ssZ``; formatted once per second (calls come faster)."""
    global _timestamp_cache
    now = time.time()
    second, text = _timestamp_cache
    if int(now) != second:
        text = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _timestamp_cache = (int(now), text)
    return text


class _Scrubber:
    """Removes known sensitive strings, raw or percent-encoded, from server-provided text.

    Cheap to build (each attempt builds one): the percent-encoded copies are made only the
    first time a text containing ``%`` is scrubbed, since an encoded form that differs from
    its value always contains ``%``; the raw values cover every other text.
    """

    __slots__ = ("_encoded", "_values")

    def __init__(self, sensitive: Iterable[str | None]) -> None:
        # Longest first, so a longer secret is not half-replaced by a shorter one.
        self._values = sorted(
            {value for value in sensitive if value and len(value) >= 4}, key=len, reverse=True
        )
        self._encoded: list[str] | None = None

    def _encoded_forms(self) -> list[str]:
        if self._encoded is None:
            forms: set[str] = set()
            for value in self._values:
                once = signing.percent_encode(value)
                forms.update({once, signing.percent_encode(once)})
            forms.difference_update(self._values)
            self._encoded = sorted(forms, key=len, reverse=True)
        return self._encoded

    def __call__(self, text: Any) -> str:
        text = "" if text is None else str(text)
        if "%" in text:
            # Encoded forms first: they are the longer ones and contain the raw value's parts.
            for form in self._encoded_forms():
                text = text.replace(form, _REDACTED)
        for value in self._values:
            text = text.replace(value, _REDACTED)
        if "PRIVATE KEY" in text:
            text = _PEM_PRIVATE_KEY.sub(_REDACTED, text)
        if len(text) > _MAX_MESSAGE_CHARS:
            text = text[:_MAX_MESSAGE_CHARS] + "..."
        return text


class _Tally:
    """Counts kept across one call's attempts, for ``CallRecord``."""

    __slots__ = ("attempts", "throttled")

    def __init__(self) -> None:
        self.attempts = 0
        self.throttled = 0


class IotClient:
    """Signed, rate-limited, retrying client for the IoT Platform API (version 2018-01-20).

    ``endpoint`` is a base URL such as ``https://iot.cn-shanghai.aliyuncs.com`` or the local
    emulator's ``http://127.0.0.1:8001``. Pass ``rate_limiter=None`` to disable local limiting.
    One client may be shared by threads. A ``session`` passed in is read when the client is
    built (its headers, the adapter mounted for the endpoint, its proxy and TLS settings and the
    environment's); only its response hooks are looked up on every call.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        security_token: str | None = None,
        region_id: str = "cn-shanghai",
        signature_version: str = "v3",
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        max_response_bytes: int = 1_048_576,
        max_attempts: int = 4,
        backoff_base: float = 0.2,
        backoff_max: float = 2.0,
        rate_limiter: RateLimiter | None = process_rate_limiter,
        session: requests.Session | None = None,
        deadline: float | None = None,
        retry_read_timeouts: bool = True,
        on_call: CallObserver | None = None,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("endpoint must be an http(s) URL such as https://host")
        if signature_version not in SIGNATURE_VERSIONS:
            raise ValueError(f"signature_version must be one of {SIGNATURE_VERSIONS}")
        if not access_key_id or not access_key_secret:
            raise ValueError("access_key_id and access_key_secret are required")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if deadline is not None and not deadline > 0:
            raise ValueError("deadline must be a number of seconds > 0, or None")
        self.endpoint = f"{parts.scheme}://{parts.netloc}"
        self.host = parts.netloc
        self.access_key_id = access_key_id
        self._access_key_secret = access_key_secret
        self._security_token = security_token or None
        self.region_id = region_id
        self.signature_version = signature_version
        self.timeout = (connect_timeout, read_timeout)
        self.max_response_bytes = max_response_bytes
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.rate_limiter = rate_limiter
        self.deadline = deadline
        self.retry_read_timeouts = retry_read_timeouts
        self.on_call = on_call
        self.session = session if session is not None else self._new_session()
        # What ``Session.request`` and ``Session.send`` would work out on every call, worked
        # out once (a client is built per process and per configuration, and neither the
        # environment of a running server nor its session changes): the proxy variables,
        # NO_PROXY and REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE (.netrc is never wanted: the requests
        # are signed; with ``session.trust_env = False`` only the session's own
        # proxies/verify/cert apply), the adapter mounted for the endpoint, the session's
        # headers merged with ours, and the URL normalised as ``PreparedRequest`` would.
        self._send_settings = self._environment_settings()
        self._adapter = self.session.get_adapter(f"{self.endpoint}/")
        base = requests.PreparedRequest()
        base.prepare_url(f"{self.endpoint}/", None)
        self._base_url = base.url
        self._header_template = self._static_headers()
        self._v3_signer = signing.V3Signer(
            access_key_id=access_key_id,
            access_key_secret=access_key_secret,
            host=self.host,
            api_version=API_VERSION,
            security_token=self._security_token,
        )

    @staticmethod
    def _new_session() -> requests.Session:
        session = requests.Session()
        # Only the headers the API needs: HTTP/1.1 keeps connections alive without
        # "Connection: keep-alive", and its answers are small JSON not worth compressing (each
        # header sent costs CPU on every call). A caller's own session is sent as it is.
        del session.headers["Connection"]
        del session.headers["Accept-Encoding"]
        # Room for the dashboard's worker threads to keep their connections alive.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def _environment_settings(self) -> dict[str, Any]:
        session = self.session
        if session.trust_env:
            return session.merge_environment_settings(
                f"{self.endpoint}/", {}, True, session.verify, session.cert
            )
        return {
            "proxies": session.proxies,
            "stream": True,
            "verify": session.verify,
            "cert": session.cert,
        }

    def _static_headers(self) -> dict[str, str]:
        """The headers every attempt sends besides the signed ones: the session's (as
        ``Session.request`` merges them: ours win, ``None`` drops one), ``Accept`` and the
        empty body's ``Content-Length``; checked once as ``PreparedRequest`` checks each."""
        merged = CaseInsensitiveDict(self.session.headers)
        merged.update({"Accept": "application/json", "Content-Length": "0"})
        per_attempt = ("host", "authorization", "x-acs-", "signature")
        template = {}
        for name, value in merged.items():
            if value is None or name.lower().startswith(per_attempt):
                continue
            check_header_validity((name, value))
            template[name] = value
        for what, value in (
            ("access_key_id", self.access_key_id),
            ("security_token", self._security_token or ""),
        ):
            # Sent in a header on every V3 attempt: refused here rather than on each send, and
            # without quoting it (requests' own check would put the value in its message).
            if value != value.strip() or any(ch in value for ch in "\r\n\0"):
                raise ValueError(f"{what} contains characters a header cannot carry")
        return template

    def __repr__(self) -> str:
        return (
            f"IotClient(endpoint={self.endpoint!r}, access_key_id={self.access_key_id!r}, "
            f"region_id={self.region_id!r}, signature_version={self.signature_version!r}, "
            f"sts={self._security_token is not None})"
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()

    # ---- public API -------------------------------------------------------------------------

    def query_device_cert(
        self, *, product_key: str, device_name: str, iot_instance_id: str | None = None
    ) -> DeviceCert:
        """Fetch a device's X.509 certificate, private key and status (``QueryDeviceCert``).

        Raises ``IotBusinessError`` for platform refusals (``is_not_found``,
        ``is_instance_error``), ``IotGatewayError``/``IotThrottledError`` for gateway refusals,
        ``IotTransportError`` and ``IotResponseError`` otherwise.
        """
        params = {"ProductKey": product_key, "DeviceName": device_name}
        if iot_instance_id:
            params["IotInstanceId"] = iot_instance_id
        answer = self._call("QueryDeviceCert", params, rate_limit_key=self.access_key_id)
        return parse_device_cert(
            answer.data,
            product_key=product_key,
            device_name=device_name,
            iot_instance_id=iot_instance_id or None,
            request_id=answer.request_id,
            key_material=answer.key_material,
        )

    def query_device(
        self,
        *,
        product_key: str,
        page: int = 1,
        page_size: int = MAX_PAGE_SIZE,
        iot_instance_id: str | None = None,
        next_token: str | None = None,
    ) -> DeviceListPage:
        """List one page of a product's devices (``QueryDevice``, newest first), without their
        secrets.

        ``next_token``: the previous page's ``next_token``, for every page after the first (it
        must lead to ``page``). Raises ValueError for a page past ``LISTING_WINDOW_ROWS`` rows
        without one (the platform would answer it with no data) or past ``LISTING_MAX_ROWS``.
        """
        if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page must be >= 1 and page_size in 1..{MAX_PAGE_SIZE}")
        if page * page_size > LISTING_WINDOW_ROWS and not next_token:
            raise ValueError(
                f"a page past row {LISTING_WINDOW_ROWS} needs the previous page's NextToken"
            )
        if page * page_size >= LISTING_MAX_ROWS:
            raise ValueError(f"a listing reaches at most {LISTING_MAX_ROWS} rows")
        params = {"ProductKey": product_key, "CurrentPage": str(page), "PageSize": str(page_size)}
        if next_token:
            params["NextToken"] = next_token
        if iot_instance_id:
            params["IotInstanceId"] = iot_instance_id
        data, request_id, _ = self._call("QueryDevice", params, rate_limit_key=self.access_key_id)
        return parse_device_list_page(
            data,
            product_key=product_key,
            iot_instance_id=iot_instance_id or None,
            page=page,
            page_size=page_size,
            request_id=request_id,
        )

    def batch_query_device_detail(
        self,
        *,
        product_key: str,
        device_names: Sequence[str],
        iot_instance_id: str | None = None,
    ) -> DeviceDetails:
        """Details of 1-100 devices of one product (``BatchQueryDeviceDetail``): status, node
        type, firmware, activation, without their secrets. Names the platform does not know are
        left out of the answer; a product of another account fails the call (IotBusinessError).
        """
        if not 1 <= len(device_names) <= MAX_DETAIL_NAMES:
            raise ValueError(f"device_names must hold 1 to {MAX_DETAIL_NAMES} names")
        params = {"ProductKey": product_key}
        params.update({f"DeviceName.{n}": name for n, name in enumerate(device_names, 1)})
        if iot_instance_id:
            params["IotInstanceId"] = iot_instance_id
        data, request_id, _ = self._call(
            "BatchQueryDeviceDetail", params, rate_limit_key=self.access_key_id
        )
        return parse_device_details(
            data,
            product_key=product_key,
            iot_instance_id=iot_instance_id or None,
            request_id=request_id,
        )

    def query_device_detail(
        self, *, product_key: str, device_name: str, iot_instance_id: str | None = None
    ) -> DeviceDetail:
        """One device's details (``QueryDeviceDetail``): the batch call's, plus the last time it
        came online and its IP address; never its secret. Errors as ``query_device_cert``."""
        params = {"ProductKey": product_key, "DeviceName": device_name}
        if iot_instance_id:
            params["IotInstanceId"] = iot_instance_id
        data, request_id, _ = self._call(
            "QueryDeviceDetail", params, rate_limit_key=self.access_key_id
        )
        return parse_device_detail(data, product_key=product_key, request_id=request_id)

    # ---- one call, with retries --------------------------------------------------------------

    def _call(
        self, action: str, params: Mapping[str, str], *, rate_limit_key: str | None
    ) -> _Answer:
        if self.on_call is None:
            return self._call_with_retries(action, params, rate_limit_key, _Tally())
        tally = _Tally()
        started = time.monotonic()
        try:
            answer = self._call_with_retries(action, params, rate_limit_key, tally)
        except IotError as error:
            self._observe(action, params, tally, started, error.code, error.request_id or "")
            raise
        self._observe(action, params, tally, started, "Success", answer.request_id)
        return answer

    def _observe(
        self,
        action: str,
        params: Mapping[str, str],
        tally: "_Tally",
        started: float,
        outcome: str,
        request_id: str,
    ) -> None:
        record = CallRecord(
            action=action,
            product_key=params.get("ProductKey", ""),
            device_name=params.get("DeviceName", ""),
            outcome=outcome,
            request_id=request_id,
            duration=time.monotonic() - started,
            attempts=tally.attempts,
            throttled=tally.throttled,
        )
        try:
            self.on_call(record)
        except Exception:
            logger.exception("iot call observer failed")

    def _call_with_retries(
        self,
        action: str,
        params: Mapping[str, str],
        rate_limit_key: str | None,
        tally: "_Tally",
    ) -> _Answer:
        subject = " ".join(
            f"{name}={params[name]}" for name in ("ProductKey", "DeviceName") if name in params
        )
        deadline_at = None if self.deadline is None else time.monotonic() + self.deadline
        last_error: IotError | None = None
        quotas = call_quotas(action, params) if rate_limit_key is not None else ()
        for attempt in range(1, self.max_attempts + 1):
            if self.rate_limiter is not None:
                for quota in quotas:
                    self.rate_limiter.acquire(rate_limit_key, quota=quota)
            if deadline_at is not None and time.monotonic() >= deadline_at:
                # The limiter's wait used up the budget: do not start a call that cannot finish.
                raise last_error or self._deadline_error()
            logger.debug("iot %s attempt %d/%d %s", action, attempt, self.max_attempts, subject)
            tally.attempts = attempt
            try:
                answer = self._attempt(action, params, deadline_at)
            except IotError as error:
                last_error = error
                tally.throttled += error.is_throttled
                delay = random.uniform(  # full jitter
                    0, min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
                )
                if not self._may_retry(error, attempt, delay, deadline_at):
                    logger.info(
                        "iot %s failed after %d attempt(s) %s code=%s RequestId=%s",
                        action,
                        attempt,
                        subject,
                        error.code,
                        error.request_id or "-",
                    )
                    raise
                logger.info(
                    "iot %s attempt %d/%d %s code=%s RequestId=%s: retrying in %.2fs",
                    action,
                    attempt,
                    self.max_attempts,
                    subject,
                    error.code,
                    error.request_id or "-",
                    delay,
                )
                time.sleep(delay)
                continue
            logger.info(
                "iot %s ok on attempt %d %s RequestId=%s",
                action,
                attempt,
                subject,
                answer.request_id,
            )
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    def _may_retry(
        self, error: IotError, attempt: int, delay: float, deadline_at: float | None
    ) -> bool:
        if not error.retryable or attempt >= self.max_attempts:
            return False
        if error.code == _READ_TIMEOUT_CODE and not self.retry_read_timeouts:
            return False
        # A retry that would start after the deadline could only fail (and spend quota).
        return deadline_at is None or time.monotonic() + delay < deadline_at

    def _deadline_error(self) -> IotTransportError:
        return self._transport_error(
            _READ_TIMEOUT_CODE, f"no answer within the {self.deadline:g} s deadline"
        )

    # ---- one attempt -------------------------------------------------------------------------

    def _signed_request(
        self, action: str, params: Mapping[str, str]
    ) -> tuple[str, dict[str, str], str]:
        """Sign one attempt: returns (url, headers, signature). Fresh nonce and timestamp."""
        if self.signature_version == "v3":
            query_string, signed, signature = self._v3_signer.sign(
                action=action, query=params, date=_timestamp(), nonce=os.urandom(16).hex()
            )
            headers = {**self._header_template, **signed}
        else:
            query = {
                "Action": action,
                "Format": "JSON",
                "Version": API_VERSION,
                "AccessKeyId": self.access_key_id,
                "SignatureMethod": signing.V1_SIGNATURE_METHOD,
                "SignatureVersion": signing.V1_SIGNATURE_VERSION,
                "SignatureNonce": str(uuid.uuid4()),
                "Timestamp": _timestamp(),
                "RegionId": self.region_id,
                **params,
            }
            if self._security_token:
                query["SecurityToken"] = self._security_token
            signature = signing.v1_signature(
                self._access_key_secret, signing.v1_string_to_sign("POST", query)
            )
            query["Signature"] = signature
            query_string = signing.canonical_query_string(query)
            headers = {**self._header_template, "host": self.host}
        # Encode the query ourselves so the server sees exactly the encoding that was signed.
        return f"{self._base_url}?{query_string}", headers, signature

    def _attempt(
        self, action: str, params: Mapping[str, str], deadline_at: float | None = None
    ) -> _Answer:
        url, headers, signature = self._signed_request(action, params)
        sensitive = (self._access_key_secret, self._security_token, signature)
        scrub = _Scrubber(sensitive)
        status, response_headers, body = self._send(url, headers, deadline_at)
        try:
            data = json.loads(body)
        except ValueError:  # includes UnicodeDecodeError
            data = None
        if not isinstance(data, dict):
            data = None
        raw_request_id = scrub(
            (data and data.get("RequestId")) or response_headers.get("x-acs-request-id", "")
        )
        key_material = None
        identifier = platform_token
        if data is not None:
            # A hostile or broken server must not get a key into an error message, nor into an
            # identifier (RequestId, Code) in any encoding: the answer's own key is in hand.
            info = data.get("DeviceCertInfo")
            if isinstance(info, dict) and isinstance(info.get("PrivateKey"), str):
                scrub = _Scrubber((*sensitive, info["PrivateKey"]))
                key_material = key_material_matcher(private_key_text=info["PrivateKey"])
                identifier = functools.partial(platform_identifier, key_material=key_material)
        request_id = identifier(raw_request_id)

        if status >= 300 or status < 200:
            raise self._gateway_error(status, data, request_id, scrub)
        if data is None:
            raise IotResponseError(
                "Response.Malformed",
                f"{action} answered HTTP {status} with a body that is not a JSON object",
                request_id=request_id,
                http_status=status,
            )
        if data.get("Success") is not True:
            raise IotBusinessError(
                identifier(scrub(data.get("Code") or "Unknown")),
                platform_message(
                    scrub(data.get("ErrorMessage") or data.get("Message") or "Success is not true")
                ),
                request_id=request_id,
                http_status=status,
            )
        return _Answer(data, request_id, key_material)

    @staticmethod
    def _gateway_error(
        status: int, data: dict[str, Any] | None, request_id: str, scrub: _Scrubber
    ) -> IotError:
        if data is None or not data.get("Code"):
            if status >= 500:
                return IotGatewayError(
                    f"HTTP.{status}",
                    f"the API answered HTTP {status}",
                    request_id=request_id,
                    http_status=status,
                    retryable=True,
                )
            return IotResponseError(
                "Response.Malformed",
                f"the API answered HTTP {status} without an error code",
                request_id=request_id,
                http_status=status,
            )
        code = platform_token(scrub(data["Code"]))
        fields = {
            "request_id": request_id,
            "http_status": status,
            "host_id": platform_message(scrub(data.get("HostId", ""))),
            "recommend": platform_message(scrub(data.get("Recommend", ""))),
        }
        message = platform_message(scrub(data.get("Message") or data.get("ErrorMessage") or ""))
        if code.startswith("Throttling"):
            return IotThrottledError(code, message, **fields)
        retryable = status >= 500 or code in _RETRYABLE_GATEWAY_CODES
        return IotGatewayError(code, message, retryable=retryable, **fields)

    def _send(
        self, url: str, headers: Mapping[str, str], deadline_at: float | None = None
    ) -> tuple[int, Mapping[str, str], bytes]:
        """POST and read at most ``max_response_bytes``, by ``deadline_at`` (monotonic) if given.
        Transport failures become errors whose text names neither the URL (it carries a V1
        signature) nor the cause's text."""
        timeout = self.timeout
        if deadline_at is not None:
            left = max(deadline_at - time.monotonic(), 0.001)
            timeout = (min(timeout[0], left), min(timeout[1], left))
        try:
            response = self._adapter.send(
                self._prepared(url, headers), timeout=timeout, **self._send_settings
            )
            hooks = self.session.hooks
            if hooks.get("response"):
                response = dispatch_hook("response", hooks, response)
            with response:
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > self.max_response_bytes:
                    raise self._too_large(response)
                chunks = []
                size = 0
                for chunk in response.iter_content(chunk_size=65536):
                    if deadline_at is not None and time.monotonic() > deadline_at:
                        # A body trickling in keeps each read under its timeout: stop anyway.
                        raise self._deadline_error()
                    size += len(chunk)
                    if size > self.max_response_bytes:
                        raise self._too_large(response)
                    chunks.append(chunk)
                return response.status_code, response.headers, b"".join(chunks)
        except requests.ConnectTimeout:
            # Nothing was sent, so nothing ran upstream: a retry is as safe as after a refusal.
            raise self._transport_error("Transport.Unreachable", "connection timed out") from None
        except requests.Timeout:
            raise self._transport_error(_READ_TIMEOUT_CODE, "timed out") from None
        except requests.ConnectionError as exc:
            if exc.args and isinstance(exc.args[0], ReadTimeoutError):
                raise self._transport_error(_READ_TIMEOUT_CODE, "timed out") from None
            raise self._transport_error("Transport.Unreachable", "connection failed") from None
        except requests.exceptions.ChunkedEncodingError:
            raise self._transport_error(
                "Transport.Unreachable", "connection dropped mid-response"
            ) from None
        except requests.exceptions.ContentDecodingError:
            raise IotResponseError(
                "Response.Malformed", "the response body could not be decoded"
            ) from None
        except requests.RequestException as exc:
            raise self._transport_error(
                "Transport.Unreachable", f"request failed ({type(exc).__name__})"
            ) from None

    def _prepared(self, url: str, headers: dict[str, str]) -> requests.PreparedRequest:
        """The request ``Session.request`` would prepare, built directly: the URL is the
        normalised endpoint plus a query string we encoded, the headers were merged and checked
        when the client was built (``_static_headers``) or are our own hex and dates, and the
        body is empty. No cookies or auth."""
        prepared = requests.PreparedRequest()
        prepared.method = "POST"
        prepared.url = url
        # A plain dict is what urllib3 needs; a response hook may read the request's headers.
        prepared.headers = (
            CaseInsensitiveDict(headers) if self.session.hooks.get("response") else headers
        )
        prepared.body = None
        return prepared

    def _transport_error(self, code: str, what: str) -> IotTransportError:
        return IotTransportError(code, f"{self.host}: {what}")

    def _too_large(self, response: requests.Response) -> IotResponseError:
        return IotResponseError(
            "Response.TooLarge",
            f"response exceeds {self.max_response_bytes} bytes",
            request_id=platform_token(response.headers.get("x-acs-request-id", "")),
            http_status=response.status_code,
        )
