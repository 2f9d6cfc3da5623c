"""Loading certificates and keys from the undocumented text forms the IoT API returns."""

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certadmin.certs import loading
from certadmin.certs.fingerprints import private_key_matches
from certadmin.certs.loading import (
    CertificateDecodeError,
    PrivateKeyDecodeError,
    load_certificate,
    load_private_key,
)
from tests.support.certificates import make_leaf


def _der_base64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def _pem_body_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


# --------------------------------------------------------------------- load_certificate


def test_full_pem_loads(rsa_leaf):
    assert load_certificate(rsa_leaf.cert_pem) == rsa_leaf.cert


def test_pem_with_crlf_and_surrounding_whitespace_loads(rsa_leaf):
    text = "\r\n  " + rsa_leaf.cert_pem.replace("\n", "\r\n") + "  \r\n\t"
    assert load_certificate(text) == rsa_leaf.cert


@pytest.mark.parametrize("separator", ["\n", "\r\n"])
def test_pem_body_without_headers_loads(rsa_leaf, separator):
    body = separator.join(_pem_body_lines(rsa_leaf.cert_pem))
    assert load_certificate(body) == rsa_leaf.cert


def test_base64_der_on_one_line_loads(ec_leaf):
    assert load_certificate(_der_base64(ec_leaf.cert)) == ec_leaf.cert


def test_base64_der_without_padding_loads(rsa_leaf):
    text = _der_base64(rsa_leaf.cert).rstrip("=")
    assert load_certificate(text) == rsa_leaf.cert


def test_pem_with_escaped_newlines_loads(rsa_leaf):
    assert load_certificate(rsa_leaf.cert_pem.replace("\n", "\\n")) == rsa_leaf.cert


def test_first_certificate_of_several_blocks_wins(ca, rsa_leaf):
    text = rsa_leaf.key_pem() + rsa_leaf.cert_pem + ca.cert_pem
    assert load_certificate(text) == rsa_leaf.cert


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   \r\n\t ", "empty"),
        (None, "empty"),
        ("this is not a certificate!", "not base64"),
        (base64.b64encode(b"\x30\x03\x02\x01\x01" * 20).decode(), "DER is not an X.509"),
        ("-----BEGIN CERTIFICATE-----\nAAAA$$$$\n-----END CERTIFICATE-----", "not base64"),
        ("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----", "empty"),
    ],
)
def test_garbage_is_refused_with_a_reason(text, reason):
    with pytest.raises(CertificateDecodeError, match=reason):
        load_certificate(text)


def test_pem_without_a_certificate_block_is_refused(rsa_leaf):
    with pytest.raises(CertificateDecodeError, match="no CERTIFICATE block"):
        load_certificate(rsa_leaf.key_pem())


def test_over_large_input_is_refused(rsa_leaf):
    with pytest.raises(CertificateDecodeError, match="larger than 64 KiB"):
        load_certificate(rsa_leaf.cert_pem + " " * 64 * 1024)


def test_certificate_error_message_does_not_echo_input():
    text = "SECRETSECRET" + "A" * 27
    with pytest.raises(CertificateDecodeError) as excinfo:
        load_certificate(text)
    assert "SECRET" not in str(excinfo.value)


# --------------------------------------------------------------------- load_private_key


@pytest.mark.parametrize("key_type", ["rsa", "ec", "ed25519"])
def test_pkcs8_pem_key_loads(key_type):
    issued = make_leaf(key_type=key_type)
    key = load_private_key(issued.key_pem(pkcs="pkcs8"))
    assert private_key_matches(issued.cert, key)


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_pkcs1_and_sec1_pem_keys_load(key_type):
    issued = make_leaf(key_type=key_type)
    pem = issued.key_pem(pkcs="traditional")
    assert pem.startswith(
        "-----BEGIN RSA PRIVATE KEY-----" if key_type == "rsa" else "-----BEGIN EC PRIVATE KEY-----"
    )
    assert private_key_matches(issued.cert, load_private_key(pem.replace("\n", "\r\n")))


