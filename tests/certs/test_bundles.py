import io
import json
import shutil
import subprocess
import zipfile

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from certadmin.certs.bundles import (
    PASSPHRASE_MIN_LENGTH,
    BundleError,
    bundle_filename,
    certificate_chain_pem,
    certificate_der,
    certificate_pem,
    encrypted_private_key_pem,
    pkcs12_bundle,
    private_key_pem,
    zip_bundle,
)
from certadmin.certs.details import certificate_details
from certadmin.certs.fingerprints import private_key_matches, public_key_sha256
from tests.support.certificates import make_key

PASSPHRASE = "correct-horse-battery"
requires_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl CLI")


def _zip(leaf, issuer, **overrides):
    arguments = {
        "cert": leaf.cert,
        "key": leaf.key,
        "issuer": issuer,
        "product_key": "a1B2c3D4e5F",
        "device_name": "sensor-01",
        "iot_instance_id": "iot-06z00ep2pjifrby",
        "cert_sn": "8f2c1e",
        "mqtt_endpoint": "x509.itls.cn-shanghai.aliyuncs.com:1883",
        "key_passphrase": PASSPHRASE,
    }
    return zip_bundle(**(arguments | overrides))


# --------------------------------------------------------------------- PEM / DER


def test_certificate_pem_and_der_round_trip(rsa_leaf):
    assert x509.load_pem_x509_certificate(certificate_pem(rsa_leaf.cert)) == rsa_leaf.cert
    assert x509.load_der_x509_certificate(certificate_der(rsa_leaf.cert)) == rsa_leaf.cert


def test_chain_is_certificate_then_ca(ca, rsa_leaf):
    chain = certificate_chain_pem(rsa_leaf.cert, ca.cert)
    assert x509.load_pem_x509_certificates(chain) == [rsa_leaf.cert, ca.cert]
    assert x509.load_pem_x509_certificates(certificate_chain_pem(rsa_leaf.cert, None)) == [
        rsa_leaf.cert
    ]


