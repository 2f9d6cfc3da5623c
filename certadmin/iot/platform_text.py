"""What the client keeps of the platform's strings: only text of a plausible shape.

The platform's answers are input, not output. A string of the shape its field has (a RequestId,
an error Code, a CertSN) is kept as it is; anything else is replaced by a summary that says
how long it was and what its SHA-256 is, so that it can be compared with what the platform
holds without being repeated anywhere (a page, the inventory, a log, an export). Free text
(error messages, nicknames) is kept but loses control characters and every long base64 or hex
run, the shapes in which key material travels. In an answer that carries a private key
(QueryDeviceCert), an identifier that holds material of that key in any encoding is withheld
(``platform_identifier``).
"""

import hashlib
import re
import unicodedata

from certadmin.certs.key_material import WITHHELD, KeyMaterialMatcher

# Identifiers: RequestId (a UUID), Code (iot.device.NotExistedDevice, Throttling.User),
# CertSN (a serial number, decimal or hex), IotId, DeviceStatus. 64 characters of this
# alphabet cannot carry a usable key.
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9:._@-]*")
TOKEN_MAX_LENGTH = 64
# base64, base64url and hex runs long enough to carry key bytes (a PEM line is 64 characters).
_ENCODED_RUN = re.compile(r"[A-Za-z0-9+/=_-]{24,}")
_UUID = re.compile(r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")
MESSAGE_MAX_LENGTH = 500
ENCODED_RUN_REPLACEMENT = "[encoded data removed]"


def unreadable(text: str) -> str:
    """The summary shown instead of a string that is not of its field's shape: its length and
    the SHA-256 of its UTF-8 bytes (never the text)."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"[unreadable: {len(text)} characters, SHA-256 {digest}]"


def platform_token(value: str, *, max_length: int = TOKEN_MAX_LENGTH) -> str:
    """An identifier from the platform (RequestId, Code, CertSN, IotId, DeviceStatus): kept when
    it is 1–``max_length`` letters, digits and ``: . _ @ -``; "" stays ""; anything else becomes
    ``unreadable(value)``."""
    if not value:
        return ""
    if len(value) <= max_length and _TOKEN.fullmatch(value):
        return value
    return unreadable(value)


def platform_identifier(value: str, *, key_material: KeyMaterialMatcher) -> str:
    """An identifier from an answer that carried a private key (CertSN, RequestId, Code):
    ``WITHHELD`` when it holds material of that key (``key_material``), else
    ``platform_token(value)``."""
    return WITHHELD if key_material.found_in(value) else platform_token(value)


def _encoded_run(match: re.Match[str]) -> str:
    run = match.group(0)
    return run if _UUID.fullmatch(run) else ENCODED_RUN_REPLACEMENT


def platform_message(value: str, *, max_length: int = MESSAGE_MAX_LENGTH) -> str:
    """Free text from the platform (an error message, a nickname, a date) made safe to show,
    store and log: one line, no control or format characters, no base64/hex run of 24
    characters or more, at most ``max_length`` characters."""
    if not value:
        return ""
    kept = "".join(
        " " if unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} else ch for ch in value
    )
    kept = " ".join(_ENCODED_RUN.sub(_encoded_run, kept).split())
    if len(kept) > max_length:
        kept = kept[: max_length - 1] + "…"
    return kept
