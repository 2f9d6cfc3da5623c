"""Parsing QueryDeviceCert / QueryDevice bodies into the client's dataclasses."""

import dataclasses
import pickle

import pytest

from certadmin.iot.errors import IotResponseError
from certadmin.iot.results import (
    CertStatus,
    DeviceCert,
    DeviceListing,
    parse_device_cert,
    parse_device_list_page,
)

PRIVATE_KEY = (
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAAS\n-----END PRIVATE KEY-----"
)
DEVICE_SECRET = "Fz3vKXr0nPq9secretSECRET4u8Yx1ab"


def _cert_body(**info):
    return {
        "RequestId": "57b144cf-09fc-4916-a272-a62902d5b207",
        "Success": True,
        "DeviceCertInfo": {
            "Status": 2,
            "Certificate": "tXHf4ezGEHcwdyMwoCDHGBmk9avi",
            "PrivateKey": PRIVATE_KEY,
            "CertSN": "636217374433",
            **info,
        },
    }


def _parse(body):
    return parse_device_cert(
        body,
        product_key="a1Demo7Sh2x",
        device_name="thermo-001",
        iot_instance_id=None,
        request_id="REQ-1",
    )


def test_ready_certificate_is_parsed_verbatim():
    cert = _parse(_cert_body())
    assert cert == DeviceCert(
        product_key="a1Demo7Sh2x",
        device_name="thermo-001",
        iot_instance_id=None,
        status=CertStatus.READY,
        cert_sn="636217374433",
        certificate="tXHf4ezGEHcwdyMwoCDHGBmk9avi",
        private_key=PRIVATE_KEY,
        request_id="REQ-1",
    )


def test_private_key_never_appears_in_repr_or_str():
    cert = _parse(_cert_body())
    assert "PRIVATE KEY" not in repr(cert)
    assert "MIIEvQ" not in str(cert)
    assert "private_key" not in repr(cert)
    assert "636217374433" in repr(cert)


def test_cert_is_frozen():
    cert = _parse(_cert_body())
    with pytest.raises(dataclasses.FrozenInstanceError):
        cert.private_key = ""  # type: ignore[misc]


@pytest.mark.parametrize(("raw", "status"), [(0, CertStatus.GENERATING), ("1", CertStatus.FAILED)])
def test_pending_and_failed_certificates_have_empty_material(raw, status):
    cert = _parse(_cert_body(Status=raw, Certificate=None, PrivateKey=None, CertSN=None))
    assert cert.status is status
    assert (cert.certificate, cert.private_key, cert.cert_sn) == ("", "", "")


@pytest.mark.parametrize("raw", [3, -1, "two", None, True, 2.0])
def test_unknown_status_is_a_malformed_response_that_does_not_quote_the_body(raw):
    with pytest.raises(IotResponseError) as caught:
        _parse(_cert_body(Status=raw))
    assert caught.value.code == "Response.Malformed"
    assert caught.value.request_id == "REQ-1"
    for text in (str(caught.value), repr(caught.value), repr(caught.value.args)):
        assert "MIIEvQ" not in text
        assert "PRIVATE KEY" not in text


def test_missing_cert_info_is_malformed():
    with pytest.raises(IotResponseError, match="DeviceCertInfo"):
        _parse({"RequestId": "x", "Success": True})


def test_non_string_certificate_is_malformed():
    with pytest.raises(IotResponseError):
        _parse(_cert_body(Certificate={"nested": "object"}))


def _device_row(n: int) -> dict:
    return {
        "DeviceId": f"id{n}",
        "DeviceSecret": DEVICE_SECRET,
        "ProductKey": "a1Demo7Sh2x",
        "DeviceStatus": "ONLINE",
        "DeviceName": f"sensor-{n:04d}",
        "DeviceType": "",
        "GmtCreate": "Tue, 05-Mar-2024 08:00:00 GMT",
        "UtcCreate": "2024-03-05T08:00:00.000Z",
        "IotId": f"iotid{n}",
        "Nickname": f"Sensor {n}",
    }


def test_device_list_drops_the_device_secret_everywhere():
    body = {
        "RequestId": "REQ-2",
        "Success": True,
        "Data": {"DeviceInfo": [_device_row(1), _device_row(2)]},
        "Total": 55,
        "PageSize": 2,
        "PageCount": 28,
        "Page": 1,
    }
    page = parse_device_list_page(
        body,
        product_key="a1Demo7Sh2x",
        iot_instance_id=None,
        page=1,
        page_size=2,
        request_id="REQ-2",
    )
    assert (page.total, page.page_size, page.page_count, page.page) == (55, 2, 28, 1)
    assert page.devices[0] == DeviceListing(
        device_name="sensor-0001",
        nickname="Sensor 1",
        device_status="ONLINE",
        iot_id="iotid1",
        created="2024-03-05T08:00:00.000Z",
    )
    assert not any(hasattr(d, "device_secret") for d in page.devices)
    assert DEVICE_SECRET not in repr(page)
    assert DEVICE_SECRET not in str(page)
    assert DEVICE_SECRET.encode() not in pickle.dumps(page)
    assert DEVICE_SECRET not in repr(dataclasses.asdict(page))


def test_empty_device_list_and_missing_counts():
    page = parse_device_list_page(
        {"RequestId": "r", "Success": True, "Data": {}},
        product_key="a1Demo7Sh2x",
        iot_instance_id="iot-06z00demo0ent",
        page=3,
        page_size=50,
        request_id="r",
    )
    assert page.devices == []
    assert (page.total, page.page, page.page_size, page.page_count) == (0, 3, 50, 0)


def test_single_row_as_object_is_accepted():
    page = parse_device_list_page(
        {"Success": True, "Data": {"DeviceInfo": _device_row(7)}, "Total": 1},
        product_key="p",
        iot_instance_id=None,
        page=1,
        page_size=50,
        request_id="r",
    )
    assert [d.device_name for d in page.devices] == ["sensor-0007"]


def test_device_rows_of_the_wrong_shape_are_malformed():
    with pytest.raises(IotResponseError):
        parse_device_list_page(
            {"Success": True, "Data": {"DeviceInfo": ["x"]}},
            product_key="p",
            iot_instance_id=None,
            page=1,
            page_size=50,
            request_id="r",
        )
