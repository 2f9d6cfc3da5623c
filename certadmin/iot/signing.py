"""Request signing for Alibaba Cloud's RPC APIs: V3 (ACS3-HMAC-SHA256) and V1 (HMAC-SHA1).

Both the client (to sign) and the emulator (to verify) use these functions, so there is one
definition of each canonical form.
"""

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import quote

V3_ALGORITHM = "ACS3-HMAC-SHA256"
V1_SIGNATURE_METHOD = "HMAC-SHA1"
V1_SIGNATURE_VERSION = "1.0"

Params = Mapping[str, str] | Iterable[tuple[str, str]]

_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"


def percent_encode(value: str) -> str:
    """RFC 3986 percent-encoding over UTF-8, as Alibaba Cloud canonicalises names and values.

    Letters, digits and ``-_.~`` are kept; every other byte becomes ``%XY`` (uppercase hex),
    so a space is ``%20``, ``*`` is ``%2A`` and ``/`` is ``%2F``.
    """
    value = str(value)
    if not value.rstrip(_UNRESERVED):
        # Nothing to encode (names, keys, nonces, most values): skip quote's byte round trip.
        return value
    return quote(value, safe="-_.~", encoding="utf-8")


def _pairs(params: Params) -> list[tuple[str, str]]:
    items = params.items() if isinstance(params, Mapping) else params
    return [(str(k), "" if v is None else str(v)) for k, v in items]


