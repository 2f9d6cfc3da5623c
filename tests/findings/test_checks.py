"""Each check on crafted certificates, stored in the inventory as a lookup stores them and
found by a real run."""

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from certadmin.findings.models import Finding, PendingGeneration
from certadmin.findings.severity import Severity
from tests.findings.conftest import days, healthy_leaf, leaf_expiring_in, now, open_codes
from tests.support.certificates import (
    ALIBABA_LEAF_SUBJECT,
    _build,
    make_ca,
    make_leaf,
    name,
    resigned_with,
)

pytestmark = pytest.mark.django_db


def test_a_healthy_online_certificate_has_no_finding(store, run):
    record = store()
    run()
    assert open_codes(record.device_name) == {}


def test_expired_is_critical_and_online_adds_its_own_finding(store, run):
    online = store(leaf_expiring_in(-days(2)))
    offline = store(leaf_expiring_in(-days(2)), device_status="OFFLINE")
    run()
    assert open_codes(online.device_name) == {
        "cert.expired": Severity.CRITICAL,
        "cert.expired_device_online": Severity.CRITICAL,
    }
    assert open_codes(offline.device_name) == {"cert.expired": Severity.CRITICAL}
    finding = Finding.objects.get(device_name=online.device_name, code="cert.expired")
    assert finding.device_online
    assert not finding.device_gateway
    assert "2 days ago" in finding.detail


def test_findings_rank_online_gateways_then_online_devices_then_gateways_then_others(store, run):
    from certadmin.devices.models import CertificateRecord, NodeType
    from certadmin.findings.selectors import RISK_ORDER

    devices = {
        "offline-device": ("OFFLINE", NodeType.DEVICE),
        "offline-gateway": ("OFFLINE", NodeType.GATEWAY),
        "online-device": ("ONLINE", NodeType.DEVICE),
        "online-gateway": ("ONLINE", NodeType.GATEWAY),
    }
    for device_name, (device_status, node_type) in devices.items():
        store(leaf_expiring_in(-days(2)), device_name=device_name, device_status=device_status)
        CertificateRecord.objects.filter(device_name=device_name).update(node_type=node_type)
    run()
    ranked = Finding.objects.filter(code="cert.expired").order_by(*RISK_ORDER)
    assert [f.device_name for f in ranked] == [
        "online-gateway",
        "online-device",
        "offline-gateway",
        "offline-device",
    ]
    assert [(f.device_online, f.device_gateway) for f in ranked] == [
        (True, True),
        (True, False),
        (False, True),
        (False, False),
    ]


@pytest.mark.parametrize(
    ("left", "window", "severity"),
    [
        (days(29), 30, Severity.LOW),
        (days(13), 14, Severity.MEDIUM),
        (days(6), 7, Severity.HIGH),
        (timedelta(hours=20), 1, Severity.CRITICAL),
    ],
)
def test_expiring_is_one_finding_for_the_tightest_window_reached(
    store, run, left, window, severity
):
    record = store(leaf_expiring_in(left))
    run()
    finding = Finding.objects.get(device_name=record.device_name)
    assert (finding.code, finding.window_days, finding.severity) == (
        "cert.expiring",
        window,
        severity,
    )


def test_windows_follow_the_settings(store, run, settings):
    settings.FINDINGS_EXPIRING_DAYS = [60]
    record = store(leaf_expiring_in(days(45)))
    run()
    assert Finding.objects.get(device_name=record.device_name).window_days == 60


def test_valid_certificate_on_disabled_or_never_activated_device(store, run):
    disabled = store(device_status="DISABLE")
    unactive = store(device_status="UNACTIVE")
    run()
    assert open_codes(disabled.device_name) == {"cert.valid_device_inactive": Severity.MEDIUM}
    assert open_codes(unactive.device_name) == {"cert.valid_device_inactive": Severity.LOW}


