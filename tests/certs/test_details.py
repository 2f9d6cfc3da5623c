"""Describing a certificate for display: names, key, extensions, validity."""

import ipaddress
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    CertificatePoliciesOID,
    ExtendedKeyUsageOID,
    NameOID,
)

from certadmin.certs.der import certificate_name_ders
from certadmin.certs.details import (
    UNKNOWN_EXTENSION,
    NameAttribute,
    Validity,
    certificate_details,
    expiry_days_left,
)
from certadmin.certs.fingerprints import public_key_sha256
from certadmin.certs.loading import (
    load_certificate,
)
from tests.support.certificates import make_key, make_leaf, name


def _ext(details, name_: str):
    return next(ext for ext in details.extensions if ext.name == name_)


def _rows(details, name_: str) -> list[tuple[str, str]]:
    """An extension's rows as English text (its words are Phrases the pages translate)."""
    return [(str(label), str(value)) for label, value in _ext(details, name_).values]


# --------------------------------------------------------------------- details


def test_rsa_leaf_details(ca, rsa_leaf):
    details = certificate_details(rsa_leaf.cert)
    assert details.subject == [
        NameAttribute("C", NameOID.COUNTRY_NAME.dotted_string, "CN"),
        NameAttribute("O", NameOID.ORGANIZATION_NAME.dotted_string, "Alibaba Cloud IoT"),
        NameAttribute("CN", NameOID.COMMON_NAME.dotted_string, "Alibaba Cloud IoT Certificate"),
    ]
    assert details.subject_text == "CN=Alibaba Cloud IoT Certificate,O=Alibaba Cloud IoT,C=CN"
    assert details.issuer_text == ca.cert.subject.rfc4514_string()
    assert details.public_key_algorithm == "RSA"
    assert details.public_key_size == 2048
    assert details.public_key_curve is None
    assert details.signature_algorithm == "sha256WithRSAEncryption"
    assert details.sha256_fingerprint == rsa_leaf.cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert len(details.sha1_fingerprint) == 20 * 3 - 1
    assert details.public_key_sha256 == public_key_sha256(rsa_leaf.key)
    assert details.serial_decimal == str(rsa_leaf.cert.serial_number)
    assert int(details.serial_hex.replace(":", ""), 16) == rsa_leaf.cert.serial_number
    assert details.not_before.tzinfo is not None
    assert details.not_after == rsa_leaf.cert.not_valid_after_utc
    assert details.version == "v3"
    assert details.is_ca is False
    assert load_certificate(details.pem) == rsa_leaf.cert


def test_ec_leaf_details(ec_leaf):
    details = certificate_details(ec_leaf.cert)
    assert (details.public_key_algorithm, details.public_key_size) == ("EC", 256)
    assert details.public_key_curve == "secp256r1"
    assert details.signature_algorithm == "sha256WithRSAEncryption"  # signed by the RSA CA


def test_self_signed_ec_and_ed25519_signature_algorithms():
    ec_cert = make_leaf(key_type="ec").cert
    ed_cert = make_leaf(key_type="ed25519").cert
    assert certificate_details(ec_cert).signature_algorithm == "ecdsa-with-SHA256"
    ed = certificate_details(ed_cert)
    assert ed.signature_algorithm == "ed25519"
    assert (ed.public_key_algorithm, ed.public_key_size, ed.public_key_curve) == (
        "Ed25519",
        256,
        None,
    )


def test_ca_details(ca):
    details = certificate_details(ca.cert)
    assert details.is_ca is True
    assert _rows(details, "Basic constraints") == [("CA", "Yes"), ("Path length", "0")]
    assert _rows(details, "Key usage") == [("Usages", "Certificate sign, CRL sign")]


def test_serial_hex_is_colon_separated_uppercase_pairs():
    cert = make_leaf(serial_number=0x102AB).cert
    details = certificate_details(cert)
    assert details.serial_hex == "01:02:AB"
    assert details.serial_decimal == "66219"


def test_html_in_subject_is_decoded_verbatim():
    hostile = "<script>alert(1)</script>"
    cert = make_leaf(subject=name(hostile, organization='"&<b>')).cert
    details = certificate_details(cert)
    assert details.subject[-1].value == hostile
    assert details.subject[0].value == '"&<b>'
    # RFC 4514 escaping (backslashes), not HTML escaping: that stays the template's job
    assert details.subject_text == 'CN=\\<script\\>alert(1)\\</script\\>,O=\\"&\\<b\\>'


