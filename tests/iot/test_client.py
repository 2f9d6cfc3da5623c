"""IotClient against a scripted HTTP server: signing, retries, limits and what errors reveal."""

import logging
import re
import socket

import pytest
import requests

from certadmin.iot import signing
from certadmin.iot.client import API_VERSION, IotClient
from certadmin.iot.errors import (
    IotBusinessError,
    IotGatewayError,
    IotResponseError,
    IotThrottledError,
    IotTransportError,
    RateLimitTimeout,
)
from certadmin.iot.ratelimit import GcraRateLimiter
from certadmin.iot.results import CertStatus
from tests.support.canned_api import KEY_ID, SECRET, Canned

TOKEN = "CAIS+sts/token==value"
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAsecretkeymaterial\n"
    "-----END RSA PRIVATE KEY-----"
)
DEVICE_SECRET = "Xy7devicesecretvalue0123456789ab"


def ok_cert(status: int = 2) -> Canned:
    return Canned(
        body={
            "RequestId": "REQ-OK",
            "Success": True,
            "DeviceCertInfo": {
                "Status": status,
                "Certificate": "MIIDcert" if status == 2 else "",
                "PrivateKey": PRIVATE_KEY if status == 2 else "",
                "CertSN": "636217374433" if status == 2 else "",
            },
        }
    )


def gateway(code: str, status: int = 400, message: str = "refused") -> Canned:
    return Canned(
        status=status,
        body={
            "RequestId": f"REQ-{code}",
            "HostId": "iot.cn-shanghai.aliyuncs.com",
            "Code": code,
            "Message": message,
            "Recommend": "https://api.aliyun.com/troubleshoot?q=" + code,
        },
    )


def business(code: str, message: str = "no") -> Canned:
    return Canned(
        body={"RequestId": f"REQ-{code}", "Success": False, "Code": code, "ErrorMessage": message}
    )


def query(client: IotClient, **extra):
    return client.query_device_cert(product_key="a1Demo7Sh2x", device_name="thermo-001", **extra)


def _assert_v3_signature_verifies(seen, secret: str = SECRET) -> None:
    fields = signing.parse_v3_authorization(seen.headers["authorization"])
    assert fields is not None
    assert fields["Credential"] == KEY_ID
    canonical, signed = signing.v3_canonical_request(
        method=seen.method,
        query=seen.query,
        headers=seen.headers,
        signed_headers=fields["SignedHeaders"].split(";"),
        hashed_payload=seen.headers["x-acs-content-sha256"],
    )
    assert signed == fields["SignedHeaders"]
    expected = signing.v3_signature(secret, signing.v3_string_to_sign(canonical))
    assert signing.signatures_equal(expected, fields["Signature"])


# ---- the request on the wire ------------------------------------------------------------------


def test_v3_request_is_a_signed_post_with_the_business_params_in_the_query(canned_api, make_client):
    canned_api.push(ok_cert())
    cert = query(make_client(), iot_instance_id="iot-06z00demo0ent")
    assert cert.status is CertStatus.READY
    assert cert.private_key == PRIVATE_KEY
    assert cert.iot_instance_id == "iot-06z00demo0ent"
    assert cert.request_id == "REQ-OK"

    (seen,) = canned_api.requests
    assert (seen.method, seen.path, seen.body) == ("POST", "/", b"")
    assert dict(seen.query) == {
        "ProductKey": "a1Demo7Sh2x",
        "DeviceName": "thermo-001",
        "IotInstanceId": "iot-06z00demo0ent",
    }
    headers = seen.headers
    assert headers["host"] == canned_api.url.removeprefix("http://")
    assert headers["x-acs-action"] == "QueryDeviceCert"
    assert headers["x-acs-version"] == API_VERSION == "2018-01-20"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", headers["x-acs-date"])
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-acs-signature-nonce"])
    assert headers["x-acs-content-sha256"] == signing.sha256_hex(b"")
    assert "x-acs-security-token" not in headers
    assert headers["authorization"].startswith(
        "ACS3-HMAC-SHA256 Credential=LTAI5tUnitTestKeyId,SignedHeaders=host;x-acs-action;"
    )
    _assert_v3_signature_verifies(seen)


