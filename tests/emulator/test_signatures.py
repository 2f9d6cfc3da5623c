"""The emulator accepts correctly signed V1 and V3 calls and refuses the rest, like the gateway."""

import uuid
import xml.etree.ElementTree as ET

import pytest
import requests
from django.conf import settings

from certadmin.emulator import DEMO_PRODUCT_KEY
from certadmin.iot import signing
from tests.emulator.signer import call_v1, send, utc_timestamp, v1_params, v3_request

DEVICE = {"ProductKey": DEMO_PRODUCT_KEY, "DeviceName": "thermo-001"}


def assert_gateway_error(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert body["Code"] == code
    return body


def assert_certificate(response: requests.Response) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["Success"] is True
    assert body["DeviceCertInfo"]["Status"] == 2
    assert body["DeviceCertInfo"]["Certificate"].startswith("-----BEGIN CERTIFICATE-----")
    return body


# --- V1 ------------------------------------------------------------------------------------


def test_v1_get_with_query_parameters_succeeds(v1, emulator):
    assert_certificate(v1(params=DEVICE))
    assert emulator.request_log == [
        ("QueryDeviceCert", settings.DEMO_ACCESS_KEY_ID, "v1", DEVICE["DeviceName"]),
    ]


def test_v1_post_with_everything_in_the_query_and_an_empty_signature_type(v1):
    # What the older official SDK sends: POST, empty body, and an empty SignatureType=.
    assert_certificate(v1(params=DEVICE, method="POST", SignatureType=""))


def test_v1_post_with_form_body_parameters_signs_the_body_too(v1):
    assert_certificate(v1(body=DEVICE, method="POST"))


def test_v1_empty_parameter_left_out_of_the_signature_is_refused(v1):
    # Signed without SignatureType, sent with SignatureType= : the server signs what it got.
    query = v1_params(
        access_key_id=settings.DEMO_ACCESS_KEY_ID, action="QueryDeviceCert", params=DEVICE
    )
    signature = signing.v1_signature(
        settings.DEMO_ACCESS_KEY_SECRET, signing.v1_string_to_sign("GET", query)
    )
    response = v1(params=DEVICE, signature=signature, SignatureType="", **query)
    assert_gateway_error(response, 400, "SignatureDoesNotMatch")


def test_v1_wrong_secret_is_refused_with_the_server_string_to_sign(v1):
    response = v1(params=DEVICE, secret="not-the-secret")
    body = assert_gateway_error(response, 400, "SignatureDoesNotMatch")
    assert "server string to sign is:" in body["Message"]
    string_to_sign = body["Message"].rsplit("is:", 1)[1]
    assert string_to_sign.startswith("GET&%2F&AccessKeyId%3D")
    # The older SDK reads split(':')[1]: exactly one colon, before the string to sign.
    assert body["Message"].split(":")[1] == string_to_sign


def test_v1_parameter_changed_after_signing_is_refused(emulator):
    query = v1_params(
        access_key_id=settings.DEMO_ACCESS_KEY_ID, action="QueryDeviceCert", params=DEVICE
    )
    signature = signing.v1_signature(
        settings.DEMO_ACCESS_KEY_SECRET, signing.v1_string_to_sign("GET", query)
    )
    response = call_v1(
        emulator.url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        secret="unused",
        signature=signature,
        **{**query, "DeviceName": "thermo-002"},
    )
    assert_gateway_error(response, 400, "SignatureDoesNotMatch")


def test_v1_without_format_answers_xml(v1):
    response = v1(params=DEVICE, Format=None)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(response.content)  # noqa: S314 - the emulator's own output
    assert root.tag == "QueryDeviceCertResponse"
    assert root.findtext("Success") == "true"
    assert root.findtext("DeviceCertInfo/Status") == "2"
    assert root.findtext("DeviceCertInfo/Certificate").startswith("-----BEGIN CERTIFICATE-----")


def test_v1_errors_follow_the_requested_xml_format(v1):
    response = v1(params=DEVICE, Format="XML", secret="wrong")
    assert response.status_code == 400
    root = ET.fromstring(response.content)  # noqa: S314 - the emulator's own output
    assert root.tag == "Error"
    assert root.findtext("Code") == "SignatureDoesNotMatch"


def test_v1_sts_token_is_accepted_and_recorded(v1, emulator):
    assert_certificate(v1(params=DEVICE, SecurityToken="sts-token-123"))
    assert emulator.security_tokens == ["sts-token-123"]


# --- V3 ------------------------------------------------------------------------------------


def test_v3_post_with_query_parameters_succeeds(v3, emulator):
    assert_certificate(v3(params=DEVICE))
    assert emulator.request_log == [
        ("QueryDeviceCert", settings.DEMO_ACCESS_KEY_ID, "v3", DEVICE["DeviceName"]),
    ]


def test_v3_get_succeeds(v3):
    assert_certificate(v3(params=DEVICE, method="GET"))


def test_v3_post_with_form_body_succeeds(v3):
    assert_certificate(v3(body=DEVICE))


def test_v3_extra_signed_headers_are_canonicalised(v3):
    # The newer SDK also signs accept and user-agent.
    extra = {"accept": "application/json", "user-agent": "AlibabaCloud (test) TeaDSL/2"}
    assert_certificate(v3(params=DEVICE, extra_headers=extra))


def test_v3_name_with_colon_and_at_sign_is_encoded_and_verified(v3):
    for name in ("cam-lobby:01", "lab.probe@b2"):
        assert_certificate(v3(params={"ProductKey": DEMO_PRODUCT_KEY, "DeviceName": name}))


def test_v3_sts_token_header_is_accepted_and_recorded(v3, emulator):
    assert_certificate(v3(params=DEVICE, extra_headers={"x-acs-security-token": "tok-v3"}))
    assert emulator.security_tokens == ["tok-v3"]


def test_v3_wrong_secret_is_refused_with_the_server_string_to_sign(v3):
    response = v3(params=DEVICE, secret="wrong")
    body = assert_gateway_error(response, 400, "SignatureDoesNotMatch")
    assert body["Message"].split(":")[1].startswith("ACS3-HMAC-SHA256\n")


def test_v3_unsigned_acs_header_is_refused(v3):
    response = v3(params=DEVICE, unsigned_headers=["x-acs-date"])
    body = assert_gateway_error(response, 400, "SignatureDoesNotMatch")
    assert "x-acs-date" in body["Message"]


def test_v3_content_hash_must_match_the_body(v3):
    response = v3(body=DEVICE, content_sha256=signing.sha256_hex(b"something else"))
    assert_gateway_error(response, 400, "SignatureDoesNotMatch")


def test_v3_body_changed_after_signing_is_refused(emulator):
    prepared = v3_request(
        emulator.url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        secret=settings.DEMO_ACCESS_KEY_SECRET,
        body=DEVICE,
    )
    prepared.body = "ProductKey=a1Demo7Sh2x&DeviceName=thermo-002"
    prepared.headers["Content-Length"] = str(len(prepared.body))
    assert_gateway_error(send(prepared), 400, "SignatureDoesNotMatch")


def test_v3_missing_acs_header_is_a_missing_parameter(emulator):
    prepared = v3_request(
        emulator.url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        secret=settings.DEMO_ACCESS_KEY_SECRET,
        params=DEVICE,
    )
    del prepared.headers["x-acs-signature-nonce"]
    assert_gateway_error(send(prepared), 400, "MissingParameter")


def test_garbled_authorization_header_is_refused(emulator):
    response = requests.post(
        f"{emulator.url}/?ProductKey={DEMO_PRODUCT_KEY}&DeviceName=thermo-001",
        headers={"Authorization": "Bearer nonsense"},
        timeout=10,
    )
    assert_gateway_error(response, 400, "IncompleteSignature")


# --- refusals common to both versions ------------------------------------------------------


@pytest.fixture(params=["v1", "v3"])
def call(request, v1, v3):
    return {"v1": v1, "v3": v3}[request.param]


def test_unknown_access_key_id_is_not_found(call):
    response = call(params=DEVICE, access_key_id="LTAIunknown000000")
    assert_gateway_error(response, 404, "InvalidAccessKeyId.NotFound")


@pytest.mark.parametrize("offset", [-16 * 60, 16 * 60])
def test_timestamp_more_than_15_minutes_off_is_expired(v1, v3, offset):
    stamp = utc_timestamp(offset)
    assert_gateway_error(v1(params=DEVICE, Timestamp=stamp), 400, "InvalidTimeStamp.Expired")
    assert_gateway_error(v3(params=DEVICE, date=stamp), 400, "InvalidTimeStamp.Expired")


def test_timestamp_within_15_minutes_is_accepted(v1, v3):
    assert_certificate(v1(params=DEVICE, Timestamp=utc_timestamp(-14 * 60)))
    assert_certificate(v3(params=DEVICE, date=utc_timestamp(14 * 60)))


def test_malformed_timestamp_is_refused(v1):
    response = v1(params=DEVICE, Timestamp="2024-01-01 10:00:00")
    assert_gateway_error(response, 400, "InvalidTimeStamp.Format")


def test_reused_v1_nonce_is_refused(v1):
    nonce = str(uuid.uuid4())
    assert_certificate(v1(params=DEVICE, SignatureNonce=nonce))
    assert_gateway_error(v1(params=DEVICE, SignatureNonce=nonce), 400, "SignatureNonceUsed")


def test_replayed_v3_request_is_refused(emulator):
    prepared = v3_request(
        emulator.url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        secret=settings.DEMO_ACCESS_KEY_SECRET,
        params=DEVICE,
    )
    assert_certificate(send(prepared))
    assert_gateway_error(send(prepared), 400, "SignatureNonceUsed")


def test_nonce_of_a_refused_signature_is_not_used_up(v1):
    nonce = str(uuid.uuid4())
    v1(params=DEVICE, SignatureNonce=nonce, secret="wrong")
    assert_certificate(v1(params=DEVICE, SignatureNonce=nonce))


@pytest.mark.parametrize("missing", ["ProductKey", "DeviceName"])
def test_missing_business_parameter_is_refused(call, missing):
    params = {k: v for k, v in DEVICE.items() if k != missing}
    body = assert_gateway_error(call(params=params), 400, "MissingParameter")
    assert missing in body["Message"]


@pytest.mark.parametrize("missing", ["Timestamp", "SignatureNonce", "AccessKeyId", "Version"])
def test_missing_v1_common_parameter_is_refused(v1, missing):
    body = assert_gateway_error(v1(params=DEVICE, **{missing: None}), 400, "MissingParameter")
    assert missing in body["Message"]


def test_unsupported_action_is_not_found(call):
    response = call(action="DeleteDevice", params=DEVICE)
    assert_gateway_error(response, 404, "InvalidAction.NotFound")


def test_other_api_version_is_refused(v1):
    assert_gateway_error(v1(params=DEVICE, Version="2017-04-20"), 400, "InvalidVersion")


def test_other_path_is_not_found(emulator):
    response = requests.get(f"{emulator.url}/v1/devices?Format=JSON", timeout=10)
    assert_gateway_error(response, 404, "InvalidAction.NotFound")


def test_refused_and_accepted_requests_are_all_logged(v1, v3, emulator):
    v1(params=DEVICE, secret="wrong")
    v3(params=DEVICE)
    assert [entry.signature_version for entry in emulator.request_log] == ["v1", "v3"]
