"""Checks the gateway makes before a call reaches the IoT service.

Both signature versions are verified with :mod:`certadmin.iot.signing`, over exactly what was
received: V1 over every parameter but ``Signature`` (query and form body, empty ones
included); V3 over the URL query and exactly the headers the request's ``SignedHeaders`` names.
"""

import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from certadmin.emulator.errors import GatewayError, missing_parameter
from certadmin.iot import signing

API_VERSION = "2018-01-20"
MAX_CLOCK_SKEW_SECONDS = 15 * 60
NONCE_MEMORY_SECONDS = 15 * 60

_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,6})?Z")
_V3_REQUIRED_HEADERS = (
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
)
_V1_REQUIRED_PARAMS = (
    "Action",
    "Version",
    "AccessKeyId",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
)
_MISMATCH = "Specified signature is not matched with our calculation."


@dataclass(frozen=True)
class ReceivedRequest:
    """An HTTP request as the gateway sees it.

    ``query`` and ``form`` are decoded ``(name, value)`` pairs, in order, blanks kept;
    ``headers`` maps lowercased names to values.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    form: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]
    body: bytes

    @property
    def params(self) -> dict[str, str]:
        """Query and form parameters together (form wins on a clash)."""
        return dict(self.query) | dict(self.form)


@dataclass(frozen=True)
class CallIdentity:
    """What a request claims before verification: enough to log it and pick a format."""

    signature_version: str | None
    access_key_id: str | None
    action: str | None
    response_format: str


@dataclass(frozen=True)
class Caller:
    """A caller whose signature, timestamp and nonce passed."""

    access_key_id: str
    signature_version: str
    action: str
    security_token: str | None


def identify(request: ReceivedRequest) -> CallIdentity:
    """Classify a request as V3 (Authorization header), V1 (Signature parameter) or neither."""
    params = request.params
    authorization = signing.parse_v3_authorization(request.headers.get("authorization", ""))
    if authorization is not None:
        fmt = params.get("Format", "JSON")
        return CallIdentity(
            "v3", authorization["Credential"], request.headers.get("x-acs-action"), _fmt(fmt)
        )
    version = "v1" if "Signature" in params else None
    # V1's documented default is XML; a call with some other Authorization is answered in JSON.
    default_format = "JSON" if "authorization" in request.headers else "XML"
    return CallIdentity(
        version,
        params.get("AccessKeyId"),
        params.get("Action"),
        _fmt(params.get("Format", default_format)),
    )


def _fmt(value: str) -> str:
    return "XML" if value.upper() == "XML" else "JSON"


class NonceCache:
    """Nonces seen per AccessKeyId in the last 15 minutes."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[tuple[str, str], float] = {}
        self._pruned_at = clock()
        self._lock = threading.Lock()

    def use(self, access_key_id: str, nonce: str) -> bool:
        """Record a nonce; False if it was already used within the memory window."""
        now = self._clock()
        with self._lock:
            if now - self._pruned_at > 60:
                self._pruned_at = now
                self._seen = {k: t for k, t in self._seen.items() if now - t < NONCE_MEMORY_SECONDS}
            seen_at = self._seen.get((access_key_id, nonce))
            if seen_at is not None and now - seen_at < NONCE_MEMORY_SECONDS:
                return False
            self._seen[(access_key_id, nonce)] = now
            return True


def check_common(request: ReceivedRequest, identity: CallIdentity) -> None:
    """Refuse a request that lacks a signature or common parameters, or names another version."""
    if identity.signature_version == "v3":
        for name in _V3_REQUIRED_HEADERS:
            if not request.headers.get(name):
                raise missing_parameter(name)
        version = request.headers["x-acs-version"]
    else:
        if request.headers.get("authorization"):
            raise GatewayError(
                400,
                "IncompleteSignature",
                "The request signature does not conform to Aliyun standards.",
            )
        params = request.params
        for name in (*_V1_REQUIRED_PARAMS, "Signature"):
            if not params.get(name):
                raise missing_parameter(name)
        if params["SignatureMethod"] != signing.V1_SIGNATURE_METHOD:
            raise GatewayError(
                400, "InvalidParameter", "The specified SignatureMethod is not supported."
            )
        if params["SignatureVersion"] != signing.V1_SIGNATURE_VERSION:
            raise GatewayError(
                400, "InvalidParameter", "The specified SignatureVersion is not supported."
            )
        version = params["Version"]
    if version != API_VERSION:
        raise GatewayError(400, "InvalidVersion", "Specified parameter Version is not valid.")