@pytest.mark.parametrize("leaf_name", ["rsa_leaf", "ec_leaf", "ed25519_leaf"])
def test_private_key_pem_is_unencrypted_pkcs8(request, leaf_name):
    leaf = request.getfixturevalue(leaf_name)
    pem = private_key_pem(leaf.key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert private_key_matches(leaf.cert, serialization.load_pem_private_key(pem, None))


# --------------------------------------------------------------------- PKCS#12


@pytest.mark.parametrize("leaf_name", ["rsa_leaf", "ec_leaf", "ed25519_leaf"])
def test_pkcs12_round_trips_with_cryptography(request, ca, leaf_name):
    leaf = request.getfixturevalue(leaf_name)
    data = pkcs12_bundle(
        cert=leaf.cert, key=leaf.key, issuer=ca.cert, passphrase=PASSPHRASE, friendly_name="dev-1"
    )
    loaded = pkcs12.load_pkcs12(data, PASSPHRASE.encode())
    assert loaded.cert.certificate == leaf.cert
    assert loaded.cert.friendly_name == b"dev-1"
    assert private_key_matches(leaf.cert, loaded.key)
    assert [c.certificate for c in loaded.additional_certs] == [ca.cert]


def test_pkcs12_without_issuer_has_no_ca(rsa_leaf):
    data = pkcs12_bundle(
        cert=rsa_leaf.cert, key=rsa_leaf.key, issuer=None, passphrase=PASSPHRASE, friendly_name=""
    )
    key, cert, cas = pkcs12.load_key_and_certificates(data, PASSPHRASE.encode())
    assert cert == rsa_leaf.cert
    assert cas == []
    assert public_key_sha256(key) == public_key_sha256(rsa_leaf.cert)


def test_pkcs12_non_ascii_passphrase_round_trips(rsa_leaf):
    passphrase = "pässwörd-ünïcode-密码"
    data = pkcs12_bundle(
        cert=rsa_leaf.cert, key=rsa_leaf.key, issuer=None, passphrase=passphrase, friendly_name="x"
    )
    _, cert, _ = pkcs12.load_key_and_certificates(data, passphrase.encode())
    assert cert == rsa_leaf.cert


def test_pkcs12_wrong_passphrase_fails_to_open(rsa_leaf):
    data = pkcs12_bundle(
        cert=rsa_leaf.cert, key=rsa_leaf.key, issuer=None, passphrase=PASSPHRASE, friendly_name="x"
    )
    with pytest.raises(ValueError):  # noqa: PT011 - cryptography's message is not ours
        pkcs12.load_key_and_certificates(data, b"wrong-passphrase-here")


def test_pkcs12_short_passphrase_is_refused(rsa_leaf):
    with pytest.raises(BundleError, match=f"at least {PASSPHRASE_MIN_LENGTH}"):
        pkcs12_bundle(
            cert=rsa_leaf.cert,
            key=rsa_leaf.key,
            issuer=None,
            passphrase="x" * (PASSPHRASE_MIN_LENGTH - 1),
            friendly_name="x",
        )


def test_pkcs12_with_someone_elses_key_is_refused(rsa_leaf):
    with pytest.raises(BundleError, match="does not belong"):
        pkcs12_bundle(
            cert=rsa_leaf.cert,
            key=make_key("rsa", 2),
            issuer=None,
            passphrase=PASSPHRASE,
            friendly_name="x",
        )


def _openssl_info(data: bytes, passphrase: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["openssl", "pkcs12", "-info", "-nokeys", "-passin", f"pass:{passphrase}"],
        input=data,
        capture_output=True,
        timeout=30,
        check=False,
    )


@requires_openssl
def test_pkcs12_opens_with_openssl_without_legacy(ca, rsa_leaf):
    data = pkcs12_bundle(
        cert=rsa_leaf.cert,
        key=rsa_leaf.key,
        issuer=ca.cert,
        passphrase=PASSPHRASE,
        friendly_name="d",
    )
    result = _openssl_info(data, PASSPHRASE)
    assert result.returncode == 0, result.stderr.decode()
    output = (result.stdout + result.stderr).decode()
    assert "MAC: sha256" in output
    assert "PBES2" in output
    assert "AES-256-CBC" in output
    assert x509.load_pem_x509_certificates(result.stdout) == [rsa_leaf.cert, ca.cert]


@requires_openssl
def test_pkcs12_with_wrong_passphrase_fails_in_openssl(rsa_leaf):
    data = pkcs12_bundle(
        cert=rsa_leaf.cert, key=rsa_leaf.key, issuer=None, passphrase=PASSPHRASE, friendly_name="d"
    )
    result = _openssl_info(data, "wrong-passphrase-here")
    assert result.returncode != 0
    assert b"BEGIN CERTIFICATE" not in result.stdout


# --------------------------------------------------------------------- ZIP


def test_zip_contains_every_file_with_the_key_encrypted_by_the_passphrase(ca, rsa_leaf):
    archive = zipfile.ZipFile(io.BytesIO(_zip(rsa_leaf, ca.cert)))
    assert archive.namelist() == [
        "certificate.pem",
        "private-key.pem",
        "ca.pem",
        "device.json",
        "README.txt",
    ]
    assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())
    assert archive.testzip() is None
    assert x509.load_pem_x509_certificate(archive.read("certificate.pem")) == rsa_leaf.cert
    assert x509.load_pem_x509_certificate(archive.read("ca.pem")) == ca.cert
    key_pem = archive.read("private-key.pem")
    assert key_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):  # no passphrase, no key
        serialization.load_pem_private_key(key_pem, None)
    with pytest.raises(ValueError, match="Incorrect password"):
        serialization.load_pem_private_key(key_pem, b"wrong-passphrase-here")
    key = serialization.load_pem_private_key(key_pem, PASSPHRASE.encode())
    assert private_key_matches(rsa_leaf.cert, key)
    assert archive.getinfo("private-key.pem").external_attr >> 16 & 0o777 == 0o600
    assert json.loads(archive.read("device.json"))["private_key_encrypted"] is True
    readme = archive.read("README.txt").decode()
    assert "encrypted with the passphrase" in readme
    assert "NOT encrypted" not in readme


