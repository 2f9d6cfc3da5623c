"""The audit chain's keys, as the operator configures them (no Django here: settings import it).

``CERTADMIN_AUDIT_KEYS="kid1:<secret>,kid2:<secret>"`` names every key that sealed rows still in
the trail; ``CERTADMIN_AUDIT_KEY_ID`` says which one seals new rows and checkpoints. A secret is
hex (an even number of 0-9a-f) or base64 (standard or URL-safe, padding optional) and decodes to
at least ``MIN_KEY_BYTES`` bytes. Rotating means adding a kid and switching the active id; old
rows keep verifying with the kid they carry. Error messages name a kid, never a secret.
"""

import base64
import binascii
import itertools
import math
import re
from collections import Counter

MIN_KEY_BYTES = 32
# The demo's audit key: public (it is in the source), so it seals nothing in
# production, under whatever kid and in whatever encoding it is configured.
DEMO_AUDIT_KEY = b"certadmin demo audit key, public, demo only!"
# 32 random bytes show about 30 different values and about 30 different steps between neighbours;
# fewer than 16 happens by chance with a probability far below 2**-100.
_MIN_DISTINCT = 16
# A run of 8 equal bytes (a short key padded with zeros) comes by chance with odds about 2**-51.
_MAX_RUN = 8
# A key made only of printable text (a password, a phrase, hex typed twice) must carry this
# much by the estimate below: as much as the 32 random bytes a generated key holds.
_MIN_TEXT_BITS = 256
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | frozenset(b"\t\n\r")
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


def audit_key_weakness(secret: bytes) -> str | None:
    """Why ``secret`` is no secret, or ``None`` for a key that looks random.

    Refused: the public demo key; fewer than 16 different byte values (all zeros, one repeated
    character); a short pattern repeated (``abab…``, a word over and over); a run of 8 equal
    bytes (a short key padded with zeros); a simple sequence
    (fewer than 16 different steps between neighbouring bytes: ``00 01 02 …``); printable text
    whose estimated strength (length × Shannon entropy per character) is under 256 bits.
    The reason names the rule, never the key. A key from ``openssl rand -hex 32`` (or
    ``secrets.token_hex(32)``) is never refused; nothing here can tell a random-looking key an
    attacker also knows.
    """
    if secret == DEMO_AUDIT_KEY:
        return "is the public demo key"
    distinct = len(set(secret))
    if distinct < _MIN_DISTINCT:
        return f"has only {distinct} different byte values"
    if _shortest_period(secret) <= len(secret) // 2:
        return "repeats a short pattern"
    if _longest_run(secret) >= _MAX_RUN:
        return f"has a run of {_MAX_RUN} or more equal bytes (padding?)"
    steps = {(b - a) % 256 for a, b in itertools.pairwise(secret)}
    if len(steps) < _MIN_DISTINCT:
        return "is a simple sequence of bytes"
    if set(secret) <= _TEXT_BYTES:
        bits = len(secret) * _shannon_bits_per_byte(secret)
        if bits < _MIN_TEXT_BITS:
            return f"is text worth about {int(bits)} bits, not {_MIN_TEXT_BITS} random bits"
    return None


def audit_keys_weakness(keys: dict[str, bytes]) -> str | None:
    """One sentence naming every key of ``keys`` that ``audit_key_weakness`` refuses (by kid and
    reason, never the key), or ``None`` when every key looks random."""
    weak = [
        f"audit key {kid!r} {reason}"
        for kid, secret in keys.items()
        if (reason := audit_key_weakness(secret))
    ]
    if not weak:
        return None
    return "; ".join(weak) + ". Generate each key with `openssl rand -hex 32`."


def _shortest_period(data: bytes) -> int:
    """The least p such that data[i] == data[i - p] for every i >= p (len(data) if none)."""
    # Knuth-Morris-Pratt failure function: the period is the length minus the longest border.
    border = [0] * len(data)
    for i in range(1, len(data)):
        k = border[i - 1]
        while k and data[i] != data[k]:
            k = border[k - 1]
        border[i] = k + 1 if data[i] == data[k] else 0
    return len(data) - (border[-1] if data else 0)


def _longest_run(data: bytes) -> int:
    longest = run = 0
    for i, byte in enumerate(data):
        run = run + 1 if i and byte == data[i - 1] else 1
        longest = max(longest, run)
    return longest


def _shannon_bits_per_byte(data: bytes) -> float:
    counts = Counter(data)
    return -sum(n / len(data) * math.log2(n / len(data)) for n in counts.values())


def _decode(encoded: str) -> bytes | None:
    if _HEX.fullmatch(encoded):
        return bytes.fromhex(encoded)
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
