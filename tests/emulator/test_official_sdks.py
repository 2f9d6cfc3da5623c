"""Both official Alibaba Cloud Python SDKs work against the emulator unchanged."""

import json

import pytest
from alibabacloud_iot20180120 import models as iot_models
from alibabacloud_iot20180120.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.models import Config
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkiot.request.v20180120.QueryDeviceCertRequest import QueryDeviceCertRequest
from aliyunsdkiot.request.v20180120.QueryDeviceRequest import QueryDeviceRequest
from django.conf import settings

from certadmin.emulator import DEMO_PRODUCT_KEY, ENTERPRISE_INSTANCE_ID, ENTERPRISE_PRODUCT_KEY

# The newer SDK calls datetime.utcnow(); that is its business, not these tests'.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:alibabacloud_tea_openapi.*")


def old_client(emulator, secret: str | None = None, **kwargs) -> AcsClient:
    return AcsClient(
        settings.DEMO_ACCESS_KEY_ID,
        secret or settings.DEMO_ACCESS_KEY_SECRET,
        "cn-shanghai",
        port=emulator.port,
        auto_retry=False,
        **kwargs,
    )


def old_request(request_class, **params: str):
    request = request_class()
    request.set_endpoint("127.0.0.1")
    request.set_protocol_type("http")
    for name, value in params.items():
        getattr(request, f"set_{name}")(value)
    return request


def new_client(emulator, secret: str | None = None, **config) -> Client:
    return Client(
        Config(
            access_key_id=settings.DEMO_ACCESS_KEY_ID,
            access_key_secret=secret or settings.DEMO_ACCESS_KEY_SECRET,
            endpoint=f"127.0.0.1:{emulator.port}",
            protocol="http",
            **config,
        )
    )


# --- the older SDK (aliyunsdkcore, V1 signatures) --------------------------------------------


def test_old_sdk_queries_a_certificate(emulator):
    request = old_request(
        QueryDeviceCertRequest, ProductKey=DEMO_PRODUCT_KEY, DeviceName="cam-lobby:01"
    )
    body = json.loads(old_client(emulator).do_action_with_exception(request))
    assert body["Success"] is True
    assert body["DeviceCertInfo"]["Certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert emulator.request_log == [
        ("QueryDeviceCert", settings.DEMO_ACCESS_KEY_ID, "v1", "cam-lobby:01")
    ]


def test_old_sdk_with_wrong_secret_gets_a_server_exception_not_an_index_error(emulator):
    request = old_request(
        QueryDeviceCertRequest, ProductKey=DEMO_PRODUCT_KEY, DeviceName="thermo-001"
    )
    with pytest.raises(ServerException) as caught:
        old_client(emulator, secret="wrong-secret").do_action_with_exception(request)
    # The SDK compares the server's string to sign with its own; they match, so it reports
    # the secret as the culprit (SignatureDoesNotMatch would mean a canonicalisation bug).
    assert caught.value.get_http_status() == 400
    assert caught.value.get_error_code() == "InvalidAccessKeySecret"


def test_old_sdk_enterprise_instance(emulator):
    request = old_request(
        QueryDeviceCertRequest,
        ProductKey=ENTERPRISE_PRODUCT_KEY,
        DeviceName="ent-gw-01",
        IotInstanceId=ENTERPRISE_INSTANCE_ID,
    )
    body = json.loads(old_client(emulator).do_action_with_exception(request))
    assert body["DeviceCertInfo"]["Status"] == 2


def test_old_sdk_business_error_is_a_normal_answer(emulator):
    request = old_request(
        QueryDeviceCertRequest, ProductKey=DEMO_PRODUCT_KEY, DeviceName="nobody-here"
    )
    body = json.loads(old_client(emulator).do_action_with_exception(request))
    assert (body["Success"], body["Code"]) == (False, "iot.device.NotExistedDevice")


def test_old_sdk_with_an_sts_token(emulator):
    credential = StsTokenCredential(
        settings.DEMO_ACCESS_KEY_ID, settings.DEMO_ACCESS_KEY_SECRET, "sts-old-sdk"
    )
    client = AcsClient(
        region_id="cn-shanghai", credential=credential, port=emulator.port, auto_retry=False
    )
    request = old_request(
        QueryDeviceCertRequest, ProductKey=DEMO_PRODUCT_KEY, DeviceName="thermo-001"
    )
    assert json.loads(client.do_action_with_exception(request))["Success"] is True
    assert emulator.security_tokens == ["sts-old-sdk"]


def test_old_sdk_query_device(emulator):
    request = old_request(
        QueryDeviceRequest, ProductKey=DEMO_PRODUCT_KEY, PageSize=5, CurrentPage=2
    )
    body = json.loads(old_client(emulator).do_action_with_exception(request))
    assert (body["Page"], body["PageSize"]) == (2, 5)
    assert len(body["Data"]["DeviceInfo"]) == 5


# --- the newer SDK (alibabacloud_iot20180120, V3 signatures) ---------------------------------


def test_new_sdk_queries_a_certificate(emulator):
    response = new_client(emulator).query_device_cert(
        iot_models.QueryDeviceCertRequest(product_key=DEMO_PRODUCT_KEY, device_name="lab.probe@b2")
    )
    assert response.status_code == 200
    assert response.body.success is True
    info = response.body.device_cert_info
    assert info.status == 2
    assert info.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert emulator.request_log == [
        ("QueryDeviceCert", settings.DEMO_ACCESS_KEY_ID, "v3", "lab.probe@b2")
    ]


def test_new_sdk_with_wrong_secret_is_refused(emulator):
    with pytest.raises(ClientException) as caught:
        new_client(emulator, secret="wrong").query_device_cert(
            iot_models.QueryDeviceCertRequest(
                product_key=DEMO_PRODUCT_KEY, device_name="thermo-001"
            )
        )
    assert caught.value.code == "SignatureDoesNotMatch"


def test_new_sdk_with_an_sts_token(emulator):
    client = new_client(emulator, security_token="sts-new-sdk")
    response = client.query_device_cert(
        iot_models.QueryDeviceCertRequest(product_key=DEMO_PRODUCT_KEY, device_name="thermo-001")
    )
    assert response.body.success is True
    assert emulator.security_tokens == ["sts-new-sdk"]


def test_new_sdk_business_error(emulator):
    response = new_client(emulator).query_device_cert(
        iot_models.QueryDeviceCertRequest(product_key=DEMO_PRODUCT_KEY, device_name="")
    )
    assert response.body.success is False
    assert response.body.code == "iot.device.NullDeviceName"


def test_new_sdk_query_device(emulator):
    response = new_client(emulator).query_device(
        iot_models.QueryDeviceRequest(product_key=DEMO_PRODUCT_KEY, page_size=50, current_page=2)
    )
    assert response.body.success is True
    assert response.body.page == 2
    assert len(response.body.data.device_info) == response.body.total - 50