def test_unusual_name_attributes_get_readable_labels():
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, "ops@example.com"),
            x509.NameAttribute(x509.ObjectIdentifier("1.2.3.4.5"), "custom"),
            x509.NameAttribute(NameOID.COMMON_NAME, "device"),
        ]
    )
    details = certificate_details(make_leaf(subject=subject).cert)
    assert [(a.label, a.value) for a in details.subject] == [
        ("emailAddress", "ops@example.com"),
        ("1.2.3.4.5", "custom"),
        ("CN", "device"),
    ]


@pytest.fixture(scope="module")
def many_extensions(ca):
    key = make_key("rsa", 0)
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca.key.public_key())
    other_name = x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), b"\x0c\x03a@b")
    extensions = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        ),
        (
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, x509.ObjectIdentifier("1.2.3.4.99")]
            ),
            False,
        ),
        (
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("device.example.com"),
                    x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
                    x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
                    x509.UniformResourceIdentifier("urn:device:42"),
                    x509.RFC822Name("ops@example.com"),
                    x509.DirectoryName(name("dir", organization="Org")),
                    x509.RegisteredID(x509.ObjectIdentifier("1.2.3.4")),
                    other_name,
                ]
            ),
            False,
        ),
        (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
        (x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), False),
        (
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier("http://crl.example.com/ca.crl")],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            False,
        ),
        (
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier("http://ocsp.example.com"),
                    ),
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier("http://ca.example.com/ca.crt"),
                    ),
                ]
            ),
            False,
        ),
        (
            x509.CertificatePolicies(
                [
                    x509.PolicyInformation(
                        x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"),
                        [
                            "https://example.com/cps",
                            x509.UserNotice(None, "Test policy"),
                        ],
                    ),
                    x509.PolicyInformation(CertificatePoliciesOID.ANY_POLICY, None),
                ]
            ),
            False,
        ),
        (
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.7"), b"\x05\x00"),
            False,
        ),
        (
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.8"), b"\xab" * 200),
            True,
        ),
    ]
    return certificate_details(make_leaf(ca, extensions=extensions).cert)


def test_extension_names_and_criticality(many_extensions):
    assert [(e.name, e.critical) for e in many_extensions.extensions] == [
        ("Basic constraints", True),
        ("Key usage", True),
        ("Extended key usage", False),
        ("Subject alternative name", False),
        ("Subject key identifier", False),
        ("Authority key identifier", False),
        ("CRL distribution points", False),
        ("Authority information access", False),
        ("Certificate policies", False),
        (UNKNOWN_EXTENSION, False),
        (UNKNOWN_EXTENSION, True),
    ]


def test_basic_and_key_usage_rows(many_extensions):
    assert _rows(many_extensions, "Basic constraints") == [
        ("CA", "No"),
        ("Path length", "none"),
    ]
    assert _rows(many_extensions, "Key usage") == [
        ("Usages", "Digital signature, Key encipherment")
    ]


def test_extended_key_usage_rows(many_extensions):
    assert _rows(many_extensions, "Extended key usage") == [
        ("Purpose", "TLS client authentication (1.3.6.1.5.5.7.3.2)"),
        ("Purpose", "1.2.3.4.99"),
    ]


def test_subject_alternative_name_rows_have_types(many_extensions):
    assert _rows(many_extensions, "Subject alternative name") == [
        ("DNS", "device.example.com"),
        ("IP", "192.0.2.7"),
        ("IP", "2001:db8::1"),
        ("URI", "urn:device:42"),
        ("Email", "ops@example.com"),
        ("Directory name", "CN=dir,O=Org"),
        ("Registered ID", "1.2.3.4"),
        ("Other name (1.3.6.1.4.1.311.20.2.3)", "a@b"),
    ]


def test_key_identifier_rows(ca, many_extensions):
    ski = _rows(many_extensions, "Subject key identifier")
    assert str(ski[0][0]) == "Key ID"
    assert len(ski[0][1].split(":")) == 20
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca.key.public_key())
    assert _rows(many_extensions, "Authority key identifier") == [
        ("Key ID", ca_ski.digest.hex(":").upper())
    ]


def test_access_and_distribution_rows(many_extensions):
    assert _rows(many_extensions, "CRL distribution points") == [
        ("URI", "http://crl.example.com/ca.crl")
    ]
    assert _rows(many_extensions, "Authority information access") == [
        ("OCSP", "http://ocsp.example.com"),
        ("CA issuers", "http://ca.example.com/ca.crt"),
    ]