def test_zip_with_the_key_unencrypted_only_when_asked_and_says_so(ca, rsa_leaf):
    archive = zipfile.ZipFile(io.BytesIO(_zip(rsa_leaf, ca.cert, key_passphrase=None)))
    key_pem = archive.read("private-key.pem")
    assert key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert private_key_matches(rsa_leaf.cert, serialization.load_pem_private_key(key_pem, None))
    assert "NOT encrypted" in archive.read("README.txt").decode()
    device = json.loads(archive.read("device.json"))
    assert device["private_key_encrypted"] is False
    assert "NOT encrypted" in device["files"]["private-key.pem"]


def test_zip_key_passphrase_must_be_given_and_long_enough(rsa_leaf):
    with pytest.raises(TypeError):  # no default: the caller chooses encrypted or not
        zip_bundle(
            cert=rsa_leaf.cert,
            key=rsa_leaf.key,
            issuer=None,
            product_key="a1B2c3D4e5F",
            device_name="sensor-01",
            iot_instance_id=None,
            cert_sn="1",
            mqtt_endpoint="h:1883",
        )
    with pytest.raises(BundleError, match="at least"):
        _zip(rsa_leaf, None, key_passphrase="x" * (PASSPHRASE_MIN_LENGTH - 1))


@requires_openssl
@pytest.mark.parametrize("leaf_name", ["rsa_leaf", "ec_leaf"])
def test_encrypted_key_opens_with_openssl_only_with_the_passphrase(request, leaf_name, tmp_path):
    leaf = request.getfixturevalue(leaf_name)
    archive = zipfile.ZipFile(io.BytesIO(_zip(leaf, None)))
    path = tmp_path / "private-key.pem"  # a test key: nothing real is written
    path.write_bytes(archive.read("private-key.pem"))

    def pkey(passphrase: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["openssl", "pkey", "-in", str(path), "-passin", f"pass:{passphrase}", "-pubout"],
            capture_output=True,
            timeout=30,
            check=False,
        )

    opened = pkey(PASSPHRASE)
    assert opened.returncode == 0, opened.stderr.decode()
    public = serialization.load_pem_public_key(opened.stdout)
    assert public_key_sha256(public) == public_key_sha256(leaf.cert)
    assert pkey("wrong-passphrase-here").returncode != 0
    asn1 = subprocess.run(
        ["openssl", "asn1parse", "-in", str(path)], capture_output=True, timeout=30, check=True
    ).stdout.decode()
    assert "PBES2" in asn1
    assert "aes-256-cbc" in asn1.lower()


def test_encrypted_private_key_pem_round_trips_and_refuses_a_short_passphrase(rsa_leaf):
    pem = encrypted_private_key_pem(rsa_leaf.key, PASSPHRASE)
    key = serialization.load_pem_private_key(pem, PASSPHRASE.encode())
    assert private_key_matches(rsa_leaf.cert, key)
    with pytest.raises(BundleError):
        encrypted_private_key_pem(rsa_leaf.key, "short")


def test_zip_device_json_describes_the_device(ca, rsa_leaf):
    archive = zipfile.ZipFile(io.BytesIO(_zip(rsa_leaf, ca.cert)))
    device = json.loads(archive.read("device.json"))
    details = certificate_details(rsa_leaf.cert)
    assert device["product_key"] == "a1B2c3D4e5F"
    assert device["device_name"] == "sensor-01"
    assert device["iot_instance_id"] == "iot-06z00ep2pjifrby"
    assert device["cert_sn"] == "8f2c1e"
    assert device["certificate_sha256"] == details.sha256_fingerprint
    assert device["certificate_sha1"] == details.sha1_fingerprint
    assert device["public_key_sha256"] == public_key_sha256(rsa_leaf.key)
    assert device["not_before"] == details.not_before.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert device["not_after"].endswith("Z")
    assert device["mqtt_endpoint"] == "x509.itls.cn-shanghai.aliyuncs.com:1883"
    assert device["hints"]
    assert "BEGIN" not in archive.read("device.json").decode()