def test_v3_with_sts_signs_the_security_token_header(canned_api, make_client):
    canned_api.push(ok_cert())
    query(make_client(security_token=TOKEN))
    (seen,) = canned_api.requests
    assert seen.headers["x-acs-security-token"] == TOKEN
    assert "x-acs-security-token" in seen.headers["authorization"]
    _assert_v3_signature_verifies(seen)


def test_v1_request_carries_every_common_parameter_and_a_valid_signature(canned_api, make_client):
    canned_api.push(ok_cert())
    query(make_client(signature_version="v1", security_token=TOKEN, region_id="cn-shanghai"))
    (seen,) = canned_api.requests
    params = dict(seen.query)
    assert (seen.method, seen.path, seen.body) == ("POST", "/", b"")
    assert params["Action"] == "QueryDeviceCert"
    assert params["Format"] == "JSON"
    assert params["Version"] == "2018-01-20"
    assert params["AccessKeyId"] == KEY_ID
    assert params["SignatureMethod"] == "HMAC-SHA1"
    assert params["SignatureVersion"] == "1.0"
    assert re.fullmatch(r"[0-9a-f-]{36}", params["SignatureNonce"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", params["Timestamp"])
    assert params["RegionId"] == "cn-shanghai"
    assert params["SecurityToken"] == TOKEN
    assert params["ProductKey"] == "a1Demo7Sh2x"
    assert params["DeviceName"] == "thermo-001"
    expected = signing.v1_signature(SECRET, signing.v1_string_to_sign("POST", seen.query))
    assert signing.signatures_equal(expected, params["Signature"])


def test_device_name_with_odd_characters_is_signed_over_its_decoded_value(canned_api, make_client):
    canned_api.push(ok_cert(), ok_cert())
    for version in ("v3", "v1"):
        make_client(signature_version=version).query_device_cert(
            product_key="a1Demo7Sh2x", device_name="dev@home:1 设备*~"
        )
    v3, v1 = canned_api.requests
    assert dict(v3.query)["DeviceName"] == "dev@home:1 设备*~"
    _assert_v3_signature_verifies(v3)
    expected = signing.v1_signature(SECRET, signing.v1_string_to_sign("POST", v1.query))
    assert dict(v1.query)["Signature"] == expected


def test_every_retry_is_signed_afresh(canned_api, make_client):
    canned_api.push(gateway("ServiceUnavailable", 503), gateway("Throttling.User"), ok_cert())
    cert = query(make_client())
    assert cert.status is CertStatus.READY
    assert len(canned_api.requests) == 3
    nonces = {seen.headers["x-acs-signature-nonce"] for seen in canned_api.requests}
    signatures = {seen.headers["authorization"] for seen in canned_api.requests}
    assert len(nonces) == len(signatures) == 3
    for seen in canned_api.requests:
        _assert_v3_signature_verifies(seen)


def test_v1_retries_get_new_nonces_too(canned_api, make_client):
    canned_api.push(gateway("ServiceUnavailable", 503), ok_cert())
    query(make_client(signature_version="v1"))
    nonces = {dict(seen.query)["SignatureNonce"] for seen in canned_api.requests}
    assert len(nonces) == 2


# ---- what is retried and what is not ------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        gateway("Throttling.User", 400, "Request was denied due to user flow control."),
        gateway("ServiceUnavailable", 503),
        gateway("InternalError", 500),
        Canned(status=502, body=b"<html>Bad Gateway</html>"),
        Canned(drop=True),
    ],
    ids=["throttling", "503", "500", "html-502", "dropped"],
)
def test_safe_failures_are_retried_until_success(canned_api, make_client, failure):
    canned_api.push(failure, failure, ok_cert())
    assert query(make_client()).status is CertStatus.READY
    assert len(canned_api.requests) == 3


