"""A tiny signer for raw ``requests`` calls to the emulator, built on certadmin.iot.signing.

Deliberately independent of the product's client: these tests check the emulator against the
documented algorithms, with knobs to produce the broken requests a gateway must refuse.
"""

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

import requests

from certadmin.iot import signing

API_VERSION = "2018-01-20"


def utc_timestamp(offset_seconds: float = 0) -> str:
    """``YYYY-MM-DDThh:mm:ssZ`` now, shifted by ``offset_seconds``."""
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_query(params: Iterable[tuple[str, str]]) -> str:
    """A query string encoded the way Alibaba Cloud's SDKs do (RFC 3986)."""
    return "&".join(f"{signing.percent_encode(k)}={signing.percent_encode(v)}" for k, v in params)


def v1_params(
    *, access_key_id: str, action: str, params: Mapping[str, str], **overrides: str | None
) -> dict[str, str]:
    """Common V1 parameters plus ``params``; an override of None removes that parameter."""
    common = {
        "Action": action,
        "Format": "JSON",
        "Version": API_VERSION,
        "AccessKeyId": access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": str(uuid.uuid4()),
        "Timestamp": utc_timestamp(),
        "RegionId": "cn-shanghai",
    }
    merged = {**common, **params, **overrides}
    return {k: v for k, v in merged.items() if v is not None}


def call_v1(
    base_url: str,
    *,
    access_key_id: str,
    secret: str,
    action: str = "QueryDeviceCert",
    params: Mapping[str, str] | None = None,
    body: Mapping[str, str] | None = None,
    method: str = "GET",
    signature: str | None = None,
    **overrides: str | None,
) -> requests.Response:
    """Send a V1-signed call: ``params`` in the query, ``body`` form-encoded (both signed)."""
    query = v1_params(access_key_id=access_key_id, action=action, params=params or {}, **overrides)
    body = dict(body or {})
    string_to_sign = signing.v1_string_to_sign(method, [*query.items(), *body.items()])
    query["Signature"] = signature or signing.v1_signature(secret, string_to_sign)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    return requests.request(
        method,
        f"{base_url}/?{encode_query(query.items())}",
        data=encode_query(body.items()) if body else None,
        headers=headers,
        timeout=10,
    )


def v3_request(
    base_url: str,
    *,
    access_key_id: str,
    secret: str,
    action: str = "QueryDeviceCert",
    params: Mapping[str, str] | None = None,
    body: Mapping[str, str] | None = None,
    method: str = "POST",
    date: str | None = None,
    nonce: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    unsigned_headers: Iterable[str] = (),
    content_sha256: str | None = None,
) -> requests.PreparedRequest:
    """Prepare a V3-signed call; sign every header but those named in ``unsigned_headers``."""
    payload = encode_query((body or {}).items()).encode() if body else b""
    headers = {
        "host": urlsplit(base_url).netloc,
        "x-acs-action": action,
        "x-acs-version": API_VERSION,
        "x-acs-date": date or utc_timestamp(),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "x-acs-content-sha256": content_sha256 or signing.sha256_hex(payload),
        **(extra_headers or {}),
    }
    if body:
        headers["content-type"] = "application/x-www-form-urlencoded"
    skipped = {name.lower() for name in unsigned_headers}
    to_sign = [name.lower() for name in headers if name.lower() not in skipped]
    query = list((params or {}).items())
    canonical, signed = signing.v3_canonical_request(
        method=method,
        query=query,
        headers=headers,
        signed_headers=to_sign,
        hashed_payload=headers["x-acs-content-sha256"],
    )
    signature = signing.v3_signature(secret, signing.v3_string_to_sign(canonical))
    headers["Authorization"] = signing.v3_authorization(access_key_id, signed, signature)
    url = f"{base_url}/?{encode_query(query)}" if query else f"{base_url}/"
    return requests.Request(method, url, headers=headers, data=payload or None).prepare()


def send(prepared: requests.PreparedRequest) -> requests.Response:
    """Send a prepared request on a fresh session."""
    with requests.Session() as session:
        return session.send(prepared, timeout=10)


def call_v3(base_url: str, **kwargs) -> requests.Response:
    """Prepare and send a V3-signed call (see ``v3_request``)."""
    return send(v3_request(base_url, **kwargs))