def test_zip_readme_explains_the_files(ca, rsa_leaf):
    archive = zipfile.ZipFile(io.BytesIO(_zip(rsa_leaf, ca.cert)))
    readme = archive.read("README.txt").decode()
    expected = ("certificate.pem", "private-key.pem", "ca.pem", "device.json", "MQTT")
    for word in (*expected, "host x509.itls.cn-shanghai.aliyuncs.com", "port 1883"):
        assert word in readme


def test_zip_without_issuer_has_no_ca_file(ec_leaf):
    archive = zipfile.ZipFile(io.BytesIO(_zip(ec_leaf, None, iot_instance_id=None)))
    assert "ca.pem" not in archive.namelist()
    assert "ca.pem" not in archive.read("README.txt").decode()
    assert json.loads(archive.read("device.json"))["iot_instance_id"] is None


def test_zip_with_the_unencrypted_key_is_deterministic(ca, rsa_leaf):
    # The encrypted key has a fresh salt and IV each time; everything else is fixed.
    assert _zip(rsa_leaf, ca.cert, key_passphrase=None) == _zip(
        rsa_leaf, ca.cert, key_passphrase=None
    )


def test_zip_with_someone_elses_key_is_refused(rsa_leaf, ec_leaf):
    with pytest.raises(BundleError, match="does not belong"):
        _zip(rsa_leaf, None, key=ec_leaf.key)


# --------------------------------------------------------------------- file names


@pytest.mark.parametrize(
    ("product_key", "device_name", "kind", "ext", "expected"),
    [
        ("a1B2c3D4e5F", "sensor-01", "certificate", "pem", "a1B2c3D4e5F_sensor-01.certificate.pem"),
        ("a1B2c3D4e5F", "dev_1.x@site", "bundle", "zip", "a1B2c3D4e5F_dev_1.x@site.bundle.zip"),
        ("a1B2c3D4e5F", "dev:01", "bundle", "p12", "a1B2c3D4e5F_dev_01.bundle.p12"),
        (
            "a1B2c3D4e5F",
            "../../etc/passwd",
            "chain",
            "pem",
            "a1B2c3D4e5F__.._etc_passwd.chain.pem",
        ),
        ("a1B2c3D4e5F", "a\\b\x00c\nd", "key", "pem", "a1B2c3D4e5F_a_b_c_d.key.pem"),
        ("", "..hidden", "certificate", "der", "hidden.certificate.der"),
        ("", "", "certificate", "pem", "device.certificate.pem"),
        ("pk", "设备", "certificate", "pem", "pk___.certificate.pem"),
    ],
)
def test_bundle_filename_is_safe(product_key, device_name, kind, ext, expected):
    assert bundle_filename(product_key, device_name, kind, ext) == expected


def test_bundle_filename_is_capped_and_keeps_its_extension():
    filename = bundle_filename("a1B2c3D4e5F", "x" * 500, "certificate", "pem")
    assert len(filename) <= 150
    assert filename.endswith(".certificate.pem")
    assert filename.startswith("a1B2c3D4e5F_xxx")


@pytest.mark.parametrize(
    "device_name", ["", ".", "...", "/", "\x00", "-", "CON", "a" * 1000, "x.", "\u202ertl"]
)
def test_bundle_filename_never_empty_nor_hidden_nor_unsafe(device_name):
    filename = bundle_filename("", device_name, "certificate", "pem")
    assert filename
    assert not filename.startswith(".")
    assert not filename.endswith(".")
    assert all(c.isascii() and (c.isalnum() or c in "._@-") for c in filename)