def test_persistent_5xx_gives_up_after_max_attempts(canned_api, make_client):
    canned_api.push(*[gateway("ServiceUnavailable", 503)] * 5)
    with pytest.raises(IotGatewayError) as caught:
        query(make_client(max_attempts=3))
    assert caught.value.code == "ServiceUnavailable"
    assert caught.value.http_status == 503
    assert caught.value.retryable
    assert caught.value.request_id == "REQ-ServiceUnavailable"
    assert len(canned_api.requests) == 3


def test_persistent_throttling_raises_throttled_error(canned_api, make_client):
    canned_api.push(*[gateway("Throttling.User")] * 4)
    with pytest.raises(IotThrottledError) as caught:
        query(make_client())
    assert caught.value.is_throttled
    assert len(canned_api.requests) == 4


@pytest.mark.parametrize(
    ("answer", "error_type", "code"),
    [
        (gateway("SignatureDoesNotMatch"), IotGatewayError, "SignatureDoesNotMatch"),
        (
            gateway("InvalidAccessKeyId.NotFound", 404),
            IotGatewayError,
            "InvalidAccessKeyId.NotFound",
        ),
        (gateway("Forbidden.RAM", 403), IotGatewayError, "Forbidden.RAM"),
        (gateway("InvalidParameter"), IotGatewayError, "InvalidParameter"),
        (gateway("SignatureNonceUsed"), IotGatewayError, "SignatureNonceUsed"),
        (gateway("InvalidTimeStamp.Expired"), IotGatewayError, "InvalidTimeStamp.Expired"),
        (business("iot.device.NotExistedDevice"), IotBusinessError, "iot.device.NotExistedDevice"),
        (business("iot.prod.NotExistedProduct"), IotBusinessError, "iot.prod.NotExistedProduct"),
        (business("iot.system.InstanceNotFound"), IotBusinessError, "iot.system.InstanceNotFound"),
        (business("iot.system.SystemException"), IotBusinessError, "iot.system.SystemException"),
        (Canned(body=b"{not json"), IotResponseError, "Response.Malformed"),
        (Canned(body=b"[1, 2]"), IotResponseError, "Response.Malformed"),
        (Canned(status=400, body=b"nope"), IotResponseError, "Response.Malformed"),
        (ok_cert(status=7), IotResponseError, "Response.Malformed"),
    ],
)
def test_unsafe_failures_are_raised_at_once(canned_api, make_client, answer, error_type, code):
    canned_api.push(answer, ok_cert())
    with pytest.raises(error_type) as caught:
        query(make_client())
    assert caught.value.code == code
    assert not caught.value.retryable or isinstance(caught.value, IotBusinessError)
    assert len(canned_api.requests) == 1


def test_business_error_predicates_and_fields(canned_api, make_client):
    canned_api.push(business("iot.device.NotExistedDevice", "The device does not exist."))
    with pytest.raises(IotBusinessError) as caught:
        query(make_client())
    error = caught.value
    assert error.is_not_found
    assert not error.is_instance_error
    assert error.http_status == 200
    assert str(error) == (
        "iot.device.NotExistedDevice: The device does not exist. "
        "(RequestId: REQ-iot.device.NotExistedDevice)"
    )


def test_gateway_error_keeps_host_id_and_recommend(canned_api, make_client):
    canned_api.push(gateway("Forbidden.RAM", 403))
    with pytest.raises(IotGatewayError) as caught:
        query(make_client())
    assert caught.value.host_id == "iot.cn-shanghai.aliyuncs.com"
    assert caught.value.recommend.endswith("Forbidden.RAM")
    assert caught.value.is_credentials_error


# ---- transport ------------------------------------------------------------------------------


def test_persistent_drops_become_a_transport_error(canned_api, make_client):
    canned_api.push(*[Canned(drop=True)] * 2)
    with pytest.raises(IotTransportError) as caught:
        query(make_client(max_attempts=2))
    assert caught.value.code == "Transport.Unreachable"
    assert caught.value.retryable
    assert len(canned_api.requests) == 2


def test_read_timeout_is_retried_then_reported(canned_api, make_client):
    canned_api.push(Canned(delay=0.6, body={}), ok_cert())
    assert query(make_client(read_timeout=0.2)).status is CertStatus.READY
    canned_api.push(Canned(delay=0.6, body={}))
    with pytest.raises(IotTransportError) as caught:
        query(make_client(read_timeout=0.2, max_attempts=1))
    assert caught.value.code == "Transport.Timeout"