def canonical_query_string(params: Params) -> str:
    """Parameters sorted by encoded name (then value), each ``name=value``, joined with ``&``."""
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in _pairs(params))
    return "&".join(f"{k}={v}" for k, v in encoded)


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256, the form of ``x-acs-content-sha256`` and the hashed payload."""
    return hashlib.sha256(data).hexdigest()


def v3_canonical_request(
    *,
    method: str,
    query: Params,
    headers: Mapping[str, str],
    signed_headers: Iterable[str],
    hashed_payload: str,
    path: str = "/",
) -> tuple[str, str]:
    """Build the V3 canonical request over exactly ``signed_headers``.

    Returns ``(canonical_request, signed_headers_string)``. Header names are matched
    case-insensitively; values are trimmed.
    """
    lowered = {k.lower(): str(v).strip() for k, v in headers.items()}
    names = sorted({name.strip().lower() for name in signed_headers if name.strip()})
    canonical_headers = "".join(f"{name}:{lowered.get(name, '')}\n" for name in names)
    signed = ";".join(names)
    canonical = "\n".join(
        [
            method.upper(),
            path or "/",
            canonical_query_string(query),
            canonical_headers,
            signed,
            hashed_payload,
        ]
    )
    return canonical, signed


def v3_headers_to_sign(headers: Mapping[str, str]) -> list[str]:
    """The headers a V3 signer includes: host, content-type and every ``x-acs-*`` header."""
    names = []
    for name in headers:
        low = name.lower()
        if low in {"host", "content-type"} or low.startswith("x-acs-"):
            names.append(low)
    return sorted(set(names))


def v3_string_to_sign(canonical_request: str) -> str:
    """``ACS3-HMAC-SHA256\\n`` followed by the hex SHA-256 of the canonical request."""
    return f"{V3_ALGORITHM}\n{sha256_hex(canonical_request.encode('utf-8'))}"


def v3_signature(secret: str, string_to_sign: str) -> str:
    """Lowercase hex HMAC-SHA256 of the string to sign, keyed with the AccessKey secret."""
    return hmac.new(
        secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def v3_authorization(access_key_id: str, signed_headers: str, signature: str) -> str:
    """The ``Authorization`` header value of a V3-signed request."""
    return (
        f"{V3_ALGORITHM} Credential={access_key_id},"
        f"SignedHeaders={signed_headers},Signature={signature}"
    )


def parse_v3_authorization(value: str) -> dict[str, str] | None:
    """Split an ``Authorization: ACS3-HMAC-SHA256 ...`` header into its fields, or None."""
    if not value or not value.startswith(V3_ALGORITHM + " "):
        return None
    fields: dict[str, str] = {}
    for part in value[len(V3_ALGORITHM) + 1 :].split(","):
        name, sep, val = part.strip().partition("=")
        if sep:
            fields[name.strip()] = val.strip()
    if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        return None
    return fields


def v1_string_to_sign(method: str, params: Params) -> str:
    """``METHOD&%2F&percentEncode(canonicalised query)`` over every parameter but Signature."""
    pairs = [(k, v) for k, v in _pairs(params) if k != "Signature"]
    return "&".join(
        [method.upper(), percent_encode("/"), percent_encode(canonical_query_string(pairs))]
    )


def v1_signature(secret: str, string_to_sign: str) -> str:
    """Base64 HMAC-SHA1 of the string to sign, keyed with ``secret + "&"``."""
    digest = hmac.new(
        (secret + "&").encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")


class V3Signer:
    """Signs V3 requests for one AccessKey, host and API version, as ``v3_canonical_request``,
    ``v3_string_to_sign``, ``v3_signature`` and ``v3_authorization`` do together.

    What does not change between requests is worked out once: the canonical request's fixed
    lines, the signed-header list and the HMAC keyed with the secret. A request signs exactly
    ``host``, ``x-acs-action``, ``x-acs-content-sha256`` (of an empty body), ``x-acs-date``,
    ``x-acs-security-token`` (with STS), ``x-acs-signature-nonce`` and ``x-acs-version``.
    """

    __slots__ = (
        "_access_key_id",
        "_after_action",
        "_after_date",
        "_after_nonce",
        "_after_query",
        "_hmac",
        "_signed",
        "_static_headers",
    )

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        host: str,
        api_version: str,
        security_token: str | None = None,
    ) -> None:
        self._access_key_id = access_key_id
        self._hmac = hmac.new(access_key_secret.encode("utf-8"), digestmod=hashlib.sha256)
        empty = sha256_hex(b"")
        self._static_headers = {
            "host": host,
            "x-acs-version": api_version,
            "x-acs-content-sha256": empty,
        }
        names = ["host", "x-acs-action", "x-acs-content-sha256", "x-acs-date"]
        token_line = ""
        if security_token:
            self._static_headers["x-acs-security-token"] = security_token
            names.append("x-acs-security-token")
            token_line = f"x-acs-security-token:{security_token.strip()}\n"
        names += ["x-acs-signature-nonce", "x-acs-version"]
        self._signed = ";".join(names)
        # The canonical request around the four parts that change: query, action, date, nonce.
        self._after_query = f"\nhost:{host.strip()}\nx-acs-action:"
        self._after_action = f"\nx-acs-content-sha256:{empty}\nx-acs-date:"
        self._after_date = f"\n{token_line}x-acs-signature-nonce:"
        self._after_nonce = f"\nx-acs-version:{api_version.strip()}\n\n{self._signed}\n{empty}"

    def sign(
        self, *, action: str, query: Params, date: str, nonce: str
    ) -> tuple[str, dict[str, str], str]:
        """Sign one ``POST /`` with an empty body: returns ``(canonical query string, headers,
        signature)``, the headers being the signed ones plus ``Authorization``."""
        query_string = canonical_query_string(query)
        canonical = "".join(
            (
                "POST\n/\n",
                query_string,
                self._after_query,
                action.strip(),
                self._after_action,
                date.strip(),
                self._after_date,
                nonce.strip(),
                self._after_nonce,
            )
        )
        mac = self._hmac.copy()
        mac.update(v3_string_to_sign(canonical).encode("utf-8"))
        signature = mac.hexdigest()
        headers = {
            **self._static_headers,
            "x-acs-action": action,
            "x-acs-date": date,
            "x-acs-signature-nonce": nonce,
            "Authorization": v3_authorization(self._access_key_id, self._signed, signature),
        }
        return query_string, headers, signature


def signatures_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two signatures."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
