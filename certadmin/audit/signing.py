"""The Ed25519 key pair that signs audit exports and checkpoints (no Django: settings import it).

The chain's HMAC keys (``certadmin.audit.hmac_keys``) must be held by whoever verifies rows, so a
statement sealed with them proves nothing to a verifier: they could have written it. Export
manifests and checkpoints are therefore signed with an Ed25519 private key that lives only where
they are made (the dashboard, ``manage.py audit_checkpoint``), and checked with public keys that
may be handed to anyone:

- ``CERTADMIN_AUDIT_SIGNING_KEY="kid:<key>"``: the private key, 32 bytes in hex or base64;
- ``CERTADMIN_AUDIT_PUBLIC_KEYS="kid:<key>,..."``: raw 32-byte public keys, same encodings. The
  signing key's public half is trusted without being listed; rotating means making a new pair
  under a new kid and keeping the old kid's public key listed while its exports and
  checkpoints matter.

``manage.py audit_signing_keygen`` prints a fresh pair. Error messages name a kid, never a key.
"""

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from certadmin.audit.hmac_keys import KEY_ID, _decode

KEY_BYTES = 32
SIGNATURE_ALGORITHM = "Ed25519"


@dataclass(frozen=True)
class SigningKey:
    """The private key that signs, and the id verifiers find its public half under."""

    key_id: str
    private_key: Ed25519PrivateKey = field(repr=False)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()


def audit_signing_key_parse(text: str) -> SigningKey | None:
    """The ``kid:key`` private key, or None for an empty text.

    Raises ``ValueError`` for a malformed kid or a key that is not 32 bytes of hex or base64.
    """
    text = text.strip()
    if not text:
        return None
    key_id, raw = _pair(text, what="audit signing key")
    return SigningKey(key_id=key_id, private_key=Ed25519PrivateKey.from_private_bytes(raw))


def audit_public_keys_parse(
    text: str, *, signing_key: SigningKey | None = None
) -> dict[str, Ed25519PublicKey]:
    """``{kid: public key}`` from ``kid:key`` pairs separated by commas, plus the signing key's
    public half under its kid.

    Raises ``ValueError`` for a malformed or duplicate kid, a key that is not 32 bytes of hex or
    base64 or not a valid Ed25519 public key, or a kid listed with another public key than the
    signing key's.
    """
    keys: dict[str, Ed25519PublicKey] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key_id, raw = _pair(item, what="audit public key")
        if key_id in keys:
            raise ValueError(f"audit public key id {key_id!r} is given twice")
        try:
            keys[key_id] = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            raise ValueError(f"audit public key {key_id!r} is not an Ed25519 public key") from None
    if signing_key is not None:
        listed = keys.get(signing_key.key_id)
        if listed is not None and public_key_bytes(listed) != public_key_bytes(
            signing_key.public_key
        ):
            raise ValueError(
                f"audit public key {signing_key.key_id!r} is not the public half of the "
                "signing key with that id"
            )
        keys[signing_key.key_id] = signing_key.public_key
    return keys


def _pair(item: str, *, what: str) -> tuple[str, bytes]:
    key_id, sep, encoded = item.partition(":")
    key_id, encoded = key_id.strip(), encoded.strip()
    if not sep or not KEY_ID.fullmatch(key_id):
        raise ValueError(f"each {what} is kid:key, the kid 1-32 letters, digits, '_', '.' or '-'")
    raw = _decode(encoded)
    if raw is None or len(raw) != KEY_BYTES:
        raise ValueError(f"{what} {key_id!r} must be hex or base64 of exactly {KEY_BYTES} bytes")
    return key_id, raw


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    """The raw 32 bytes of a public key (how ``CERTADMIN_AUDIT_PUBLIC_KEYS`` gives it)."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def signature_make(data: bytes, *, key: SigningKey) -> str:
    """The Ed25519 signature of ``data``, as lowercase hex."""
    return key.private_key.sign(data).hex()


def signature_ok(
    data: bytes,
    *,
    signature: object,
    key_id: object,
    public_keys: Mapping[str, Ed25519PublicKey],
) -> bool:
    """True when ``signature`` (hex) is a valid Ed25519 signature of ``data`` under the public key
    trusted as ``key_id``; False for an unknown kid or anything malformed."""
    if not isinstance(key_id, str) or not isinstance(signature, str):
        return False
    public_key = public_keys.get(key_id)
    if public_key is None:
        return False
    try:
        public_key.verify(bytes.fromhex(signature), data)
    except (InvalidSignature, ValueError):
        return False
    return True


def signing_key_pair_generate(*, key_id: str) -> tuple[str, str]:
    """A fresh pair as the two environment values: ``kid:<private, base64>`` and
    ``kid:<public, base64>``."""
    if not KEY_ID.fullmatch(key_id):
        raise ValueError("a key id is 1-32 letters, digits, '_', '.' or '-'")
    private_key = Ed25519PrivateKey.generate()
    private = private_key.private_bytes_raw()
    public = public_key_bytes(private_key.public_key())
    return (
        f"{key_id}:{base64.b64encode(private).decode()}",
        f"{key_id}:{base64.b64encode(public).decode()}",
    )