def test_unreachable_endpoint_reports_neither_url_nor_signature(make_client):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(
        endpoint=f"http://127.0.0.1:{port}",
        signature_version="v1",
        security_token=TOKEN,
        max_attempts=2,
    )
    with pytest.raises(IotTransportError) as caught:
        query(client)
    error = caught.value
    assert error.code == "Transport.Unreachable"
    assert error.__cause__ is None
    assert error.__suppress_context__
    for text in (str(error), repr(error), repr(error.args)):
        assert "Signature" not in text
        assert SECRET not in text
        assert "sts" not in text.lower()


# ---- size limit -------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_response_is_refused(canned_api, make_client, chunked):
    huge = ok_cert().body | {"Padding": "x" * 200_000}
    canned_api.push(Canned(body=huge, chunked=chunked), ok_cert())
    with pytest.raises(IotResponseError) as caught:
        query(make_client(max_response_bytes=100_000))
    assert caught.value.code == "Response.TooLarge"
    assert len(canned_api.requests) == 1


def test_response_just_under_the_limit_is_read(canned_api, make_client):
    canned_api.push(Canned(body=ok_cert().body | {"Padding": "x" * 50_000}, chunked=True))
    assert query(make_client(max_response_bytes=100_000)).status is CertStatus.READY


# ---- nothing secret escapes ---------------------------------------------------------------------


def _assert_clean(error, *needles):
    texts = [str(error), repr(error), repr(error.args), repr(error.__dict__)]
    for needle in needles:
        for text in texts:
            assert needle not in text


def test_signature_mismatch_message_keeps_the_string_to_sign_but_not_the_token(
    canned_api, make_client
):
    encoded_token = signing.percent_encode(signing.percent_encode(TOKEN))
    message = (
        "Specified signature is not matched with our calculation. server string to sign is:"
        f"POST&%2F&AccessKeyId%3D{KEY_ID}%26SecurityToken%3D{encoded_token}"
    )
    canned_api.push(gateway("SignatureDoesNotMatch", 400, message))
    with pytest.raises(IotGatewayError) as caught:
        query(make_client(signature_version="v1", security_token=TOKEN))
    assert "server string to sign is:POST&%2F&AccessKeyId" in caught.value.message
    _assert_clean(caught.value, TOKEN, encoded_token, SECRET, "CAIS")
    assert caught.value.is_credentials_error


def test_a_server_echoing_the_secret_or_a_private_key_is_scrubbed(canned_api, make_client):
    canned_api.push(
        Canned(
            body={
                "RequestId": "REQ-X",
                "Success": False,
                "Code": "iot.system.SystemException",
                "ErrorMessage": f"secret={SECRET} key={PRIVATE_KEY} raw=MIIEowIBAAKCAQEA",
                "DeviceCertInfo": {"PrivateKey": "MIIEowIBAAKCAQEA"},
            }
        )
    )
    with pytest.raises(IotBusinessError) as caught:
        query(make_client())
    _assert_clean(caught.value, SECRET, "PRIVATE KEY", "MIIEowIBAAKCAQEA", "secretkeymaterial")
    assert "[redacted]" in caught.value.message


def test_malformed_response_with_a_key_does_not_quote_it(canned_api, make_client):
    canned_api.push(ok_cert(status=9))
    canned_api.answers[0].body["DeviceCertInfo"]["PrivateKey"] = PRIVATE_KEY
    with pytest.raises(IotResponseError) as caught:
        query(make_client())
    _assert_clean(caught.value, PRIVATE_KEY, "secretkeymaterial", SECRET)


def test_client_repr_hides_the_secret_and_token(make_client):
    client = make_client(security_token=TOKEN)
    assert SECRET not in repr(client)
    assert TOKEN not in repr(client)
    assert KEY_ID in repr(client)


