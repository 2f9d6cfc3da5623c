"""Naming a key pair by hash and telling whether a key fits a certificate."""

import pytest

from certadmin.certs.fingerprints import private_key_matches, public_key_sha256
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
