"""The audit chain's keys, as the operator configures them (no Django here: settings import it).

``CERTADMIN_AUDIT_KEYS="kid1:<secret>,kid2:<secret>"`` names every key that sealed rows still in
the trail; ``CERTADMIN_AUDIT_KEY_ID`` says which one seals new rows and checkpoints. A secret is
hex (an even number of 0-9a-f) or base64 (standard or URL-safe, padding optional) and decodes to
at least ``MIN_KEY_BYTES`` bytes. Rotating means adding a kid and switching the active id; old
rows keep verifying with the kid they carry. Error messages name a kid, never a secret.
"""

import base64
import binascii
import re

MIN_KEY_BYTES = 32
KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")


def audit_keys_parse(text: str) -> dict[str, bytes]:
    """``{kid: secret bytes}`` from ``kid:secret`` pairs separated by commas.

    Raises ``ValueError`` for a malformed or duplicate kid, or a secret that does not decode to
    ``MIN_KEY_BYTES`` bytes.
    """
    keys: dict[str, bytes] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        key_id, encoded = key_id.strip(), encoded.strip()
        if not sep or not KEY_ID.fullmatch(key_id):
            raise ValueError(
                "each audit key is kid:secret, the kid 1-32 letters, digits, '_', '.' or '-'"
            )
        if key_id in keys:
            raise ValueError(f"audit key id {key_id!r} is given twice")
        secret = _decode(encoded)
        if secret is None or len(secret) < MIN_KEY_BYTES:
            raise ValueError(
                f"audit key {key_id!r} must be hex or base64 of at least {MIN_KEY_BYTES} bytes"
            )
        keys[key_id] = secret
    return keys


def _decode(encoded: str) -> bytes | None:
    if _HEX.fullmatch(encoded):
        return bytes.fromhex(encoded)
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