def test_logs_name_the_call_but_carry_no_secrets(canned_api, make_client, caplog):
    caplog.set_level(logging.DEBUG, logger="certadmin.iot")
    canned_api.push(gateway("Throttling.User"), ok_cert())
    query(make_client(security_token=TOKEN, signature_version="v1"))
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "QueryDeviceCert" in text
    assert "Throttling.User" in text
    assert "REQ-OK" in text
    assert "thermo-001" in text
    for needle in (SECRET, TOKEN, "secretkeymaterial", "MIIDcert", "Signature="):
        assert needle not in text


# ---- rate limiting ---------------------------------------------------------------------------


class RecordingLimiter:
    def __init__(self) -> None:
        self.grants: list[tuple[str, str]] = []

    def acquire(self, key: str, *, quota: str) -> None:
        self.grants.append((key, quota))


def test_rate_limiter_is_acquired_before_every_query_device_cert_attempt(canned_api, make_client):
    limiter = RecordingLimiter()
    canned_api.push(gateway("Throttling.User"), ok_cert())
    query(make_client(rate_limiter=limiter))
    assert limiter.grants == [(KEY_ID, "QueryDeviceCert"), (KEY_ID, "QueryDeviceCert")]


def _empty_page() -> Canned:
    return Canned(body={"RequestId": "r", "Success": True, "Data": {}, "Total": 0})


def test_query_device_is_held_to_its_own_quota(canned_api, make_client):
    limiter = RecordingLimiter()
    canned_api.push(_empty_page())
    make_client(rate_limiter=limiter).query_device(
        product_key="a1Demo7Sh2x", page=1999, next_token="previous-page-token"
    )
    assert limiter.grants == [(KEY_ID, "QueryDevice")]


def test_a_query_device_page_past_row_100000_also_takes_the_deep_page_quota(
    canned_api, make_client
):
    limiter = RecordingLimiter()
    canned_api.push(_empty_page(), _empty_page())
    client = make_client(rate_limiter=limiter)
    client.query_device(product_key="a1Demo7Sh2x", page=2000, page_size=50, next_token="t1")
    client.query_device(product_key="a1Demo7Sh2x", page=2001, page_size=50, next_token="t2")
    assert limiter.grants == [(KEY_ID, "QueryDevice.deep"), (KEY_ID, "QueryDevice")] * 2


def test_local_limiter_timeout_is_raised_without_calling_the_api(canned_api, make_client):
    limiter = GcraRateLimiter(limits={"QueryDeviceCert": 1}, window=10.0, max_wait=0.05)
    canned_api.push(ok_cert(), ok_cert())
    client = make_client(rate_limiter=limiter)
    query(client)
    with pytest.raises(RateLimitTimeout):
        query(client)
    assert len(canned_api.requests) == 1


# ---- QueryDevice ------------------------------------------------------------------------------


def test_query_device_sends_paging_params_and_drops_secrets(canned_api, make_client):
    rows = [
        {
            "DeviceName": f"sensor-{n:04d}",
            "DeviceSecret": DEVICE_SECRET,
            "DeviceStatus": "UNACTIVE",
            "IotId": f"iot{n}",
            "Nickname": "",
            "GmtCreate": "Tue, 05-Mar-2024 08:00:00 GMT",
        }
        for n in (51, 52)
    ]
    canned_api.push(
        Canned(
            body={
                "RequestId": "REQ-L",
                "Success": True,
                "Data": {"DeviceInfo": rows},
                "Total": 52,
                "PageSize": 50,
                "PageCount": 2,
                "Page": 2,
            }
        )
    )
    page = make_client().query_device(product_key="a1Demo7Sh2x", page=2, page_size=50)
    (seen,) = canned_api.requests
    assert seen.headers["x-acs-action"] == "QueryDevice"
    assert dict(seen.query) == {"ProductKey": "a1Demo7Sh2x", "CurrentPage": "2", "PageSize": "50"}
    assert [d.device_name for d in page.devices] == ["sensor-0051", "sensor-0052"]
    assert page.devices[0].created == "Tue, 05-Mar-2024 08:00:00 GMT"
    assert (page.page, page.page_count, page.total) == (2, 2, 52)
    assert DEVICE_SECRET not in repr(page)


