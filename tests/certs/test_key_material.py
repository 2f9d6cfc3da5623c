"""The key-material matcher: each encoding of a key's secret values is found, in pieces too;
ordinary values (serials, fingerprints, UUIDs, the certificate itself, other keys) never are."""

import base64
import hashlib
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from certadmin.certs.key_material import (
    WITHHELD,
    certificate_withheld,
    is_withheld,
    key_material_matcher,
)
from tests.support.certificates import ALIBABA_LEAF_SUBJECT, make_ca, make_key, make_leaf

UNKNOWN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.55555.7")


def _der(key, fmt: str = "pkcs8") -> bytes:
    private_format = (
        serialization.PrivateFormat.PKCS8
        if fmt == "pkcs8"
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    return key.private_bytes(
        serialization.Encoding.DER, private_format, serialization.NoEncryption()
    )


def _pem(key, fmt: str = "pkcs8") -> str:
    private_format = (
        serialization.PrivateFormat.PKCS8
        if fmt == "pkcs8"
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    return key.private_bytes(
        serialization.Encoding.PEM, private_format, serialization.NoEncryption()
    ).decode()


def _hex(number: int) -> str:
    return f"{number:x}"


def _rsa():
    return make_key("rsa", 0)


def _ec():
    return make_key("ec", 0)


def _b64_lines(data: bytes, width: int = 64) -> str:
    text = base64.b64encode(data).decode()
    return "\n".join(text[i : i + width] for i in range(0, len(text), width))


RSA_VARIANTS = {
    "pem pkcs8": lambda k: _pem(k),
    "pem pkcs1": lambda k: _pem(k, "traditional"),
    "pem body without headers, CRLF": lambda k: "\r\n".join(_pem(k).splitlines()[1:-1]),
    "base64 der pkcs8 one line": lambda k: base64.b64encode(_der(k)).decode(),
    "base64 der pkcs1 with line breaks": lambda k: _b64_lines(_der(k, "traditional"), 76),
    "url-safe base64 der without padding": lambda k: (
        base64.urlsafe_b64encode(_der(k)).decode().rstrip("=")
    ),
    "a 40-character piece of the base64 der": lambda k: base64.b64encode(_der(k)).decode()[500:540],
    "hex d": lambda k: _hex(k.private_numbers().d),
    "hex d upper with leading zeros": lambda k: "0000" + _hex(k.private_numbers().d).upper(),
    "hex d mixed case": lambda k: "".join(
        ch.upper() if i % 3 else ch for i, ch in enumerate(_hex(k.private_numbers().d))
    ),
    "hex p colon pairs": lambda k: k.private_numbers().p.to_bytes(128, "big").hex(":").upper(),
    "hex q with spaces": lambda k: k.private_numbers().q.to_bytes(128, "big").hex(" "),
    "hex dP": lambda k: _hex(k.private_numbers().dmp1),
    "hex dQ": lambda k: _hex(k.private_numbers().dmq1),
    "hex qInv": lambda k: _hex(k.private_numbers().iqmp),
    "hex of the pkcs8 der upper": lambda k: _der(k).hex().upper(),
    "hex of the pkcs1 der with colons": lambda k: _der(k, "traditional").hex(":"),
    "decimal d": lambda k: str(k.private_numbers().d),
    "decimal p with thousands separators": lambda k: f"{k.private_numbers().p:,}",
    "a 30-digit piece of decimal q": lambda k: str(k.private_numbers().q)[100:130],
    "a 24-digit piece of hex d": lambda k: _hex(k.private_numbers().d)[200:224],
    "fullwidth hex of d": lambda k: _hex(k.private_numbers().d).translate(
        str.maketrans("0123456789abcdef", "０１２３４５６７８９ａｂｃｄｅｆ")
    ),
    "der bytes": lambda k: _der(k),
    "d bytes inside other bytes": lambda k: (
        b"\x04\x82" + k.private_numbers().d.to_bytes(256, "big")[10:60] + b"\x00"
    ),
}


@pytest.mark.parametrize("offset", [0, 1, 2])
def test_base64_of_a_secret_is_found_whatever_its_byte_alignment(offset):
    key = _rsa()
    piece = key.private_numbers().d.to_bytes(256, "big")[64:94]
    text = base64.b64encode(b"\x30" * offset + piece).decode()
    assert key_material_matcher(private_key=key).found_in(text)


@pytest.mark.parametrize("variant", sorted(RSA_VARIANTS))
def test_each_encoding_of_an_rsa_key_is_found(variant):
    key = _rsa()
    value = RSA_VARIANTS[variant](key)
    matcher = key_material_matcher(private_key=key)
    assert matcher.found_in(value)
    assert matcher.found_in(f"prefix {value} suffix" if isinstance(value, str) else value)


EC_VARIANTS = {
    "pem sec1": lambda k: _pem(k, "traditional"),
    "base64 der pkcs8": lambda k: base64.b64encode(_der(k)).decode(),
    "hex private value (a 64-character CertSN)": lambda k: (
        k.private_numbers().private_value.to_bytes(32, "big").hex()
    ),
    "hex private value upper, colons": lambda k: (
        k.private_numbers().private_value.to_bytes(32, "big").hex(":").upper()
    ),
    "decimal private value": lambda k: str(k.private_numbers().private_value),
    "hex of the sec1 der": lambda k: _der(k, "traditional").hex(),
}


@pytest.mark.parametrize("variant", sorted(EC_VARIANTS))
def test_each_encoding_of_an_ec_key_is_found(variant):
    key = _ec()
    assert key_material_matcher(private_key=key).found_in(EC_VARIANTS[variant](key))


def test_an_ed25519_key_is_found_raw_hex_and_in_its_pem():
    key = make_key("ed25519")
    raw = key.private_bytes_raw()
    matcher = key_material_matcher(private_key=key)
    assert matcher.found_in(raw.hex())
    assert matcher.found_in(_pem(key))
    assert matcher.found_in(b"xx" + raw + b"yy")


@pytest.mark.parametrize("shape", ["pem pkcs8", "pem pkcs1", "base64 der pkcs8 one line"])
def test_the_matcher_can_be_built_from_the_key_text_the_platform_sent(shape):
    key = _rsa()
    text = RSA_VARIANTS[shape](key)
    matcher = key_material_matcher(private_key_text=text)
    assert matcher.found_in(_hex(key.private_numbers().d))
    assert matcher.found_in(str(key.private_numbers().p))


def test_an_unreadable_key_text_is_still_recognised_by_its_base64_body():
    body = base64.b64encode(_der(_rsa())[:-40]).decode()  # truncated: not a loadable key
    text = "-----BEGIN PRIVATE KEY-----\n" + body + "\n-----END PRIVATE KEY-----\n"
    matcher = key_material_matcher(private_key_text=text)
    assert matcher.active
    assert matcher.found_in("OU=" + body[300:340])
    assert not matcher.found_in("0A:1B:2C")


def test_no_key_matches_nothing():
    matcher = key_material_matcher()
    assert not matcher.active
    assert not matcher.found_in(_pem(_rsa()))
    assert key_material_matcher(private_key_text="not a key").found_in(_pem(_rsa())) is False


def _ordinary_values(key, cert: x509.Certificate) -> list[str | bytes]:
    der = cert.public_bytes(serialization.Encoding.DER)
    public = key.public_key().public_numbers()
    return [
        "",
        "1234567890123456789",
        f"{x509.random_serial_number():x}",
        str(x509.random_serial_number()),
        cert.serial_number.to_bytes(20, "big").hex(":").upper(),
        hashlib.sha256(der).hexdigest(),
        hashlib.sha256(der).digest().hex(":").upper(),
        str(uuid.uuid4()).upper(),
        # The certificate itself and its public key: a certificate carries them.
        der,
        base64.b64encode(der).decode(),
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        f"{public.n:x}",
        str(public.n),
        public.n.to_bytes(256, "big"),
        # Another key's material.
        _hex(make_key("rsa", 3).private_numbers().d)[:64],
        _pem(make_key("rsa", 3)),
        str(make_key("rsa", 3).private_numbers().p),
        "0" * 200,
        "A" * 200,
    ]


def test_ordinary_values_do_not_match():
    key = _rsa()
    leaf = make_leaf(make_ca())
    matcher = key_material_matcher(private_key=key)
    assert leaf.key is key
    found = [value for value in _ordinary_values(key, leaf.cert) if matcher.found_in(value)]
    assert found == []


def test_a_run_shorter_than_the_minimum_does_not_match():
    key = _rsa()
    matcher = key_material_matcher(private_key=key)
    d_hex = _hex(key.private_numbers().d)
    assert matcher.found_in(d_hex[100:124])  # 24 hex digits: 96 bits
    assert not matcher.found_in(d_hex[100:123])
    assert not matcher.found_in(str(key.private_numbers().d)[50:78])  # 28 digits


def test_withheld_marker():
    assert is_withheld(WITHHELD)
    assert not is_withheld("")
    assert not is_withheld("0A:1B")
    key = _ec()
    matcher = key_material_matcher(private_key=key)
    private_hex = f"{key.private_numbers().private_value:064X}"
    assert matcher.withheld(private_hex) == WITHHELD
    assert matcher.withheld("sn-0001") == "sn-0001"


# --- certificates ------------------------------------------------------------------------------


def _leaf_with(*, subject=ALIBABA_LEAF_SUBJECT, extensions=None, serial_number=None):
    return make_leaf(make_ca(), subject=subject, extensions=extensions, serial_number=serial_number)


def _subject(*extra: x509.NameAttribute) -> x509.Name:
    return x509.Name([*ALIBABA_LEAF_SUBJECT, *extra])


def test_a_clean_certificate_has_no_key_material():
    leaf = make_leaf(make_ca())
    matcher = key_material_matcher(private_key=leaf.key)
    assert matcher.certificate_parts(leaf.cert) == ()
    assert certificate_withheld(leaf.cert_pem, matcher) is None


def test_subject_serial_number_holding_the_private_scalar_in_hex():
    key = _rsa()
    leaf = _leaf_with(
        subject=_subject(
            x509.NameAttribute(NameOID.SERIAL_NUMBER, _hex(key.private_numbers().p).upper())
        )
    )
    matcher = key_material_matcher(private_key=key)
    assert matcher.certificate_parts(leaf.cert) == ("subject",)
    withheld = certificate_withheld(leaf.cert_pem, matcher)
    assert withheld is not None
    assert withheld.parts == ("subject",)
    der = leaf.cert.public_bytes(serialization.Encoding.DER)
    assert withheld.sha256_fingerprint == hashlib.sha256(der).digest().hex(":").upper()


def test_ou_attributes_each_holding_a_short_piece_are_read_joined():
    key = _rsa()
    text = base64.b64encode(_der(key)).decode()[600:720]
    # Ten pieces of 12 characters: each shorter than a run, together 120 characters of key.
    pieces = [text[i : i + 12] for i in range(0, len(text), 12)]
    leaf = _leaf_with(
        subject=_subject(
            *(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, piece) for piece in pieces)
        )
    )
    matcher = key_material_matcher(private_key=key)
    assert not any(matcher.found_in(piece) for piece in pieces)
    assert matcher.certificate_parts(leaf.cert) == ("subject",)


def test_the_der_raw_inside_an_unknown_extension():
    key = _rsa()
    leaf = _leaf_with(
        extensions=[(x509.UnrecognizedExtension(UNKNOWN_OID, _der(key, "traditional")), False)]
    )
    parts = key_material_matcher(private_key=key).certificate_parts(leaf.cert)
    assert parts == (f"extension {UNKNOWN_OID.dotted_string}",)


def test_url_safe_base64_inside_an_unknown_extension_string():
    key = _ec()
    text = base64.urlsafe_b64encode(_der(key)).decode().encode()
    value = b"\x0c" + bytes([len(text)]) + text  # a UTF8String
    leaf = _leaf_with(extensions=[(x509.UnrecognizedExtension(UNKNOWN_OID, value), False)])
    parts = key_material_matcher(private_key=key).certificate_parts(leaf.cert)
    assert parts == (f"extension {UNKNOWN_OID.dotted_string}",)


def test_a_serial_number_cut_from_the_private_exponent():
    key = _rsa()
    serial = int.from_bytes(key.private_numbers().d.to_bytes(256, "big")[40:59], "big") | 1
    leaf = _leaf_with(serial_number=serial)
    assert key_material_matcher(private_key=key).certificate_parts(leaf.cert) == ("serial number",)


def test_an_unparsable_certificate_is_not_withheld_here():
    # It is never shown or stored at all (DecodedCertificate): nothing to withhold.
    key = _rsa()
    matcher = key_material_matcher(private_key=key)
    assert certificate_withheld(_pem(key), matcher) is None
    assert certificate_withheld("", matcher) is None


def test_an_unreadable_key_text_that_is_not_a_der_adds_nothing():
    for text in ("A" * 200_000, "A" * 400, "hello world, not a key at all"):
        matcher = key_material_matcher(private_key_text=text)
        assert not matcher.active
        assert not matcher.found_in("A" * 64)
