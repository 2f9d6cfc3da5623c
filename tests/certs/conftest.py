"""Fixtures for the X.509 core: a CA and leaves of each key type, built once per session."""

from datetime import UTC, datetime

import pytest

from tests.support.certificates import Issued, make_ca, make_leaf


@pytest.fixture(scope="session")
def ca() -> Issued:
    """An RSA CA shaped like Alibaba Cloud IoT Operation CA1."""
    return make_ca()


@pytest.fixture(scope="session")
def rsa_leaf(ca: Issued) -> Issued:
    """An RSA 2048 device certificate issued by ``ca``, shaped like the real ones."""
    return make_leaf(ca, key_type="rsa")


@pytest.fixture(scope="session")
def ec_leaf(ca: Issued) -> Issued:
    """An EC P-256 device certificate issued by ``ca``."""
    return make_leaf(ca, key_type="ec")


@pytest.fixture(scope="session")
def ed25519_leaf(ca: Issued) -> Issued:
    """An Ed25519 device certificate issued by ``ca``."""
    return make_leaf(ca, key_type="ed25519")


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)