@pytest.mark.parametrize("key_format", ["pkcs8", "traditional"])
@pytest.mark.parametrize("separator", ["", "\n", "\r\n"])
def test_headerless_der_keys_load(rsa_leaf, key_format, separator):
    body = separator.join(_pem_body_lines(rsa_leaf.key_pem(pkcs=key_format)))
    assert private_key_matches(rsa_leaf.cert, load_private_key(body))


def test_sec1_key_after_ec_parameters_block_loads(ec_leaf):
    params = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    key = load_private_key(params + ec_leaf.key_pem(pkcs="traditional"))
    assert private_key_matches(ec_leaf.cert, key)


def test_encrypted_pkcs8_key_is_refused(rsa_leaf):
    pem = rsa_leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"correct horse battery"),
    ).decode()
    with pytest.raises(PrivateKeyDecodeError, match="encrypted"):
        load_private_key(pem)


def test_encrypted_key_without_headers_is_refused(rsa_leaf):
    pem = rsa_leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"correct horse battery"),
    ).decode()
    with pytest.raises(PrivateKeyDecodeError, match="encrypted"):
        load_private_key("".join(_pem_body_lines(pem)))


def test_certificate_given_as_key_is_refused(rsa_leaf):
    with pytest.raises(PrivateKeyDecodeError, match="no PRIVATE KEY block"):
        load_private_key(rsa_leaf.cert_pem)


@pytest.mark.parametrize("text", ["", None, "not a key at all", "QUJDRA=="])
def test_garbage_key_is_refused(text):
    with pytest.raises(PrivateKeyDecodeError):
        load_private_key(text)


def test_key_error_message_never_contains_the_key_text(rsa_leaf):
    lines = _pem_body_lines(rsa_leaf.key_pem())
    damaged = "\n".join(lines[: len(lines) // 2])  # truncated DER: valid base64, bad key
    with pytest.raises(PrivateKeyDecodeError) as excinfo:
        load_private_key(damaged)
    message = str(excinfo.value)
    assert all(line[:16] not in message for line in lines)
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__suppress_context__


def _first_certificate_block_by_regex(text: str) -> x509.Certificate:
    # What load_certificate did for every PEM text before its shortcut for a leading
    # CERTIFICATE block: the regex over all blocks, then the first CERTIFICATE one.
    cleaned = loading._clean_text(text, CertificateDecodeError)
    body = next(body for label, body in loading._pem_blocks(cleaned) if label == "CERTIFICATE")
    return loading._certificate_from_der(loading._decode_base64(body, CertificateDecodeError))


@pytest.mark.parametrize(
    "shape",
    [
        lambda leaf, ca: leaf,
        lambda leaf, ca: leaf + ca,
        lambda leaf, ca: leaf.replace("\n", "\r\n") + "\n\n" + ca,
        lambda leaf, ca: leaf.replace("\n", " \u2003\u2028\t\n"),  # any Unicode whitespace
        lambda leaf, ca: leaf.replace("\n", "\\n"),
        lambda leaf, ca: "  \n" + leaf.replace("-----\n", "------\n", 1),
    ],
)
def test_a_leading_certificate_block_loads_as_the_block_regex_finds_it(ca, rsa_leaf, shape):
    text = shape(rsa_leaf.cert_pem, ca.cert_pem)

    def outcome(load):
        try:
            return load(text)
        except CertificateDecodeError as error:
            return str(error)

    assert outcome(load_certificate) == outcome(_first_certificate_block_by_regex)


def test_a_begin_line_without_its_end_is_not_a_block(rsa_leaf):
    with pytest.raises(CertificateDecodeError, match="no CERTIFICATE block"):
        load_certificate(rsa_leaf.cert_pem.replace("-----END CERTIFICATE-----", ""))
