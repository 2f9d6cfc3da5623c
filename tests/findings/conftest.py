"""Fixtures for findings: inventory records holding crafted certificates, stored the way a
lookup stores them (``inventory_store``), so every column the checks read is the real one."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.certificates import make_ca, make_key, make_leaf

PRODUCT = "a1Fleet0001"
_names = itertools.count(1)
# Each device its own key by default (key.shared finds any two that share one).
_key_slots = itertools.count(100)


def healthy_leaf(*, key_type: str = "ec", key_slot: int | None = None, **validity):
    """A device certificate with nothing wrong: issued by the fleet's CA (``fleet_ca``) with the
    key identifiers RFC 5280 asks for, and a key of its own (P-256) unless ``key_slot`` names
    one. ``validity``: ``not_before``, ``not_after``."""
    from cryptography import x509

    ca = make_ca(key_slot=2)
    key_slot = next(_key_slots) if key_slot is None else key_slot
    key = make_key(key_type, key_slot)
    extensions = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), False),
    ]
    return make_leaf(
        ca, key_type=key_type, key_slot=key_slot, extensions=extensions, **validity
    ).cert


@pytest.fixture
def fleet_ca(dashboard_iot, settings, tmp_path):
    """The configured CA bundle holds the fleet's CA (``make_ca(key_slot=2)``)."""
    from cryptography.hazmat.primitives import serialization

    ca = make_ca(key_slot=2)
    bundle = tmp_path / "fleet-ca.pem"
    bundle.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    settings.IOT_CA_BUNDLE = str(bundle)
    return ca


@pytest.fixture
def store(db, fleet_ca):
    """``store(cert=None, device_status="ONLINE", status=2, **where)``: the inventory record of
    a new device (``dev-0001``…, or ``device_name=``) holding ``cert`` (an x509.Certificate; a
    fresh self-signed leaf by default), as a lookup and a listing would store it. Returns the
    record."""
    from cryptography.hazmat.primitives import serialization

    from certadmin.devices.inventory import inventory_store
    from certadmin.iot.results import CertStatus, DeviceCert, DeviceListing

    def make(
        cert=None,
        *,
        device_status: str = "ONLINE",
        status: int = 2,
        product_key: str = PRODUCT,
        device_name: str | None = None,
        account: str = "",
    ):
        name = device_name or f"dev-{next(_names):04d}"
        if status == 2 and cert is None:
            cert = healthy_leaf()
        text = cert.public_bytes(serialization.Encoding.PEM).decode() if status == 2 else ""
        return inventory_store(
            result=DeviceCert(
                product_key=product_key,
                device_name=name,
                iot_instance_id=None,
                status=CertStatus(status),
                cert_sn="1",
                certificate=text,
                private_key="",
                request_id="R1",
            ),
            key_matches=None,
            listing=DeviceListing(name, "", device_status, "iot-1", ""),
            account=account,
        )

    return make


def days(n: float) -> timedelta:
    return timedelta(days=n)


def now() -> datetime:
    return datetime.now(UTC)


def leaf_expiring_in(delta: timedelta, **kwargs):
    """A certificate whose notAfter is ``delta`` from now (negative: expired)."""
    moment = now()
    return healthy_leaf(not_before=moment - days(30), not_after=moment + delta, **kwargs)


@pytest.fixture
def run():
    """``run(**scope)``: one findings run (``findings_run``), returning its summary."""
    from certadmin.findings.runs import findings_run

    return findings_run


def open_codes(device_name: str) -> dict[str, int]:
    """The device's open findings: code (and subject, when any) -> severity."""
    from certadmin.findings.models import Finding

    return {
        f"{code}:{subject}" if subject else code: severity
        for code, subject, severity in Finding.objects.filter(
            device_name=device_name, closed_at__isnull=True
        ).values_list("code", "subject", "severity")
    }