def test_certificate_policy_rows(many_extensions):
    assert _rows(many_extensions, "Certificate policies") == [
        ("Policy", "1.3.6.1.4.1.99999.1"),
        ("CPS", "https://example.com/cps"),
        ("User notice", "Test policy"),
        ("Policy", "Any policy (2.5.29.32.0)"),
    ]


def test_unknown_extensions_show_truncated_hex(many_extensions):
    short, long = [e for e in many_extensions.extensions if e.name == UNKNOWN_EXTENSION]
    assert short.oid == "1.3.6.1.4.1.99999.7"
    assert [(str(label), value) for label, value in short.values] == [("Value (DER, hex)", "05:00")]
    label, value = long.values[0]
    assert str(label) == "Value (DER, hex)"
    assert value.startswith("AB:AB:")
    assert value.endswith("(200 B)")
    assert value.count("AB") == 64


def _patched_certificate(ca, replacements: list[tuple[bytes, bytes]]) -> x509.Certificate:
    """A certificate whose DER was edited after signing, to produce what builders refuse."""
    placeholder = x509.ObjectIdentifier("2.5.29.99")  # same encoded length as 2.5.29.x
    extensions = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.UnrecognizedExtension(placeholder, b"\x30\x03\x01\x01\xff"), False),
    ]
    der = make_leaf(ca, extensions=extensions).cert.public_bytes(serialization.Encoding.DER)
    for old, new in replacements:
        assert der.count(old) == 1
        der = der.replace(old, new)
    return x509.load_der_x509_certificate(der)


def test_duplicate_extensions_are_reported_not_raised(ca):
    # 2.5.29.99 -> 2.5.29.19: a second Basic constraints extension
    cert = _patched_certificate(ca, [(b"\x06\x03\x55\x1d\x63", b"\x06\x03\x55\x1d\x13")])
    details = certificate_details(cert)
    error, first, second = details.extensions
    assert error.name == "Extensions could not be decoded"
    assert str(error.values[0][0]) == "Error"
    assert (first.name, first.oid, first.critical) == ("Basic constraints", "2.5.29.19", True)
    assert (second.name, second.critical) == ("Basic constraints", False)
    assert [(str(label), value) for label, value in second.values] == [
        ("Value (DER, hex)", "30:03:01:01:FF")
    ]
    assert details.is_ca is False


def test_malformed_known_extension_is_reported_not_raised(ca):
    # 2.5.29.99 -> 2.5.29.15 (Key usage) carrying a SEQUENCE instead of a BIT STRING
    cert = _patched_certificate(ca, [(b"\x06\x03\x55\x1d\x63", b"\x06\x03\x55\x1d\x0f")])
    details = certificate_details(cert)
    assert details.extensions[0].name == "Extensions could not be decoded"
    assert [e.name for e in details.extensions[1:]] == ["Basic constraints", "Key usage"]
    assert details.subject_text  # the rest of the page still decodes


# --------------------------------------------------------------------- validity


@pytest.mark.parametrize(
    ("not_before", "not_after", "state", "days", "until", "since"),
    [
        (timedelta(days=-10), timedelta(days=100, hours=1), "valid", 100, 100, 0),
        (timedelta(days=-10), timedelta(days=30), "expiring", 30, 30, 0),
        # "30 days left" is expiring, as the inventory's 8–30 days window counts it.
        (timedelta(days=-10), timedelta(days=30, hours=23), "expiring", 30, 30, 0),
        (timedelta(days=-10), timedelta(days=31), "valid", 31, 31, 0),
        (timedelta(days=-10), timedelta(days=5, hours=1), "expiring", 5, 5, 0),
        (timedelta(days=-10), timedelta(0), "expiring", 0, 0, 0),  # notAfter is inclusive
        (timedelta(days=-10), timedelta(days=-3, hours=1), "expired", 0, 0, 2),
        (timedelta(days=-10), timedelta(hours=-1), "expired", 0, 0, 0),
        (timedelta(days=-40), timedelta(days=-30, minutes=-5), "expired", 0, 0, 30),
        (timedelta(days=7, hours=1), timedelta(days=100), "not_yet_valid", 7, 100, 0),
    ],
)
def test_validity_states_and_whole_days(not_before, not_after, state, days, until, since):
    now = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    cert = make_leaf(not_before=now + not_before, not_after=now + not_after).cert
    validity = certificate_details(cert).validity(now)
    assert validity.state == state
    assert (validity.days, validity.days_until_expiry, validity.days_since_expiry) == (
        days,
        until,
        since,
    )