def test_weak_rsa_key_and_weak_ec_curve(store, run):
    from cryptography.hazmat.primitives.asymmetric import rsa

    moment = now()
    small_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weak key found
    small_ec = ec.generate_private_key(ec.SECP192R1())
    certs = [
        _build(
            subject=ALIBABA_LEAF_SUBJECT,
            issuer_name=ALIBABA_LEAF_SUBJECT,
            public_key=key.public_key(),
            signing_key=make_leaf().key,
            not_before=moment - days(1),
            not_after=moment + days(365),
            serial_number=None,
            extensions=[],
        )
        for key in (small_rsa, small_ec)
    ]
    rsa_record, ec_record = store(certs[0]), store(certs[1])
    p256 = store(healthy_leaf(key_type="ec"))
    run()
    assert open_codes(rsa_record.device_name)["key.weak:key"] == Severity.HIGH
    assert (
        "RSA 1024 bits"
        in Finding.objects.get(device_name=rsa_record.device_name, code="key.weak").detail
    )
    assert (
        "secp192r1"
        in Finding.objects.get(device_name=ec_record.device_name, code="key.weak").detail
    )
    assert "key.weak:key" not in open_codes(p256.device_name)


@pytest.mark.parametrize("hash_name", ["sha1", "md5"])
def test_sha1_and_md5_signatures_are_weak(store, run, hash_name):
    record = store(resigned_with(make_leaf(), hash_name))
    assert record.signature_hash == hash_name
    run()
    finding = Finding.objects.get(device_name=record.device_name, code="key.weak")
    assert finding.subject == "signature"
    assert hash_name.upper() in finding.detail


def test_the_same_public_key_on_two_devices(store, run):
    first = store(healthy_leaf(key_slot=7))
    second = store(healthy_leaf(key_slot=7), product_key="a1Fleet0002")
    alone = store(healthy_leaf(key_slot=8))
    run()
    for record in (first, second):
        finding = Finding.objects.get(device_name=record.device_name, code="key.shared")
        assert finding.subject == first.public_key_sha256
        assert "2 devices" in finding.detail
    assert "key.shared" not in str(open_codes(alone.device_name))


def test_chain_not_trusted_by_the_configured_ca(store, run):
    other_issuer = make_ca(key_slot=3, subject=name("Some Other CA"))
    foreign = store(make_leaf(other_issuer, key_type="ec", key_slot=30).cert)
    # The fleet CA's name, another key: a forgery or a re-keyed CA the bundle does not hold.
    impostor = store(make_leaf(make_ca(key_slot=3), key_type="ec", key_slot=31).cert)
    run()
    assert foreign.chain_status == "unverified"
    assert open_codes(foreign.device_name)["chain.untrusted"] == Severity.MEDIUM
    assert impostor.chain_status == "invalid"
    assert open_codes(impostor.device_name)["chain.untrusted"] == Severity.HIGH


def test_a_ca_of_the_bundle_expiring_within_90_days(store, run, settings, tmp_path):
    from cryptography.hazmat.primitives import serialization

    from certadmin.devices.platform import ca_bundle

    soon = make_ca(key_slot=4, not_after=now() + days(40))
    later = make_ca(key_slot=5, not_after=now() + days(400))
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(
        b"".join(c.cert.public_bytes(serialization.Encoding.PEM) for c in (soon, later))
    )
    settings.IOT_CA_BUNDLE = str(bundle)
    ca_bundle.cache_clear() if hasattr(ca_bundle, "cache_clear") else None
    run()
    findings = Finding.objects.filter(code="ca.expiring", closed_at__isnull=True)
    assert findings.count() == 1
    finding = findings.get()
    assert (finding.product_key, finding.device_name, finding.severity) == ("", "", Severity.HIGH)
    assert "39 days left" in finding.detail


