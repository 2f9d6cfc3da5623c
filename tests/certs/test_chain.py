from datetime import UTC, datetime, timedelta

import pytest

from certadmin.certs.chain import check_chain
from certadmin.certs.loading import CertificateDecodeError, load_ca_bundle

from .factories import make_ca, make_leaf, name

NOW = datetime(2030, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def chain_ca():
    return make_ca(not_before=NOW - timedelta(days=365), not_after=NOW + timedelta(days=3650))


def _leaf(ca, **validity):
    validity.setdefault("not_before", NOW - timedelta(days=1))
    validity.setdefault("not_after", NOW + timedelta(days=365))
    return make_leaf(ca, **validity)


def test_leaf_signed_by_bundled_ca_is_verified(chain_ca):
    leaf = _leaf(chain_ca)
    result = check_chain(leaf.cert, [chain_ca.cert], NOW)
    assert result.status == "verified"
    assert result.issuer == chain_ca.cert


def test_issuer_missing_from_bundle_is_unverified(chain_ca):
    other = make_ca(subject=name("Some other CA"), key_slot=3)
    result = check_chain(_leaf(chain_ca).cert, [other.cert], NOW)
    assert result.status == "unverified"
    assert result.issuer is None
    assert result.reason == "issuer not in the configured CA bundle"
    assert check_chain(_leaf(chain_ca).cert, [], NOW).status == "unverified"


def test_ca_with_same_name_but_other_key_is_invalid(chain_ca):
    impostor = make_ca(key_slot=4, not_before=NOW - timedelta(days=1))
    assert impostor.cert.subject == chain_ca.cert.subject
    result = check_chain(_leaf(chain_ca).cert, [impostor.cert], NOW)
    assert result.status == "invalid"
    assert "bad signature" in result.reason


def test_right_ca_is_found_among_same_named_ones(chain_ca):
    impostor = make_ca(key_slot=4, not_before=NOW - timedelta(days=1))
    result = check_chain(_leaf(chain_ca).cert, [impostor.cert, chain_ca.cert], NOW)
    assert result.status == "verified"
    assert result.issuer == chain_ca.cert


def test_expired_leaf_is_invalid(chain_ca):
    leaf = _leaf(chain_ca, not_before=NOW - timedelta(days=30), not_after=NOW - timedelta(days=1))
    result = check_chain(leaf.cert, [chain_ca.cert], NOW)
    assert (result.status, result.reason) == ("invalid", "certificate expired")


def test_not_yet_valid_leaf_is_invalid(chain_ca):
    leaf = _leaf(chain_ca, not_before=NOW + timedelta(days=1))
    result = check_chain(leaf.cert, [chain_ca.cert], NOW)
    assert (result.status, result.reason) == ("invalid", "certificate not yet valid")


def test_expired_ca_makes_the_chain_invalid():
    old_ca = make_ca(not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1))
    leaf = _leaf(old_ca)
    result = check_chain(leaf.cert, [old_ca.cert], NOW)
    assert (result.status, result.reason) == ("invalid", "CA certificate expired")


def test_issuer_that_is_not_a_ca_is_invalid():
    not_a_ca = make_leaf(subject=name("Leaf pretending"), key_slot=5)
    fake_issued = make_leaf(
        type("Issuer", (), {"cert": not_a_ca.cert, "key": not_a_ca.key})(),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=1),
    )
    result = check_chain(fake_issued.cert, [not_a_ca.cert], NOW)
    assert (result.status, result.reason) == ("invalid", "issuer certificate is not a CA")


def test_ca_bundle_loads_every_certificate_and_ignores_other_blocks(chain_ca, rsa_leaf):
    other = make_ca(subject=name("Second CA"), key_slot=3)
    text = (chain_ca.cert_pem + rsa_leaf.key_pem() + other.cert_pem).replace("\n", "\r\n")
    assert load_ca_bundle(text) == [chain_ca.cert, other.cert]


def test_empty_ca_bundle_is_an_empty_list():
    assert load_ca_bundle("") == []
    assert load_ca_bundle("  \n") == []


def test_corrupt_block_in_ca_bundle_is_reported_with_its_position(chain_ca):
    corrupt = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    with pytest.raises(CertificateDecodeError, match="block 2"):
        load_ca_bundle(chain_ca.cert_pem + corrupt)
