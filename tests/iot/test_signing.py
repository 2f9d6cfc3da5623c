"""certadmin.iot.signing against the official worked examples of Alibaba Cloud's documentation."""

import pytest

from certadmin.iot import signing

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _official_v3_example() -> tuple[str, str]:
    headers = {
        "host": "ecs.cn-shanghai.aliyuncs.com",
        "x-acs-action": "RunInstances",
        "x-acs-version": "2014-05-26",
        "x-acs-date": "2023-10-26T10:22:32Z",
        "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
        "x-acs-content-sha256": signing.sha256_hex(b""),
    }
    return signing.v3_canonical_request(
        method="POST",
        query={
            "ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            "RegionId": "cn-shanghai",
        },
        headers=headers,
        signed_headers=signing.v3_headers_to_sign(headers),
        hashed_payload=signing.sha256_hex(b""),
    )


def test_empty_body_hash_is_the_sha256_of_nothing():
    assert signing.sha256_hex(b"") == EMPTY_SHA256


def test_v3_official_example_hashed_canonical_request():
    canonical, signed_headers = _official_v3_example()
    assert signed_headers == (
        "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
    )
    assert signing.sha256_hex(canonical.encode()) == (
        "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    )
    assert signing.v3_string_to_sign(canonical) == (
        "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    )


def test_v3_official_example_signature_and_authorization():
    canonical, signed_headers = _official_v3_example()
    signature = signing.v3_signature("YourAccessKeySecret", signing.v3_string_to_sign(canonical))
    assert signature == "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    assert signing.v3_authorization("YourAccessKeyId", signed_headers, signature) == (
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,"
        f"SignedHeaders={signed_headers},Signature={signature}"
    )


def test_v3_header_names_are_matched_case_insensitively_and_values_trimmed():
    canonical, _ = _official_v3_example()
    shouted = {
        "Host": " ecs.cn-shanghai.aliyuncs.com ",
        "X-Acs-Action": "RunInstances",
        "X-Acs-Version": "2014-05-26",
        "X-Acs-Date": "2023-10-26T10:22:32Z",
        "X-Acs-Signature-Nonce": "3156853299f313e23d1673dc12e1703d",
        "X-Acs-Content-Sha256": EMPTY_SHA256,
        "User-Agent": "not signed",
    }
    again, _ = signing.v3_canonical_request(
        method="post",
        query=[
            ("RegionId", "cn-shanghai"),
            ("ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"),
        ],
        headers=shouted,
        signed_headers=signing.v3_headers_to_sign(shouted),
        hashed_payload=EMPTY_SHA256,
    )
    assert again == canonical


def test_v1_official_example_signature():
    params = {
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "Format": "XML",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "SignatureVersion": "1.0",
        "Timestamp": "2016-02-23T12:46:24Z",
        "Version": "2014-05-26",
    }
    string_to_sign = signing.v1_string_to_sign("GET", params)
    assert string_to_sign.startswith("GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions")
    assert signing.v1_signature("testsecret", string_to_sign) == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_v1_string_to_sign_ignores_a_signature_parameter_but_keeps_empty_ones():
    params = {"Action": "QueryDeviceCert", "SignatureType": ""}
    with_signature = {**params, "Signature": "abc="}
    assert signing.v1_string_to_sign("POST", with_signature) == signing.v1_string_to_sign(
        "POST", params
    )
    assert "SignatureType%3D%26" in signing.v1_string_to_sign("POST", params) + "%26"


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("设备", "%E8%AE%BE%E5%A4%87"),
        ("a b", "a%20b"),
        ("*", "%2A"),
        ("~", "~"),
        ("/", "%2F"),
        (":", "%3A"),
        ("+", "%2B"),
        ("AZaz09-_.", "AZaz09-_."),
        ("dev@home:1", "dev%40home%3A1"),
    ],
)
def test_percent_encode_follows_rfc3986_over_utf8(raw, encoded):
    assert signing.percent_encode(raw) == encoded


def test_canonical_query_string_sorts_by_name_and_encodes_both_sides():
    assert signing.canonical_query_string({"b": "2 3", "a*": "设", "A": "x"}) == (
        "A=x&a%2A=%E8%AE%BE&b=2%203"
    )


def test_signatures_equal_compares_exactly():
    assert signing.signatures_equal("abc", "abc")
    assert not signing.signatures_equal("abc", "abd")


@pytest.mark.parametrize("value", ["", "a", "ab-_.~", "a b", "%", "x/y", "é", "a\x00b", "~~~*"])
def test_percent_encode_shortcut_for_unreserved_text_agrees_with_quote(value):
    from urllib.parse import quote

    assert signing.percent_encode(value) == quote(value, safe="-_.~", encoding="utf-8")


@pytest.mark.parametrize("token", [None, " CAIS+sts/token==value "])
@pytest.mark.parametrize("query", [{}, {"ProductKey": "a1B", "DeviceName": "设备 #1/x"}])
def test_v3_signer_signs_as_the_canonical_request_functions_do(token, query):
    date, nonce = "2023-10-26T10:22:32Z", "3156853299f313e23d1673dc12e1703d"
    headers = {
        "host": "ecs.cn-shanghai.aliyuncs.com",
        "x-acs-action": "RunInstances",
        "x-acs-version": "2014-05-26",
        "x-acs-date": date,
        "x-acs-signature-nonce": nonce,
        "x-acs-content-sha256": EMPTY_SHA256,
    }
    if token:
        headers["x-acs-security-token"] = token
    canonical, signed_headers = signing.v3_canonical_request(
        method="POST",
        query=query,
        headers=headers,
        signed_headers=signing.v3_headers_to_sign(headers),
        hashed_payload=EMPTY_SHA256,
    )
    expected = signing.v3_signature("YourAccessKeySecret", signing.v3_string_to_sign(canonical))
    signer = signing.V3Signer(
        access_key_id="YourAccessKeyId",
        access_key_secret="YourAccessKeySecret",
        host="ecs.cn-shanghai.aliyuncs.com",
        api_version="2014-05-26",
        security_token=token,
    )

    for _ in range(2):  # the keyed HMAC is reused, never updated in place
        query_string, sent, signature = signer.sign(
            action="RunInstances", query=query, date=date, nonce=nonce
        )
        assert signature == expected
        assert query_string == signing.canonical_query_string(query)
        assert sent.pop("Authorization") == signing.v3_authorization(
            "YourAccessKeyId", signed_headers, expected
        )
        assert sent == headers


def test_v3_signer_reproduces_the_official_example():
    signer = signing.V3Signer(
        access_key_id="YourAccessKeyId",
        access_key_secret="YourAccessKeySecret",
        host="ecs.cn-shanghai.aliyuncs.com",
        api_version="2014-05-26",
    )
    _, _, signature = signer.sign(
        action="RunInstances",
        query={
            "ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            "RegionId": "cn-shanghai",
        },
        date="2023-10-26T10:22:32Z",
        nonce="3156853299f313e23d1673dc12e1703d",
    )
    assert signature == "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