def test_generation_failed_and_still_generating_after_the_configured_time(store, run, settings):
    failed = store(status=1)
    generating = store(status=0)
    run()
    assert open_codes(failed.device_name) == {"cert.generation_failed": Severity.HIGH}
    assert open_codes(generating.device_name) == {}
    # Seen generating since long ago: past the configured time.
    PendingGeneration.objects.filter(device_name=generating.device_name).update(
        since=now() - timedelta(hours=25)
    )
    run()
    assert open_codes(generating.device_name) == {"cert.generation_stuck": Severity.MEDIUM}
    settings.FINDINGS_GENERATING_HOURS = 48
    run()
    assert open_codes(generating.device_name) == {}


def test_certificate_older_than_the_configured_age(store, run, settings):
    moment = now()
    old = store(healthy_leaf(not_before=moment - days(2000), not_after=moment + days(9000)))
    run()
    assert open_codes(old.device_name) == {"cert.too_old": Severity.LOW}
    settings.FINDINGS_MAX_AGE_DAYS = 0
    run()
    assert open_codes(old.device_name) == {}


def test_rfc5280_problems_by_pkilint_each_distinct_error_once(store, run, settings):
    # No AuthorityKeyIdentifier on a CA-issued certificate: an ERROR of RFC 5280.
    record = store(make_leaf(make_ca(key_slot=3)).cert)
    run()
    lint = Finding.objects.filter(device_name=record.device_name, code="cert.lint")
    assert "pkix.authority_key_identifier_extension_absent" in set(
        lint.values_list("subject", flat=True)
    )
    assert all(f.severity == Severity.MEDIUM for f in lint)
    # WARNING-level problems only when asked for.
    assert not lint.filter(subject="pkix.certificate_skid_end_entity_missing").exists()
    settings.FINDINGS_LINT_WARNINGS = True
    run()
    warning = Finding.objects.get(
        device_name=record.device_name, subject="pkix.certificate_skid_end_entity_missing"
    )
    assert warning.severity == Severity.LOW


def test_a_certificate_is_linted_once_by_fingerprint(store, run):
    from certadmin.findings.models import LintResult

    cert = healthy_leaf(key_slot=9)
    store(cert)
    store(cert, product_key="a1Fleet0003")
    first = run()
    assert first.linted == 1
    assert LintResult.objects.count() == 1
    assert run().linted == 0


def test_lint_budget_leaves_the_rest_for_the_next_run(store, run, settings):
    settings.FINDINGS_LINT_PER_RUN = 1
    store()
    store()
    first = run()
    assert (first.linted, first.lint_deferred) == (1, 1)
    assert run().linted == 1


def test_record_not_rechecked_within_the_freshness_bound(store, run, settings):
    from certadmin.devices.models import CertificateRecord

    record = store()
    CertificateRecord.objects.filter(pk=record.pk).update(last_checked=now() - days(8))
    run()
    assert open_codes(record.device_name) == {"record.stale": Severity.LOW}
    settings.SYNC_RECHECK_DAYS = 10
    run()
    assert open_codes(record.device_name) == {}


def test_a_product_with_its_own_freshness_bound_is_stale_by_it(store, run, settings):
    from certadmin.devices.models import CertificateRecord

    record = store()
    CertificateRecord.objects.filter(pk=record.pk).update(last_checked=now() - days(4))
    run()
    assert open_codes(record.device_name) == {}  # within the default 7 days
    settings.SYNC_RECHECK_DAYS_PER_PRODUCT = {(record.account, record.product_key): 3}
    run()
    assert open_codes(record.device_name) == {"record.stale": Severity.LOW}
    run(product_key=record.product_key, account=record.account)
    assert open_codes(record.device_name) == {"record.stale": Severity.LOW}


def test_key_facts_are_stored_with_the_record(store):
    record = store(healthy_leaf(key_type="ec"))
    assert (record.key_algorithm, record.key_size, record.key_curve, record.signature_hash) == (
        "EC",
        256,
        "secp256r1",
        "sha256",
    )
    assert len(record.public_key_sha256) == 64
