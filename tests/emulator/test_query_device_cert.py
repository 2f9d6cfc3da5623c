"""QueryDeviceCert: seeded certificates shaped like the platform's, and its business errors."""

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certadmin.emulator import DEMO_PRODUCT_KEY, ENTERPRISE_INSTANCE_ID, ENTERPRISE_PRODUCT_KEY


def cert_info(v1, device_name: str, **params: str) -> dict:
    response = v1(params={"ProductKey": DEMO_PRODUCT_KEY, "DeviceName": device_name, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["Success"] is True, body
    assert set(body) == {"RequestId", "Success", "DeviceCertInfo"}
    assert set(body["DeviceCertInfo"]) == {"CertSN", "Certificate", "PrivateKey", "Status"}
    return body["DeviceCertInfo"]


def business_error(call, params: dict) -> str:
    response = call(params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["Success"] is False
    assert set(body) == {"RequestId", "Success", "Code", "ErrorMessage"}
    return body["Code"]


def test_ready_device_certificate_is_shaped_like_the_platforms(v1, emulator):
    info = cert_info(v1, "thermo-001")
    certificate = x509.load_pem_x509_certificate(info["Certificate"].encode())
    ca = x509.load_pem_x509_certificate(emulator.ca_certificate_pem.encode())

    assert info["CertSN"] == str(certificate.serial_number)
    assert certificate.issuer == ca.subject
    assert certificate.issuer.rfc4514_string() == (
        "C=CN,O=Alibaba Cloud IoT,CN=Alibaba Cloud IoT Operation CA1"
    )
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "Alibaba Cloud IoT Certificate"
    )
    assert isinstance(certificate.public_key(), rsa.RSAPublicKey)
    assert certificate.public_key().key_size == 2048
    assert isinstance(certificate.signature_hash_algorithm, hashes.SHA256)
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime.days >= 36500
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.key_encipherment
    eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    ca.public_key().verify(
        certificate.signature,
        certificate.tbs_certificate_bytes,
        padding.PKCS1v15(),
        certificate.signature_hash_algorithm,
    )


def test_private_key_matches_the_certificate(v1):
    info = cert_info(v1, "thermo-001")
    assert info["PrivateKey"].startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    key = serialization.load_pem_private_key(info["PrivateKey"].encode(), password=None)
    certificate = x509.load_pem_x509_certificate(info["Certificate"].encode())
    assert key.public_key() == certificate.public_key()


@pytest.mark.parametrize(
    ("device_name", "header"),
    [
        ("thermo-001", "-----BEGIN RSA PRIVATE KEY-----"),
        ("thermo-002", "-----BEGIN PRIVATE KEY-----"),
        ("gateway-07", "-----BEGIN PRIVATE KEY-----"),
        ("sensor-0001", "-----BEGIN RSA PRIVATE KEY-----"),
        ("sensor-0002", "-----BEGIN PRIVATE KEY-----"),
    ],
)
def test_keys_come_as_pkcs1_or_pkcs8(v1, device_name, header):
    assert cert_info(v1, device_name)["PrivateKey"].startswith(header)


def test_certificate_is_issued_once_and_then_returned_unchanged(v1, v3):
    first = cert_info(v1, "gateway-07")
    response = v3(params={"ProductKey": DEMO_PRODUCT_KEY, "DeviceName": "gateway-07"})
    assert response.json()["DeviceCertInfo"] == first


@pytest.mark.parametrize(("device_name", "status"), [("sensor-gen", 0), ("sensor-fail", 1)])
def test_certificate_not_ready_has_empty_strings(v1, device_name, status):
    info = cert_info(v1, device_name)
    assert info["Status"] == status
    assert info["Certificate"] == ""
    assert info["PrivateKey"] == ""


def test_expiring_and_expired_devices(v1):
    now = dt.datetime.now(dt.UTC)
    expiring = x509.load_pem_x509_certificate(
        cert_info(v1, "meter-expiring")["Certificate"].encode()
    )
    expired = x509.load_pem_x509_certificate(cert_info(v1, "meter-expired")["Certificate"].encode())
    assert 19 <= (expiring.not_valid_after_utc - now).days <= 20
    assert expired.not_valid_after_utc < now
    assert expired.not_valid_before_utc < expired.not_valid_after_utc


def test_ec_device_has_a_p256_key(v1):
    info = cert_info(v1, "edge-ec01")
    certificate = x509.load_pem_x509_certificate(info["Certificate"].encode())
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    assert certificate.public_key().curve.name == "secp256r1"
    key = serialization.load_pem_private_key(info["PrivateKey"].encode(), password=None)
    assert key.public_key() == certificate.public_key()


def test_legacy_device_returns_headerless_base64_with_crlf(v1):
    info = cert_info(v1, "legacy-b64")
    for text in (info["Certificate"], info["PrivateKey"]):
        assert "-----" not in text
        assert "\r\n" in text
        assert all(len(line) <= 64 for line in text.split("\r\n"))
    certificate = x509.load_der_x509_certificate(base64.b64decode(info["Certificate"]))
    key = serialization.load_der_private_key(base64.b64decode(info["PrivateKey"]), password=None)
    assert key.public_key() == certificate.public_key()
    assert info["CertSN"] == str(certificate.serial_number)


def test_enterprise_device_needs_its_instance_id(v1):
    params = {"ProductKey": ENTERPRISE_PRODUCT_KEY, "DeviceName": "ent-gw-01"}
    assert business_error(v1, params) == "iot.system.InstanceNotFound"
    assert (
        business_error(v1, {**params, "IotInstanceId": "iot-06z00other000"})
        == "iot.system.InstanceNotFound"
    )
    response = v1(params={**params, "IotInstanceId": ENTERPRISE_INSTANCE_ID})
    assert response.json()["DeviceCertInfo"]["Status"] == 2


def test_public_product_with_an_instance_id(v1):
    params = {"ProductKey": DEMO_PRODUCT_KEY, "DeviceName": "thermo-001"}
    assert (
        business_error(v1, {**params, "IotInstanceId": "iot-cn-0pp1n8t0000"})
        == "iot.system.InstanceNotFound"
    )
    assert (
        business_error(v1, {**params, "IotInstanceId": ENTERPRISE_INSTANCE_ID})
        == "iot.prod.NotExistedProduct"
    )
    # An empty IotInstanceId means the public instance.
    assert cert_info(v1, "thermo-001", IotInstanceId="")["Status"] == 2


@pytest.mark.parametrize(
    ("product_key", "device_name", "code"),
    [
        ("a1Unknown00", "thermo-001", "iot.prod.NotExistedProduct"),
        (DEMO_PRODUCT_KEY, "no-such-device", "iot.device.NotExistedDevice"),
        (DEMO_PRODUCT_KEY, "abc", "iot.device.InvalidFormattedDeviceName"),
        (DEMO_PRODUCT_KEY, "x" * 33, "iot.device.InvalidFormattedDeviceName"),
        (DEMO_PRODUCT_KEY, "thermo 001", "iot.device.InvalidFormattedDeviceName"),
        (DEMO_PRODUCT_KEY, "thermo/001", "iot.device.InvalidFormattedDeviceName"),
        (DEMO_PRODUCT_KEY, "<script>x</script>", "iot.device.InvalidFormattedDeviceName"),
        (DEMO_PRODUCT_KEY, "设备名称设备名称", "iot.device.InvalidFormattedDeviceName"),
        ("a1Demo7Sh2x' OR '1'='1", "thermo-001", "iot.prod.InvalidFormattedProductkey"),
        ("a1-Demo", "thermo-001", "iot.prod.InvalidFormattedProductkey"),
        (DEMO_PRODUCT_KEY, "", "iot.device.NullDeviceName"),
        ("", "thermo-001", "iot.prod.NullProductKey"),
    ],
)
def test_business_errors(v1, v3, product_key, device_name, code):
    params = {"ProductKey": product_key, "DeviceName": device_name}
    assert business_error(v1, params) == code
    assert business_error(v3, params) == code


def test_device_name_at_the_length_limits_is_well_formed(v1):
    for name in ("abcd", "a" * 32):
        params = {"ProductKey": DEMO_PRODUCT_KEY, "DeviceName": name}
        assert business_error(v1, params) == "iot.device.NotExistedDevice"
