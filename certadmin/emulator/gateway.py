"""The emulated endpoint, independent of sockets: a received request in, a response out.

Order of work for each request: parse; log ``(action, access_key_id, signature_version,
device_name)``; global faults; common parameters and version; action; timestamp, AccessKeyId,
signature, nonce; flow control; the action itself; the device's own faults.
"""

import datetime as dt
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import parse_qsl

from certadmin.emulator.actions import ACTIONS, PlatformRules
from certadmin.emulator.errors import BusinessError, GatewayError
from certadmin.emulator.faults import GlobalFaults
from certadmin.emulator.render import JSON_CONTENT_TYPE, render
from certadmin.emulator.store import Device, DeviceStore
from certadmin.emulator.throttling import SlidingWindowLimiter, quota_names
from certadmin.emulator.verify import (
    CallIdentity,
    NonceCache,
    ReceivedRequest,
    authenticate,
    check_common,
    identify,
)

HOST_ID = "iot.cn-shanghai.aliyuncs.com"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_STATUS_CODES = {
    400: ("InvalidParameter", "The specified parameter is not valid."),
    403: ("Forbidden.RAM", "User not authorized to operate on the specified resource."),
    429: ("Throttling", "Request was denied due to request throttling."),
    500: ("InternalError", "The request processing has failed due to some unknown error."),
    502: ("BadGateway", "The gateway received an invalid response."),
    503: ("ServiceUnavailable", "The request has failed due to a temporary failure of the server."),
    504: ("GatewayTimeout", "The gateway timed out."),
}


class RequestLogEntry(NamedTuple):
    """One received request, as tests count them."""

    action: str | None
    access_key_id: str | None
    signature_version: str | None
    # The DeviceName parameter as sent (None when the call has none, e.g. QueryDevice).
    device_name: str | None = None


@dataclass
class Response:
    """What to send back: ``drop`` closes the connection without an answer after ``delay``."""

    status: int
    body: bytes = b""
    content_type: str = JSON_CONTENT_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


def new_request_id() -> str:
    """A RequestId in the platform's form (an uppercase UUID)."""
    return str(uuid.uuid4()).upper()


def receive(
    *, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes
) -> ReceivedRequest:
    """Build a ReceivedRequest from raw HTTP parts (``target`` is the request-target)."""
    path, _, query_string = target.partition("?")
    lowered: dict[str, list[str]] = {}
    for name, value in headers:
        lowered.setdefault(name.lower(), []).append(value.strip())
    merged = {name: ",".join(sorted(values)) for name, values in lowered.items()}
    form: list[tuple[str, str]] = []
    content_type = merged.get("content-type", "").split(";")[0].strip().lower()
    if body and content_type == FORM_CONTENT_TYPE:
        form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return ReceivedRequest(
        method=method.upper(),
        path=path or "/",
        query=tuple(parse_qsl(query_string, keep_blank_values=True, errors="replace")),
        form=tuple(form),
        headers=merged,
        body=body,
    )