@pytest.mark.parametrize(("page", "size"), [(0, 10), (1, 0), (1, 51)])
def test_query_device_refuses_bad_paging(make_client, page, size):
    with pytest.raises(ValueError, match="page"):
        make_client().query_device(product_key="p", page=page, page_size=size)


@pytest.mark.parametrize(
    "overrides",
    [
        {"endpoint": "iot.cn-shanghai.aliyuncs.com"},
        {"endpoint": "ftp://x"},
        {"signature_version": "v2"},
        {"access_key_secret": ""},
        {"max_attempts": 0},
    ],
)
def test_bad_configuration_is_refused(make_client, overrides):
    with pytest.raises(ValueError, match=r"must|required"):
        make_client(**overrides)


def test_endpoint_path_is_ignored_and_host_is_the_netloc():
    client = IotClient(
        endpoint="https://iot.cn-shanghai.aliyuncs.com/",
        access_key_id=KEY_ID,
        access_key_secret=SECRET,
    )
    assert client.endpoint == "https://iot.cn-shanghai.aliyuncs.com"
    assert client.host == "iot.cn-shanghai.aliyuncs.com"
    client.close()


# ---- what the client reads from its session once ------------------------------------------------


def test_an_explicitly_configured_proxy_carries_the_request(canned_api, make_client):
    session = requests.Session()
    session.trust_env = False
    session.proxies = {"http": canned_api.url}
    canned_api.push(ok_cert())
    # .invalid never resolves: the answer can only have come through the proxy.
    cert = query(make_client(endpoint="http://iot.example.invalid", session=session))
    assert cert.request_id == "REQ-OK"
    (seen,) = canned_api.requests
    assert seen.headers["host"] == "iot.example.invalid"
    _assert_v3_signature_verifies(seen)


def test_a_proxy_from_the_environment_is_used(canned_api, make_client, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", canned_api.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    canned_api.push(ok_cert())
    assert query(make_client(endpoint="http://iot.example.invalid")).request_id == "REQ-OK"
    assert canned_api.requests[0].headers["host"] == "iot.example.invalid"


def test_session_headers_are_sent_and_ours_win(canned_api, make_client):
    session = requests.Session()
    session.headers.update(
        {"User-Agent": "certadmin-test/1", "Accept": "text/html", "X-Extra": "1"}
    )
    session.headers["Connection"] = None  # a None session header is not sent
    canned_api.push(ok_cert())
    query(make_client(session=session))
    headers = canned_api.requests[0].headers
    assert headers["user-agent"] == "certadmin-test/1"
    assert headers["x-extra"] == "1"
    assert headers["accept"] == "application/json"
    assert headers["content-length"] == "0"
    assert "connection" not in headers


def test_a_response_hook_on_the_session_sees_the_response(canned_api, make_client):
    seen = []
    session = requests.Session()
    session.hooks["response"].append(
        lambda response, **_: seen.append((response.status_code, response.request.headers))
    )
    canned_api.push(ok_cert())
    query(make_client(session=session))
    ((status, request_headers),) = seen
    assert status == 200
    assert request_headers["X-ACS-ACTION"] == "QueryDeviceCert"


@pytest.mark.parametrize("field", ["access_key_id", "security_token"])
def test_a_header_breaking_credential_is_refused_without_being_quoted(make_client, field):
    value = "CAIS-line\r\nX-Injected: 1"
    with pytest.raises(ValueError, match="cannot carry") as refused:
        make_client(**{field: value})
    assert "Injected" not in str(refused.value)


def test_the_clients_own_session_sends_only_the_headers_the_api_needs(canned_api, make_client):
    canned_api.push(ok_cert())
    query(make_client())
    headers = canned_api.requests[0].headers
    assert headers["accept-encoding"] == "identity"  # http.client's own, when none is set
    assert "connection" not in headers
    assert headers["user-agent"].startswith("python-requests/")
    assert set(headers) == {
        "host",
        "user-agent",
        "accept",
        "accept-encoding",
        "content-length",
        "authorization",
        "x-acs-action",
        "x-acs-version",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
    }
