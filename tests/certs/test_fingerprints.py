"""Naming a key pair by hash and telling whether a key fits a certificate."""

import pytest

from certadmin.certs.fingerprints import private_key_matches, public_key_sha256
from certadmin.certs.loading import load_private_key
from tests.support.certificates import make_key


def test_public_key_sha256_is_the_same_for_cert_public_and_private_key(ec_leaf):
    value = public_key_sha256(ec_leaf.cert)
    assert value == public_key_sha256(ec_leaf.key) == public_key_sha256(ec_leaf.key.public_key())
    assert len(value) == 64
    assert value == value.lower()


def test_public_key_sha256_rejects_other_objects():
    with pytest.raises(TypeError):
        public_key_sha256("not a key")


def test_private_key_matches_only_its_certificate(rsa_leaf, ec_leaf, ed25519_leaf):
    assert private_key_matches(rsa_leaf.cert, rsa_leaf.key)
    assert private_key_matches(ed25519_leaf.cert, ed25519_leaf.key)
    assert not private_key_matches(rsa_leaf.cert, ec_leaf.key)
    assert not private_key_matches(rsa_leaf.cert, make_key("rsa", 2))
    assert not private_key_matches(rsa_leaf.cert, "garbage")


def _rsa_der_with(key, **changes) -> bytes:
    """``key`` as PKCS#1 DER with some private numbers replaced (the public ones kept)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    numbers = key.private_numbers()
    fields = {
        name: getattr(numbers, name) for name in ("p", "q", "d", "dmp1", "dmq1", "iqmp")
    } | changes
    # Build the DER by hand: cryptography refuses to construct inconsistent numbers.
    public = numbers.public_numbers
    values = [0, public.n, public.e, fields["d"], fields["p"], fields["q"]]
    values += [fields["dmp1"], fields["dmq1"], fields["iqmp"]]
    assert isinstance(key, rsa.RSAPrivateKey)
    return _der_sequence(values)


def _der_sequence(integers: list[int]) -> bytes:
    def length(n: int) -> bytes:
        if n < 0x80:
            return bytes([n])
        raw = n.to_bytes((n.bit_length() + 7) // 8)
        return bytes([0x80 | len(raw)]) + raw

    body = b""
    for value in integers:
        raw = value.to_bytes(value.bit_length() // 8 + 1)  # a leading 0 keeps it positive
        body += b"\x02" + length(len(raw)) + raw
    return b"\x30" + length(len(body)) + body


@pytest.mark.parametrize("pkcs", ["pkcs8", "traditional"])
def test_unvalidated_keys_match_their_certificate_and_no_other(rsa_leaf, ec_leaf, pkcs):
    """The sync loads keys without OpenSSL's RSA check (issue 24): the answer is the same."""
    for leaf, other in ((rsa_leaf, ec_leaf), (ec_leaf, rsa_leaf)):
        key = load_private_key(leaf.key_pem(pkcs=pkcs), validate=False)
        assert private_key_matches(leaf.cert, key)
        assert not private_key_matches(other.cert, key)
    foreign_rsa = load_private_key(_pem(make_key("rsa", 2)), validate=False)
    foreign_ec = load_private_key(_pem(make_key("ec", 2)), validate=False)
    assert not private_key_matches(rsa_leaf.cert, foreign_rsa)
    assert not private_key_matches(ec_leaf.cert, foreign_ec)


@pytest.mark.parametrize(
    "damage",
    [
        lambda n: {"d": n.d + 2},
        lambda n: {"dmp1": n.dmp1 ^ 1},
        lambda n: {"dmq1": n.dmq1 ^ 1},
        lambda n: {"iqmp": n.iqmp ^ 1},
        lambda n: {"p": n.p + 2},
    ],
    ids=["d", "dmp1", "dmq1", "iqmp", "p"],
)
def test_an_rsa_key_with_the_certificates_modulus_but_damaged_numbers_does_not_match(
    rsa_leaf, damage
):
    from cryptography.hazmat.primitives import serialization

    der = _rsa_der_with(rsa_leaf.key, **damage(rsa_leaf.key.private_numbers()))
    try:
        key = serialization.load_der_private_key(
            der, password=None, unsafe_skip_rsa_key_validation=True
        )
    except ValueError:
        return  # refused while loading: never judged a match either
    assert not private_key_matches(rsa_leaf.cert, key)


def test_key_matches_certificate_answers_for_rsa_ec_and_a_mismatch(rsa_leaf, ec_leaf):
    from certadmin.devices.inventory import key_matches_certificate

    assert key_matches_certificate(rsa_leaf.cert, rsa_leaf.key_pem(pkcs="traditional"))
    assert key_matches_certificate(ec_leaf.cert, ec_leaf.key_pem())
    assert key_matches_certificate(rsa_leaf.cert, ec_leaf.key_pem()) is False
    assert key_matches_certificate(rsa_leaf.cert, _pem(make_key("rsa", 2))) is False
    assert key_matches_certificate(rsa_leaf.cert, "not a key") is None
    assert key_matches_certificate(None, rsa_leaf.key_pem()) is None


def _pem(key) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