class Gateway:
    """The endpoint's behaviour: verification, flow control, actions, faults."""

    def __init__(
        self,
        *,
        credentials: Mapping[str, str],
        store: DeviceStore,
        faults: GlobalFaults | None = None,
        limiter: SlidingWindowLimiter | None = None,
    ) -> None:
        self.credentials = dict(credentials)
        self.store = store
        self.faults = faults or GlobalFaults()
        self.limiter = limiter or SlidingWindowLimiter()
        self.rules = PlatformRules()
        self.nonces = NonceCache()
        self.request_log: list[RequestLogEntry] = []
        self.security_tokens: list[str] = []
        # Throttling.User refusals issued, per action.
        self.throttled: Counter[str] = Counter()
        # AccessKeyId -> account; keys of one account share its quota. A key not listed is
        # an account of its own.
        self.accounts: dict[str, str] = {}
        # AccessKeyId -> the products and devices that key's account owns. A key not listed
        # sees ``store``. Another account's product does not exist for a key.
        self.account_stores: dict[str, DeviceStore] = {}
        self._lock = threading.Lock()

    def handle(self, request: ReceivedRequest) -> Response:
        """Answer one request as the real endpoint would."""
        request_id = new_request_id()
        identity = identify(request)
        with self._lock:
            self.request_log.append(
                RequestLogEntry(
                    identity.action,
                    identity.access_key_id,
                    identity.signature_version,
                    request.params.get("DeviceName"),
                )
            )
        fault, delay = self.faults.draw(identity.action)
        if fault is not None:
            return _fault_response(fault, request_id, delay)
        fmt = identity.response_format
        try:
            payload, device = self._process(request, identity)
        except GatewayError as exc:
            response = gateway_error_response(exc, request_id, fmt)
        except BusinessError as exc:
            data = {
                "RequestId": request_id,
                "Success": False,
                "Code": exc.code,
                "ErrorMessage": exc.message,
            }
            response = _ok(data, fmt, identity.action or "", request_id)
        else:
            response = _device_fault(device, request_id) or _ok(
                {"RequestId": request_id, **payload}, fmt, identity.action, request_id
            )
            if device is not None and device.fault is not None:
                delay += device.fault.latency
        response.delay = delay
        return response

    def _process(
        self, request: ReceivedRequest, identity: CallIdentity
    ) -> tuple[dict, Device | None]:
        if request.method not in ("GET", "POST"):
            raise GatewayError(
                405, "UnsupportedHTTPMethod", "Specified HTTP method is not supported."
            )
        if request.path != "/":
            raise GatewayError(404, "InvalidAction.NotFound", "Specified api is not found.")
        check_common(request, identity)
        action = ACTIONS.get(identity.action or "")
        if action is None:
            raise GatewayError(
                404,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            )
        caller = authenticate(
            request,
            identity,
            credentials=self.credentials,
            nonces=self.nonces,
            now=dt.datetime.now(dt.UTC),
        )
        if caller.security_token:
            with self._lock:
                self.security_tokens.append(caller.security_token)
        account = self.accounts.get(caller.access_key_id, caller.access_key_id)
        for quota in quota_names(caller.action, request.params):
            if not self.limiter.allow(account, quota):
                with self._lock:
                    self.throttled[caller.action] += 1
                raise GatewayError(
                    400, "Throttling.User", "Request was denied due to user flow control."
                )
        store = self.account_stores.get(caller.access_key_id, self.store)
        return action(store, request.params, self.rules)


def _ok(data: dict, fmt: str, action: str | None, request_id: str) -> Response:
    body, content_type = render(data, fmt=fmt, root=f"{action or 'Unknown'}Response")
    return Response(200, body, content_type, {"x-acs-request-id": request_id})


def gateway_error_response(exc: GatewayError, request_id: str, fmt: str = "JSON") -> Response:
    """A gateway refusal: ``{"RequestId","HostId","Code","Message","Recommend"}``."""
    data = {
        "RequestId": request_id,
        "HostId": HOST_ID,
        "Code": exc.code,
        "Message": exc.message,
        "Recommend": (
            f"https://api.aliyun.com/troubleshoot?q={exc.code}&product=Iot&requestId={request_id}"
        ),
    }
    body, content_type = render(data, fmt=fmt, root="Error")
    return Response(exc.status, body, content_type, {"x-acs-request-id": request_id})


def _status_error(status: int, request_id: str) -> Response:
    default = _STATUS_CODES[400] if status < 500 else _STATUS_CODES[503]
    code, message = _STATUS_CODES.get(status, default)
    return gateway_error_response(GatewayError(status, code, message), request_id, "JSON")


def _malformed(request_id: str) -> Response:
    body = f'{{"RequestId":"{request_id}","Success":true,"DeviceCertInfo":{{"Status":2,"Cert'
    return Response(200, body.encode("ascii"), JSON_CONTENT_TYPE)


def _fault_response(kind: str, request_id: str, delay: float) -> Response:
    if kind == "drop":
        response = Response(0, drop=True)
    elif kind == "malformed":
        response = _malformed(request_id)
    else:
        response = _status_error(503, request_id)
    response.delay = delay
    return response


def _device_fault(device: Device | None, request_id: str) -> Response | None:
    fault = device.fault if device is not None else None
    if fault is None:
        return None
    if fault.drop:
        return Response(0, drop=True)
    if fault.http_status is not None:
        return _status_error(fault.http_status, request_id)
    if fault.malformed:
        return _malformed(request_id)
    return None