def _check_timestamp(value: str, now: dt.datetime) -> None:
    match = _TIMESTAMP.fullmatch(value)
    if not match:
        raise GatewayError(
            400,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        )
    stamp = dt.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    if abs((now - stamp).total_seconds()) > MAX_CLOCK_SKEW_SECONDS:
        raise GatewayError(
            400,
            "InvalidTimeStamp.Expired",
            f"Specified time stamp or date value is expired. The request is sent at {value}, "
            "but it is received more than 15 minutes away.",
        )


def _v3_string_to_sign(request: ReceivedRequest, signed_headers: str) -> str:
    names = [name for name in signed_headers.split(";") if name.strip()]
    canonical, _ = signing.v3_canonical_request(
        method=request.method,
        query=request.query,
        headers=request.headers,
        signed_headers=names,
        hashed_payload=request.headers["x-acs-content-sha256"],
        path=request.path,
    )
    return signing.v3_string_to_sign(canonical)


def _refuse_signature(string_to_sign: str, detail: str = "") -> GatewayError:
    # The older official SDK compares the text after the ':' with its own string to sign,
    # so nothing before "is:" may contain a colon.
    return GatewayError(
        400,
        "SignatureDoesNotMatch",
        f"{_MISMATCH}{detail} server string to sign is:{string_to_sign}",
    )


def authenticate(
    request: ReceivedRequest,
    identity: CallIdentity,
    *,
    credentials: Mapping[str, str],
    nonces: NonceCache,
    now: dt.datetime,
) -> Caller:
    """Check timestamp, AccessKeyId, signature and nonce, in that order; return the caller."""
    params = request.params
    if identity.signature_version == "v3":
        timestamp = request.headers["x-acs-date"]
        nonce = request.headers["x-acs-signature-nonce"]
        token = request.headers.get("x-acs-security-token")
    else:
        timestamp, nonce = params["Timestamp"], params["SignatureNonce"]
        token = params.get("SecurityToken")
    _check_timestamp(timestamp, now)

    access_key_id = identity.access_key_id or ""
    secret = credentials.get(access_key_id)
    if secret is None:
        raise GatewayError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")

    if identity.signature_version == "v3":
        authorization = signing.parse_v3_authorization(request.headers["authorization"])
        signed_headers = authorization["SignedHeaders"]
        string_to_sign = _v3_string_to_sign(request, signed_headers)
        signed = {name.strip().lower() for name in signed_headers.split(";")}
        unsigned = sorted(
            name for name in request.headers if name.startswith("x-acs-") and name not in signed
        )
        if "host" not in signed:
            unsigned.insert(0, "host")
        if unsigned:
            raise _refuse_signature(
                string_to_sign, f" Headers not signed but required ({', '.join(unsigned)})."
            )
        if request.headers["x-acs-content-sha256"] != signing.sha256_hex(request.body):
            raise _refuse_signature(
                string_to_sign, " The x-acs-content-sha256 header does not match the body."
            )
        expected = signing.v3_signature(secret, string_to_sign)
        given = authorization["Signature"]
    else:
        pairs = [*request.query, *request.form]
        string_to_sign = signing.v1_string_to_sign(request.method, pairs)
        expected = signing.v1_signature(secret, string_to_sign)
        given = params["Signature"]
    if not signing.signatures_equal(expected, given):
        raise _refuse_signature(string_to_sign)

    if not nonces.use(access_key_id, nonce):
        raise GatewayError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
    return Caller(
        access_key_id=access_key_id,
        signature_version=identity.signature_version or "v1",
        action=identity.action or "",
        security_token=token or None,
    )