MICRO = timedelta(microseconds=1)
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("now_minus_not_after", "days_left", "state"),
    [
        (timedelta(0), 0, "expiring"),  # exactly at notAfter: still valid (RFC 5280)
        (-MICRO, 0, "expiring"),
        (MICRO, 0, "expired"),  # just past it: expired, and 0 whole days ago
        (DAY - MICRO, 0, "expired"),
        (DAY, -1, "expired"),
        (DAY + MICRO, -1, "expired"),
        (-DAY + MICRO, 0, "expiring"),
        (-DAY, 1, "expiring"),
        (-DAY - MICRO, 1, "expiring"),
        (timedelta(days=2, hours=1), -2, "expired"),  # "2 days ago", not 3
        (-timedelta(days=2, hours=23), 2, "expiring"),  # "2 days left", not 3
        (timedelta(days=30, minutes=3), -30, "expired"),
    ],
)
def test_days_left_counts_whole_days_toward_zero_at_the_boundaries(
    now_minus_not_after, days_left, state
):
    # UTC has no DST: a day is 24 hours whatever the date.
    not_after = datetime(2030, 3, 31, 1, 30, tzinfo=UTC)
    now = not_after + now_minus_not_after

    assert expiry_days_left(not_after=not_after, now=now) == days_left
    validity = Validity(state, now, not_after - timedelta(days=400), not_after)
    # The certificate page counts the same days, without a sign.
    assert validity.days_until_expiry == max(days_left, 0)
    assert validity.days_since_expiry == (-days_left if state == "expired" else 0)


def test_certificate_page_validity_agrees_with_the_rule_just_either_side_of_not_after():
    not_after = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    cert = make_leaf(not_before=not_after - timedelta(days=400), not_after=not_after).cert
    details = certificate_details(cert)

    at = details.validity(not_after)
    after = details.validity(not_after + MICRO)

    assert (at.state, at.days_until_expiry, at.days_since_expiry) == ("expiring", 0, 0)
    assert (after.state, after.days_until_expiry, after.days_since_expiry) == ("expired", 0, 0)


def test_expired_days_count_whole_days_since_not_after_not_one_more():
    # 30 days and a few minutes ago is "30 days ago": the count must not round away from zero.
    now = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    not_after = now - timedelta(days=30, minutes=3)
    cert = make_leaf(not_before=now - timedelta(days=400), not_after=not_after).cert

    validity = certificate_details(cert).validity(now)

    assert validity.days_since_expiry == 30 == (now - not_after).days


def test_validity_counts_from_utc_whatever_the_zone_of_now(rsa_leaf):
    details = certificate_details(rsa_leaf.cert)
    moment = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    elsewhere = moment.astimezone(timezone(timedelta(hours=8)))
    assert details.validity(elsewhere) == details.validity(moment)


def test_validity_requires_an_aware_datetime(rsa_leaf):
    with pytest.raises(ValueError, match="timezone-aware"):
        certificate_details(rsa_leaf.cert).validity(datetime(2030, 1, 1))


# --------------------------------------------------------------------- what a sync reads


def test_name_ders_are_the_issuer_and_subject_as_encoded(ca, rsa_leaf, ec_leaf):
    for cert in (ca.cert, rsa_leaf.cert, ec_leaf.cert):
        der = cert.public_bytes(serialization.Encoding.DER)
        assert certificate_name_ders(der) == (
            cert.issuer.public_bytes(),
            cert.subject.public_bytes(),
        )
    assert certificate_name_ders(b"\x30\x03\x02\x01") is None
    assert certificate_name_ders(b"") is None


def test_names_are_told_apart_by_their_der(ca):
    leaves = [make_leaf(ca, subject=name(f"device-{n}", organization="Fleet")) for n in range(3)]
    for _ in range(2):  # the second round reads what the first one worked out
        texts = [certificate_details(leaf.cert).subject_text for leaf in leaves]
        assert texts == [leaf.cert.subject.rfc4514_string() for leaf in leaves]
        assert len(set(texts)) == 3


def test_what_the_inventory_stores_is_read_without_describing_the_rest(rsa_leaf, now):
    details = certificate_details(rsa_leaf.cert)
    stored = (
        details.sha256_fingerprint,
        details.serial_hex,
        details.subject_text,
        details.issuer_text,
        details.pem,
        details.validity(now).state,
    )
    assert all(stored)
    worked_out = set(vars(details))
    assert not worked_out & {"_extensions_and_ca", "_public_key", "subject", "issuer"}
    # Still there when the certificate page reads them.
    assert details.extensions
    assert details.public_key_algorithm == "RSA"
