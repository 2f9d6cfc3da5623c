"""Only what was parsed as a certificate is shown or stored.

A ``Certificate`` string that carries a private key in a shape no PEM-key pattern recognises
must not reach the certificate page, the inventory, the CLI or a log. The emulator returns each
shape verbatim over real HTTP; the platform's other strings (CertSN, RequestId, Code, error
messages, nicknames) keep their field's shape or are replaced by a length and a digest.
"""

import base64
import hashlib
import io
import json
import logging
import textwrap

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.management import call_command

from certadmin.devices.models import CertificateRecord
from certadmin.emulator import DEMO_PRODUCT_KEY
from certadmin.iot.client import IotClient
from certadmin.iot.errors import IotBusinessError, IotGatewayError
from certadmin.iot.platform_text import platform_message, platform_token, unreadable
from certadmin.iot.results import parse_device_list_page
from tests.support.canned_api import Canned, CannedApi
from tests.support.certificates import make_leaf
from tests.support.key_material import key_fragments

pytestmark = pytest.mark.django_db

PK = DEMO_PRODUCT_KEY


@pytest.fixture(scope="module")
def leaf():
    return make_leaf(key_slot=7)


def der_base64(issued) -> str:
    der = issued.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return base64.b64encode(der).decode()


def wrapped(text: str) -> str:
    return "\n".join(textwrap.wrap(text, 64))


SHAPES = {
    "der-after-text": lambda leaf: "Certificate follows: " + der_base64(leaf),
    "four-dashes": lambda leaf: leaf.key_pem().replace("-----", "----"),
    "lowercase-label": lambda leaf: leaf.key_pem().replace("PRIVATE KEY", "private key"),
    "key-under-certificate-label": lambda leaf: (
        f"-----BEGIN CERTIFICATE-----\n{wrapped(der_base64(leaf))}\n-----END CERTIFICATE-----\n"
    ),
    "certificate-then-bare-key": lambda leaf: leaf.cert_pem + der_base64(leaf),
    "certificate-then-wrapped-key": lambda leaf: leaf.cert_pem + wrapped(der_base64(leaf)),
}
# The certificate is readable in these shapes: it is shown re-encoded, nothing more.
CERTIFICATE_READABLE = {"certificate-then-bare-key", "certificate-then-wrapped-key"}


def leaks(text: str, leaf) -> list[str]:
    fragments = [*key_fragments(leaf.key_pem()), der_base64(leaf)[:40], der_base64(leaf)[-40:]]
    return [fragment for fragment in fragments if fragment in text]


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_key_material_in_the_certificate_field_reaches_no_page_row_cli_or_log(
    dashboard_iot, viewer, client_for, leaf, shape, caplog
):
    caplog.set_level(logging.DEBUG)
    name = f"shape-{shape}"[:32]
    received = SHAPES[shape](leaf)
    dashboard_iot.add_device(
        {
            "product_key": PK,
            "device_name": name,
            "certificate": received,
            "private_key": leaf.key_pem(),
        }
    )

    response = client_for(viewer).get(f"/devices/{PK}/{name}/?refresh=1")
    html = response.content.decode()
    record = CertificateRecord.objects.get(product_key=PK, device_name=name)
    cli_text, cli_json = io.StringIO(), io.StringIO()
    call_command("querydevicecert", "--product-key", PK, "--device-name", name, stdout=cli_text)
    call_command(
        "querydevicecert", "--product-key", PK, "--device-name", name, "--json", stdout=cli_json
    )

    assert response.status_code == 200
    assert leaks(html, leaf) == []
    assert leaks(record.certificate, leaf) == []
    assert leaks(cli_text.getvalue(), leaf) == []
    assert leaks(cli_json.getvalue(), leaf) == []
    assert leaks(caplog.text, leaf) == []
    if shape in CERTIFICATE_READABLE:
        # Only the parsed certificate, re-encoded, is kept.
        assert record.certificate == leaf.cert_pem
        assert json.loads(cli_json.getvalue())["certificate"]["sha256_fingerprint"]
    else:
        assert record.certificate == ""
        assert "The certificate could not be decoded" in html
        assert hashlib.sha256(received.encode()).hexdigest() in html
        assert f"sent {len(received)} characters" in html
        assert json.loads(cli_json.getvalue())["decode_error"]


def test_an_undecodable_certificate_is_asked_for_again_not_served_empty_from_the_inventory(
    dashboard_iot, viewer, client_for, leaf
):
    dashboard_iot.add_device(
        {"product_key": PK, "device_name": "shape-again", "certificate": der_base64(leaf)}
    )
    browser = client_for(viewer)

    browser.get(f"/devices/{PK}/shape-again/")
    second = browser.get(f"/devices/{PK}/shape-again/").content.decode()

    assert "The certificate could not be decoded" in second


def test_a_cert_sn_that_is_not_a_serial_is_shown_and_stored_only_as_length_and_digest(
    dashboard_iot, viewer, client_for, leaf
):
    # Not a serial, and not key material either (that is withheld: tests/devices/
    # test_key_material_withheld.py): the certificate's own DER in base64.
    hostile = "SN " + base64.b64encode(leaf.cert.public_bytes(serialization.Encoding.DER)).decode()
    dashboard_iot.add_device(
        {
            "product_key": PK,
            "device_name": "shape-certsn",
            "cert_sn": hostile,
            "certificate": leaf.cert_pem,
            "private_key": leaf.key_pem(),
        }
    )

    html = client_for(viewer).get(f"/devices/{PK}/shape-certsn/").content.decode()
    record = CertificateRecord.objects.get(product_key=PK, device_name="shape-certsn")
    cli = io.StringIO()
    call_command(
        "querydevicecert", "--product-key", PK, "--device-name", "shape-certsn", stdout=cli
    )

    assert record.cert_sn == unreadable(hostile)
    assert leaks(html, leaf) == leaks(record.cert_sn, leaf) == leaks(cli.getvalue(), leaf) == []
    assert hashlib.sha256(hostile.encode()).hexdigest() in html


@pytest.mark.parametrize("value", ["1234567890123456789", "8f2c1e", "sn-thermo-001", "0A:1B"])
def test_plausible_serials_and_ids_are_kept(value):
    assert platform_token(value) == value


@pytest.mark.parametrize("value", ["a b", "x" * 65, "<script>", "MII+/=", "12\x0034"])
def test_implausible_ids_become_length_and_digest(value):
    assert platform_token(value) == unreadable(value)
    assert value not in platform_token(value)


def test_free_text_loses_encoded_runs_and_control_characters(leaf):
    message = f"bad device\u202e\u2028 {der_base64(leaf)} id 6920468F-4462-4320-9648-2209EC7F9FAE"

    kept = platform_message(message)

    assert leaks(kept, leaf) == []
    assert "\u202e" not in kept
    assert "\u2028" not in kept
    assert kept.startswith("bad device")
    assert "6920468F-4462-4320-9648-2209EC7F9FAE" in kept


def test_a_nickname_carrying_a_key_is_not_listed(leaf):
    page = parse_device_list_page(
        {
            "Data": {
                "DeviceInfo": [
                    {
                        "DeviceName": "thermo-001",
                        "Nickname": wrapped(der_base64(leaf)),
                        "DeviceStatus": "ONLINE",
                        "IotId": "iot-x",
                    }
                ]
            }
        },
        product_key=PK,
        iot_instance_id=None,
        page=1,
        page_size=50,
        request_id="R",
    )

    assert leaks(page.devices[0].nickname, leaf) == []


@pytest.fixture
def canned():
    api = CannedApi()
    yield api
    api.close()


def _client(api: CannedApi) -> IotClient:
    return IotClient(
        endpoint=api.url, access_key_id="id", access_key_secret="secret", rate_limiter=None
    )


def test_request_id_code_and_message_of_an_error_keep_no_key(canned, leaf, caplog):
    caplog.set_level(logging.DEBUG)
    key = der_base64(leaf)
    canned.answers.append(
        Canned(
            body={
                "RequestId": key,
                "Success": False,
                "Code": "iot.device." + key,
                "ErrorMessage": f"device says {key}",
            }
        )
    )
    with pytest.raises(IotBusinessError) as caught:
        _client(canned).query_device_cert(product_key=PK, device_name="thermo-001")

    texts = [str(caught.value), repr(caught.value), caplog.text]
    assert all(leaks(text, leaf) == [] for text in texts)
    assert caught.value.request_id == unreadable(key)
    assert caught.value.code == unreadable("iot.device." + key)


def test_a_gateway_error_keeps_no_key(canned, leaf):
    key = der_base64(leaf)
    canned.answers.append(
        Canned(
            status=400,
            body={"RequestId": "R-1", "Code": "InvalidParameter", "Message": key, "HostId": key},
        )
    )
    with pytest.raises(IotGatewayError) as caught:
        _client(canned).query_device_cert(product_key=PK, device_name="thermo-001")

    assert leaks(repr(caught.value.__dict__), leaf) == []
