"""The dashboard's device pages over the emulator: permissions, search, lists, certificate page."""

import re
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from django.utils import timezone

from certadmin.devices.models import CertificateRecord, ProductSync, RecentDevice
from certadmin.emulator import DEMO_PRODUCT_KEY, ENTERPRISE_INSTANCE_ID, ENTERPRISE_PRODUCT_KEY
from certadmin.emulator.store import Device
from certadmin.iot.client import IotClient
from tests.support.certificates import make_ca, make_key, make_leaf, name
from tests.support.emulator import api_calls
from tests.support.iot_accounts import account_on
from tests.support.key_material import key_fragments
from tests.support.pages import HTMX_HEADERS, page_text
from tests.support.people import ROLE_PASSWORD

pytestmark = pytest.mark.django_db

DEVICE_URL = f"/devices/{DEMO_PRODUCT_KEY}/thermo-001/"
LIST_URL = f"/devices/?product_key={DEMO_PRODUCT_KEY}"
LOOKUP_URL = f"/devices/lookup/?product_key={DEMO_PRODUCT_KEY}&device_name=thermo-001"


def single_attempt_client(settings) -> IotClient:
    account = settings.IOT_ACCOUNTS[settings.IOT_DEFAULT_ACCOUNT]
    return IotClient(
        endpoint=account.endpoint,
        access_key_id=account.access_key_id,
        access_key_secret=account.access_key_secret,
        max_attempts=1,
        rate_limiter=None,
    )


# --- permissions --------------------------------------------------------------------------------

EVERY_URL = ["/", LIST_URL, LOOKUP_URL, DEVICE_URL]


@pytest.mark.parametrize("url", EVERY_URL)
def test_anonymous_is_sent_to_the_login_page(dashboard_iot, client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert api_calls(dashboard_iot, "QueryDeviceCert") == 0


@pytest.mark.parametrize("role", [None, "Auditor"])
@pytest.mark.parametrize("url", EVERY_URL[1:])
def test_users_without_the_viewer_permission_are_refused(
    dashboard_iot, make_user, client_for, role, url
):
    response = client_for(make_user(role)).get(url)

    assert response.status_code == 403
    assert dashboard_iot.request_log == []


def test_an_auditor_landing_on_the_home_page_is_sent_to_the_audit_trail(make_user, client_for):
    response = client_for(make_user("Auditor")).get("/")

    assert response.status_code == 302
    assert response["Location"] == "/audit/"


def test_a_user_without_any_role_is_refused_the_home_page(make_user, client_for):
    assert client_for(make_user(None)).get("/").status_code == 403


@pytest.mark.parametrize("role", ["Viewer", "Key custodian", "superuser"])
@pytest.mark.parametrize("url", EVERY_URL)
def test_viewers_custodians_and_superusers_may_use_every_page(
    dashboard_iot, make_user, client_for, role, url
):
    response = client_for(make_user(role)).get(url)

    if url == LOOKUP_URL:
        assert response.status_code == 302
        assert response["Location"] == DEVICE_URL
    else:
        assert response.status_code == 200


def test_inactive_user_cannot_log_in(make_user, client):
    user = make_user("Viewer")
    user.is_active = False
    user.save()

    response = client.post("/login/", {"username": user.username, "password": ROLE_PASSWORD})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302


def test_active_user_logs_in_with_the_same_form(make_user, client):
    user = make_user("Viewer")

    response = client.post("/login/", {"username": user.username, "password": ROLE_PASSWORD})

    assert response.status_code == 302
    assert client.get("/").status_code == 200


# --- search validation --------------------------------------------------------------------------

BAD_LOOKUPS = [
    ("device_name", "x" * 33, "device_name"),
    ("device_name", "nul\x00byte", "device_name"),
    ("device_name", "line\nbreak", "device_name"),
    ("device_name", "tab\tname", "device_name"),
    ("product_key", "a1-Demo!", "product_key"),
    ("product_key", "", "product_key"),
    ("instance", "iot cn <b>", "instance"),
]


@pytest.mark.parametrize(("field", "value", "error_field"), BAD_LOOKUPS)
def test_invalid_lookup_is_refused_beside_the_field_without_calling_the_api(
    dashboard_iot, viewer, client_for, field, value, error_field
):
    params = {"product_key": DEMO_PRODUCT_KEY, "device_name": "thermo-001", "instance": ""}
    params[field] = value

    response = client_for(viewer).get("/devices/lookup/", params)

    assert response.status_code == 400
    html = page_text(response)
    error = re.search(rf'<ul class="errorlist" id="id_{error_field}_error"><li>([^<]+)</li>', html)
    assert error
    assert error.group(1).strip()
    assert re.search(rf'aria-describedby="[^"]*\bid_{error_field}_error"', html)
    assert "<script>alert" not in html
    assert dashboard_iot.request_log == []


def test_valid_lookup_redirects_to_the_bookmarkable_device_page(dashboard_iot, viewer, client_for):
    response = client_for(viewer).get(
        "/devices/lookup/",
        {
            "product_key": ENTERPRISE_PRODUCT_KEY,
            "device_name": " ent-gw-01 ",
            "instance": ENTERPRISE_INSTANCE_ID,
        },
    )

    assert response.status_code == 302
    assert response["Location"] == (
        f"/devices/{ENTERPRISE_PRODUCT_KEY}/ent-gw-01/?instance={ENTERPRISE_INSTANCE_ID}"
    )


def test_lookup_keeps_colon_and_at_sign_names_openable(dashboard_iot, viewer, client_for):
    client = client_for(viewer)

    response = client.get(
        "/devices/lookup/", {"product_key": DEMO_PRODUCT_KEY, "device_name": "lab.probe@b2"}
    )
    opened = client.get(response["Location"])

    assert response.status_code == 302
    assert opened.status_code == 200
    assert "Certificate ready" in page_text(opened)


def test_lookup_of_part_of_a_name_opens_the_only_device_it_matches(
    dashboard_iot, viewer, client_for
):
    response = client_for(viewer).get(
        "/devices/lookup/", {"product_key": DEMO_PRODUCT_KEY, "device_name": "0042"}
    )

    assert response.status_code == 302
    assert response["Location"] == f"/devices/{DEMO_PRODUCT_KEY}/sensor-0042/"
    assert api_calls(dashboard_iot) == 0, "choosing the device asks only QueryDevice"


@pytest.mark.parametrize("typed", ["therm", "zz", "two words", "<script>alert(1)</script>"])
def test_lookup_of_a_name_several_or_no_devices_match_shows_the_filtered_list(
    dashboard_iot, viewer, client_for, typed
):
    client = client_for(viewer)

    response = client.get(
        "/devices/lookup/", {"product_key": DEMO_PRODUCT_KEY, "device_name": typed, "instance": ""}
    )
    listed = client.get(response["Location"])

    assert response.status_code == 302
    assert response["Location"].startswith(f"/devices/?product_key={DEMO_PRODUCT_KEY}&device_name=")
    assert listed.status_code == 200
    html = page_text(listed)
    assert "errorlist" not in html
    assert "<script>alert" not in html
    if typed == "therm":
        assert re.findall(r'<span class="mono">(thermo-\d+)</span>', html) == [
            "thermo-001",
            "thermo-002",
            "thermo-003",
        ]
    else:
        assert "No device matches." in html
    assert api_calls(dashboard_iot) == 0


def test_lookup_of_a_whole_name_opens_it_although_others_contain_it(
    dashboard_iot, viewer, client_for
):
    # A product of its own: the session's emulator keeps added devices.
    for device_name in ("pump-01", "pump-01-spare"):
        dashboard_iot.add_device({"product_key": "a1Pumps00001", "device_name": device_name})
    response = client_for(viewer).get(
        "/devices/lookup/", {"product_key": "a1Pumps00001", "device_name": "pump-01"}
    )

    assert response["Location"] == "/devices/a1Pumps00001/pump-01/"


def test_lookup_with_only_a_product_key_shows_its_devices_without_javascript(
    dashboard_iot, viewer, client_for
):
    client = client_for(viewer)

    response = client.get(
        "/devices/lookup/", {"product_key": DEMO_PRODUCT_KEY, "device_name": "", "instance": ""}
    )
    listed = client.get(response["Location"])

    assert response.status_code == 302
    assert response["Location"] == f"/devices/?product_key={DEMO_PRODUCT_KEY}"
    assert "<html" in page_text(listed)
    assert "thermo-001" in page_text(listed)
    assert "This field is required" not in page_text(listed)


def test_lookup_in_a_synced_product_chooses_from_the_inventory(dashboard_iot, viewer, client_for):
    now = timezone.now()
    for device_name in ("pump-0001", "pump-0002", "valve-0001"):
        CertificateRecord.objects.create(
            product_key=DEMO_PRODUCT_KEY, device_name=device_name, last_checked=now
        )
    ProductSync.objects.create(product_key=DEMO_PRODUCT_KEY, device_count=3, synced_at=now)
    client = client_for(viewer)

    def lookup(name):
        return client.get(
            "/devices/lookup/", {"product_key": DEMO_PRODUCT_KEY, "device_name": name}
        )["Location"]

    assert lookup("valve") == f"/devices/{DEMO_PRODUCT_KEY}/valve-0001/"
    assert lookup("pump") == f"/devices/?product_key={DEMO_PRODUCT_KEY}&device_name=pump"
    assert lookup("pump-0002") == f"/devices/{DEMO_PRODUCT_KEY}/pump-0002/"
    assert dashboard_iot.request_log == [], "a synced product is chosen from without the API"


def test_search_form_suggests_the_products_and_instances_the_dashboard_knows(
    viewer, client_for, settings
):
    account_on(settings, instance_id="iot-configured01")
    now = timezone.now()
    ProductSync.objects.create(product_key="a1Synced0001", device_count=1, synced_at=now)
    CertificateRecord.objects.create(
        product_key="a1Inventory1", device_name="one-device", iot_instance_id="iot-seen000001"
    )
    RecentDevice.objects.create(
        user=viewer, product_key="a1Recent0001", device_name="dev-1", viewed_at=now
    )

    html = page_text(client_for(viewer).get("/"))

    assert re.search(r'<input[^>]*name="product_key"[^>]*list="product-suggestions"', html)
    products = re.search(r'<datalist id="product-suggestions">(.*?)</datalist>', html).group(1)
    assert re.findall(r'value="([^"]+)"', products) == [
        "a1Inventory1",
        "a1Recent0001",
        "a1Synced0001",
    ]
    instances = re.search(r'<datalist id="instance-suggestions">(.*?)</datalist>', html).group(1)
    assert re.findall(r'value="([^"]+)"', instances) == ["iot-configured01", "iot-seen000001"]


def test_device_list_links_carry_the_list_state_in_their_urls(dashboard_iot, viewer, client_for):
    html = page_text(client_for(viewer).get(LIST_URL + "&device_name=sensor", headers=HTMX_HEADERS))

    pager = re.search(r'<nav class="pager".*?</nav>', html, re.S).group(0)
    assert 'hx-push-url="true"' in pager
    assert f"product_key={DEMO_PRODUCT_KEY}&amp;device_name=sensor&amp;page=2" in pager


def test_home_search_puts_the_list_it_shows_in_the_url(viewer, client_for):
    html = page_text(client_for(viewer).get("/"))

    assert re.search(r'hx-get="/devices/"[^>]*hx-replace-url="true"', html, re.S)


@pytest.mark.parametrize("device_name", ["abc", "%3Cscript%3E", "a%20b%20c%20d", "x" * 33])
def test_invalid_device_in_the_path_is_400_without_calling_the_api(
    dashboard_iot, viewer, client_for, device_name
):
    response = client_for(viewer).get(f"/devices/{DEMO_PRODUCT_KEY}/{device_name}/")

    assert response.status_code == 400
    assert "<script>" not in page_text(response)
    assert dashboard_iot.request_log == []


# --- device list --------------------------------------------------------------------------------


def test_htmx_device_list_is_the_partial_only(dashboard_iot, viewer, client_for):
    response = client_for(viewer).get(LIST_URL, headers=HTMX_HEADERS)

    html = page_text(response)
    assert response.status_code == 200
    assert "<html" not in html
    assert "thermo-001" in html
    assert f'href="/devices/{DEMO_PRODUCT_KEY}/thermo-001/"' in html
    assert "Page 1 of 2" in html
    assert "HX-Request" in response["Vary"]


def test_device_list_without_htmx_is_the_whole_page(dashboard_iot, viewer, client_for):
    response = client_for(viewer).get(LIST_URL)

    assert response.status_code == 200
    assert "<html" in page_text(response)
    assert "thermo-001" in page_text(response)


def test_full_page_device_list_prefills_the_search_without_flagging_it(
    dashboard_iot, viewer, client_for
):
    response = client_for(viewer).get(LIST_URL + "&page=2&device_name=")

    html = page_text(response)
    assert response.status_code == 200
    assert "errorlist" not in html
    assert 'aria-invalid="true"' not in html
    assert re.search(rf'name="product_key"\s+value="{DEMO_PRODUCT_KEY}"', html)
    assert "sensor-0055" in html


def test_device_list_second_page_holds_the_rest_of_the_product(dashboard_iot, viewer, client_for):
    response = client_for(viewer).get(LIST_URL + "&page=2", headers=HTMX_HEADERS)

    html = page_text(response)
    assert "Page 2 of 2" in html
    assert "sensor-0055" in html
    assert "thermo-001" not in html
    assert "Previous" in html
    assert "Next" not in html


def test_name_filter_lists_matching_devices_only(dashboard_iot, viewer, client_for):
    response = client_for(viewer).get(LIST_URL + "&device_name=sens", headers=HTMX_HEADERS)

    html = page_text(response)
    assert "57 devices" in html
    assert "sensor-gen" in html
    assert "sensor-0001" in html
    assert "thermo-001" not in html
    assert "Page 1 of 2" in html


def test_name_filter_second_page_is_served_from_the_scanned_list(dashboard_iot, viewer, client_for):
    client = client_for(viewer)
    client.get(LIST_URL + "&name=SENS", headers=HTMX_HEADERS)
    scans = api_calls(dashboard_iot, "QueryDevice")

    response = client.get(LIST_URL + "&name=sens&page=2", headers=HTMX_HEADERS)

    html = page_text(response)
    assert "Page 2 of 2" in html
    assert "sensor-0055" in html
    assert "sensor-0001<" not in html
    assert api_calls(dashboard_iot, "QueryDevice") == scans


def test_device_list_never_shows_a_device_secret(dashboard_iot, viewer, client_for):
    client = client_for(viewer)
    html = "".join(
        page_text(client.get(LIST_URL + query, headers=HTMX_HEADERS))
        for query in ("", "&page=2", "&name=o")
    )

    names = set(re.findall(r'<span class="mono">([^<]+)</span>', html))
    assert len(names) >= 60
    for device_name in names:
        assert Device(DEMO_PRODUCT_KEY, device_name).device_secret not in html
    assert "DeviceSecret" not in html


def test_device_list_of_an_unknown_product_shows_the_platform_code(
    dashboard_iot, viewer, client_for
):
    client = client_for(viewer)

    partial = client.get("/devices/?product_key=a1NoSuch001", headers=HTMX_HEADERS)
    full = client.get("/devices/?product_key=a1NoSuch001")

    assert partial.status_code == 404  # htmx swaps it in all the same (base.html)
    assert "iot.prod.NotExistedProduct" in page_text(partial)
    assert "There is no product a1NoSuch001" in page_text(partial)
    assert full.status_code == 404
    assert "iot.prod.NotExistedProduct" in page_text(full)


def test_device_list_with_an_invalid_product_key_does_not_call_the_api(
    dashboard_iot, viewer, client_for
):
    response = client_for(viewer).get("/devices/?product_key=<b>", headers=HTMX_HEADERS)

    assert response.status_code == 400
    assert "A ProductKey is" in page_text(response)
    assert dashboard_iot.request_log == []


def test_enterprise_device_list_needs_its_instance(dashboard_iot, viewer, client_for):
    client = client_for(viewer)
    url = f"/devices/?product_key={ENTERPRISE_PRODUCT_KEY}"

    without = client.get(url, headers=HTMX_HEADERS)
    with_instance = client.get(url + f"&instance={ENTERPRISE_INSTANCE_ID}", headers=HTMX_HEADERS)

    assert "iot.system.InstanceNotFound" in page_text(without)
    assert "ent-gw-01" in page_text(with_instance)
    assert f"?instance={ENTERPRISE_INSTANCE_ID}" in page_text(with_instance)


# --- certificate page ---------------------------------------------------------------------------


def device_page(client, device_name: str, query: str = "", **extra):
    return client.get(f"/devices/{DEMO_PRODUCT_KEY}/{device_name}/{query}", **extra)


def test_ready_certificate_page_shows_the_decoded_certificate(
    dashboard_iot, viewer, client_for, device_cert
):
    response = device_page(client_for(viewer), "thermo-001")

    html = page_text(response)
    cert = x509.load_pem_x509_certificate(
        device_cert(DEMO_PRODUCT_KEY, "thermo-001").certificate.encode()
    )
    assert response.status_code == 200
    assert "Certificate ready" in html
    assert "checked just now" in html
    assert str(cert.serial_number) in html
    assert "sha256WithRSAEncryption" in html
    assert "2048 bits" in html
    assert "Basic constraints" in html
    assert "-----BEGIN CERTIFICATE-----" in html


@pytest.mark.parametrize(
    ("device_name", "badge", "next_step"),
    [
        ("sensor-gen", "Certificate being generated", "still generating this device"),
        (
            "sensor-fail",
            "Certificate generation failed",
            "Re-create the certificate in the IoT Platform console",
        ),
    ],
)
def test_certificate_not_issued_shows_status_and_next_step(
    dashboard_iot, viewer, client_for, device_name, badge, next_step
):
    response = device_page(client_for(viewer), device_name)

    html = page_text(response)
    assert response.status_code == 200
    assert badge in html
    assert next_step in html
    assert "Subject and issuer" not in html
    assert "could not be decoded" not in html


def test_expired_certificate_has_an_expired_badge_and_whole_days(dashboard_iot, viewer, client_for):
    html = page_text(device_page(client_for(viewer), "meter-expired"))

    assert '<span class="badge badge-bad">Expired</span>' in html
    assert "expired 30 days ago" in html


def test_certificate_expiring_within_30_days_has_a_warning_badge(dashboard_iot, viewer, client_for):
    html = page_text(device_page(client_for(viewer), "meter-expiring"))

    assert '<span class="badge badge-warn">Expiring soon</span>' in html
    assert re.search(r"expires in (19|20) days", html)


def test_ec_device_shows_its_curve_and_key_match(dashboard_iot, viewer, client_for):
    html = page_text(device_page(client_for(viewer), "edge-ec01"))

    assert "secp256r1" in html
    assert "EC" in html
    assert '<span class="badge badge-ok">Yes</span>' in html


def test_headerless_base64_certificate_is_decoded(dashboard_iot, viewer, client_for):
    html = page_text(device_page(client_for(viewer), "legacy-b64"))

    assert "Certificate ready" in html
    assert "could not be decoded" not in html
    assert "CN=Alibaba Cloud IoT Certificate" in html
    assert '<span class="badge badge-ok">Yes</span>' in html


def test_html_in_the_subject_is_escaped(dashboard_iot, viewer, client_for):
    leaf = make_leaf(
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, '<script>alert("x")</script>')])
    )
    dashboard_iot.add_device(
        {
            "product_key": DEMO_PRODUCT_KEY,
            "device_name": "views-html-subject",
            "certificate": leaf.cert_pem,
            "private_key": leaf.key_pem(),
        }
    )

    response = device_page(client_for(viewer), "views-html-subject")

    html = page_text(response)
    assert response.status_code == 200
    assert "&lt;script&gt;" in html
    assert "<script>alert" not in html


@pytest.mark.parametrize(
    ("certificate", "reason"),
    [
        ("-----BEGIN CERTIFICATE-----\n<b>not base64</b>\n-----END CERTIFICATE-----", "not base64"),
        ("TUlJQmFkZA==", "DER is not an X.509 certificate"),
        ("<img src=x onerror=alert(1)>", "not base64"),
    ],
)
def test_undecodable_certificate_shows_the_reason_not_the_text(
    dashboard_iot, viewer, client_for, certificate, reason
):
    dashboard_iot.add_device(
        {
            "product_key": DEMO_PRODUCT_KEY,
            "device_name": "views-garbled",
            "certificate": certificate,
            "private_key": "",
        }
    )

    response = device_page(client_for(viewer), "views-garbled")

    html = page_text(response)
    assert response.status_code == 200
    assert "The certificate could not be decoded" in html
    assert reason in html
    assert "<b>not base64" not in html
    assert "<img src=x" not in html
    # Adapted: the received text is never shown, only its length and digest.
    assert "TUlJQmFkZA==" not in html
    assert f"sent {len(certificate)} characters" in html


def test_certificate_with_nul_characters_is_reported_not_a_server_error(
    dashboard_iot, viewer, client_for
):
    dashboard_iot.add_device(
        {
            "product_key": DEMO_PRODUCT_KEY,
            "device_name": "views-nul-cert",
            "cert_sn": "12\x0034",
            "certificate": "MII\x00garbage",
            "private_key": "",
        }
    )

    response = device_page(client_for(viewer), "views-nul-cert")

    record = CertificateRecord.objects.get(device_name="views-nul-cert")
    assert response.status_code == 200
    assert "The certificate could not be decoded" in page_text(response)
    # PostgreSQL refuses NUL in text columns: what is stored must not hold one.
    assert "\x00" not in record.certificate
    assert "\x00" not in record.cert_sn


def test_emulator_certificate_chain_is_verified(dashboard_iot, viewer, client_for):
    html = page_text(device_page(client_for(viewer), "thermo-002"))

    assert '<span class="badge badge-ok">Verified</span>' in html


def test_certificate_from_another_ca_is_unverified(dashboard_iot, viewer, client_for):
    other_ca = make_ca(subject=name("Somebody Else's CA", organization="Elsewhere"), key_slot=7)
    leaf = make_leaf(other_ca)
    dashboard_iot.add_device(
        {
            "product_key": DEMO_PRODUCT_KEY,
            "device_name": "views-other-ca",
            "certificate": leaf.cert_pem,
            "private_key": leaf.key_pem(),
        }
    )

    html = page_text(device_page(client_for(viewer), "views-other-ca"))

    assert '<span class="badge badge-warn">Unverified</span>' in html
    assert '<span class="badge badge-ok">Yes</span>' in html


def test_certificate_claiming_the_emulator_ca_but_signed_by_another_key_is_invalid(
    dashboard_iot, viewer, client_for
):
    emulator_ca = x509.load_pem_x509_certificate(dashboard_iot.ca_certificate_pem.encode())
    impostor_ca = make_ca(subject=emulator_ca.subject, key_slot=8)  # same name, another key
    leaf = make_leaf(impostor_ca)
    dashboard_iot.add_device(
        {
            "product_key": DEMO_PRODUCT_KEY,
            "device_name": "views-impostor",
            "certificate": leaf.cert_pem,
            "private_key": leaf.key_pem(),
        }
    )

    html = page_text(device_page(client_for(viewer), "views-impostor"))

    assert '<span class="badge badge-bad">Invalid</span>' in html
    assert "bad signature" in html


def test_key_of_another_certificate_shows_key_mismatch(dashboard_iot, viewer, client_for):
    leaf = make_leaf()
    other = make_leaf(key_slot=3)
    dashboard_iot.add_device(
        {
            "product_key": DEMO_PRODUCT_KEY,
            "device_name": "views-wrong-key",
            "certificate": leaf.cert_pem,
            "private_key": other.key_pem(),
        }
    )

    response = device_page(client_for(viewer), "views-wrong-key")

    html = page_text(response)
    assert '<span class="badge badge-bad">No</span>' in html
    assert "does NOT belong to this certificate" in html
    for fragment in key_fragments(other.key_pem()):
        assert fragment not in html
    assert make_key("rsa", 3)


def test_unreadable_key_is_not_checked(dashboard_iot, viewer, client_for):
    leaf = make_leaf()
    dashboard_iot.add_device(
        {
            "product_key": DEMO_PRODUCT_KEY,
            "device_name": "views-bad-key",
            "certificate": leaf.cert_pem,
            "private_key": "-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END PRIVATE KEY-----",
        }
    )

    html = page_text(device_page(client_for(viewer), "views-bad-key"))

    assert '<span class="badge badge-warn">Not checked</span>' in html
    assert "bm9wZQ==" not in html
    assert "PRIVATE KEY" not in html


@pytest.mark.parametrize(
    "device_name", ["thermo-001", "thermo-002", "legacy-b64", "edge-ec01", "cam-lobby:01"]
)
def test_certificate_page_never_contains_the_private_key(
    dashboard_iot, custodian, client_for, device_cert, device_name
):
    key_text = device_cert(DEMO_PRODUCT_KEY, device_name).private_key
    client = client_for(custodian)

    html = page_text(device_page(client, device_name)) + page_text(device_page(client, device_name))

    assert "PRIVATE KEY" not in html
    for fragment in key_fragments(key_text):
        assert fragment not in html


def test_unknown_device_is_404_with_code_and_request_id(dashboard_iot, viewer, client_for):
    response = device_page(client_for(viewer), "no-such-device")

    html = page_text(response)
    assert response.status_code == 404
    assert "iot.device.NotExistedDevice" in html
    assert "There is no device no-such-device in product" in html
    assert re.search(r"RequestId: <code>[0-9A-F-]{36}</code>", html)


def test_unknown_device_inside_htmx_is_the_partial_with_the_error(
    dashboard_iot, viewer, client_for
):
    response = device_page(client_for(viewer), "no-such-device", "?refresh=1", headers=HTMX_HEADERS)

    assert response.status_code == 404  # a real status: base.html's htmx config swaps 4xx in
    assert "<html" not in page_text(response)
    assert "iot.device.NotExistedDevice" in page_text(response)


def test_enterprise_device_without_instance_explains_the_instance(
    dashboard_iot, viewer, client_for
):
    client = client_for(viewer)

    without = client.get(f"/devices/{ENTERPRISE_PRODUCT_KEY}/ent-gw-01/")
    with_instance = client.get(
        f"/devices/{ENTERPRISE_PRODUCT_KEY}/ent-gw-01/?instance={ENTERPRISE_INSTANCE_ID}"
    )

    assert without.status_code == 404
    assert "iot.system.InstanceNotFound" in page_text(without)
    assert "IotInstanceId" in page_text(without)
    assert with_instance.status_code == 200
    assert "Certificate ready" in page_text(with_instance)
    assert ENTERPRISE_INSTANCE_ID in page_text(with_instance)


def test_enterprise_device_without_instance_offers_the_instance_field_to_retry(
    dashboard_iot, viewer, client_for
):
    client = client_for(viewer)

    html = page_text(client.get(f"/devices/{ENTERPRISE_PRODUCT_KEY}/ent-gw-01/"))
    form = re.search(
        r'<form method="get" action="([^"]+)" class="instance-retry">(.*?)</form>', html, re.S
    )
    retried = client.get(form.group(1), {"instance": ENTERPRISE_INSTANCE_ID})

    assert form.group(1) == f"/devices/{ENTERPRISE_PRODUCT_KEY}/ent-gw-01/"
    assert re.search(r'<input[^>]*name="instance"[^>]*required', form.group(2))
    assert '<label for="id_retry_instance">IotInstanceId</label>' in form.group(2)
    assert retried.status_code == 200
    assert "Certificate ready" in page_text(retried)


def test_unknown_device_offers_the_list_filtered_by_its_name_not_the_same_miss(
    dashboard_iot, viewer, client_for
):
    html = page_text(device_page(client_for(viewer), "thermo-0042"))

    assert "Try again" not in html
    assert f'href="/devices/?product_key={DEMO_PRODUCT_KEY}&amp;device_name=thermo-0042"' in html
    assert "List the devices whose names contain “thermo-0042”" in html


def test_device_statuses_are_shown_in_words_with_their_own_colour(
    dashboard_iot, viewer, client_for
):
    client = client_for(viewer)
    # As a product sync leaves a device it listed (the live list stores nothing).
    CertificateRecord.objects.create(
        product_key=DEMO_PRODUCT_KEY, device_name="sensor-gen", device_status="UNACTIVE"
    )

    listing = page_text(client.get(LIST_URL + "&device_name=-0", headers=HTMX_HEADERS))
    opened = page_text(client.get(f"/devices/{DEMO_PRODUCT_KEY}/sensor-gen/"))

    assert (
        '<span class="badge badge-ok device-status device-status-online">online</span>' in listing
    )
    assert (
        '<span class="badge badge-neutral device-status device-status-offline">offline</span>'
        in listing
    )
    assert "ONLINE" not in listing
    assert "OFFLINE" not in listing
    assert "not activated" in opened, "the certificate page shows the inventory's status"


def test_throttled_platform_is_429_and_says_to_wait(
    dashboard_iot, viewer, client_for, device_cert, settings, monkeypatch
):
    monkeypatch.setattr(
        "certadmin.devices.services.iot_client", lambda **_: single_attempt_client(settings)
    )
    client = client_for(viewer)
    for _ in range(3):  # a slow machine may let the one-second window pass: try again
        for _ in range(10):  # the account's whole QueryDeviceCert quota for this second
            device_cert(DEMO_PRODUCT_KEY, "thermo-003")
        response = device_page(client, "thermo-001", "?refresh=1")
        if response.status_code != 200:
            break

    assert response.status_code == 429
    assert "Throttling.User" in page_text(response)
    assert "10 queries per second" in page_text(response)


def test_platform_5xx_is_502_after_the_client_retries(dashboard_iot, viewer, client_for):
    dashboard_iot.set_fault("5xx")

    response = device_page(client_for(viewer), "thermo-001")

    assert response.status_code == 502
    assert "<code>ServiceUnavailable</code>" in page_text(response)
    assert "could not answer" in page_text(response)
    assert api_calls(dashboard_iot) == 4


def test_unreachable_endpoint_is_502_quickly(dashboard_iot, viewer, client_for, settings):
    account_on(settings, endpoint="http://127.0.0.1:9")
    started = timezone.now()

    response = device_page(client_for(viewer), "thermo-001")

    assert response.status_code == 502
    assert "Transport.Unreachable" in page_text(response)
    assert "could not be reached" in page_text(response)
    assert "127.0.0.1:9" not in page_text(response)
    assert timezone.now() - started < timedelta(seconds=5)


# --- inventory ----------------------------------------------------------------------------------


def test_second_view_within_the_window_is_served_from_the_inventory(
    dashboard_iot, viewer, client_for
):
    client = client_for(viewer)
    device_page(client, "thermo-001")
    CertificateRecord.objects.update(last_checked=timezone.now() - timedelta(minutes=3))

    response = device_page(client, "thermo-001")

    assert api_calls(dashboard_iot) == 1
    assert "checked 3 minutes ago" in page_text(response)
    assert "Certificate ready" in page_text(response)
    assert '<span class="badge badge-ok">Yes</span>' in page_text(response)
    assert '<span class="badge badge-ok">Verified</span>' in page_text(response)


def test_refresh_asks_the_platform_again(dashboard_iot, viewer, client_for):
    client = client_for(viewer)
    device_page(client, "thermo-001")

    response = device_page(client, "thermo-001", "?refresh=1")

    assert api_calls(dashboard_iot) == 2
    assert "checked just now" in page_text(response)


def test_record_older_than_the_window_is_looked_up_again(dashboard_iot, viewer, client_for):
    client = client_for(viewer)
    device_page(client, "thermo-001")
    CertificateRecord.objects.update(last_checked=timezone.now() - timedelta(minutes=6))

    device_page(client, "thermo-001")

    assert api_calls(dashboard_iot) == 2


def test_zero_freshness_always_asks_the_platform(dashboard_iot, viewer, client_for, settings):
    settings.INVENTORY_FRESH_SECONDS = 0
    client = client_for(viewer)

    for _ in range(3):
        device_page(client, "thermo-001")

    assert api_calls(dashboard_iot) == 3


@pytest.mark.parametrize("device_name", ["thermo-001", "thermo-002", "legacy-b64", "edge-ec01"])
def test_inventory_row_holds_no_key_material(
    dashboard_iot, viewer, client_for, device_cert, device_name
):
    key_text = device_cert(DEMO_PRODUCT_KEY, device_name).private_key

    device_page(client_for(viewer), device_name)

    record = CertificateRecord.objects.get(product_key=DEMO_PRODUCT_KEY, device_name=device_name)
    assert record.key_matches is True
    for field in CertificateRecord._meta.concrete_fields:
        value = str(getattr(record, field.attname))
        assert "PRIVATE KEY" not in value
        for fragment in key_fragments(key_text):
            assert fragment not in value


def test_certificate_field_bundling_a_private_key_is_not_stored_or_shown(
    dashboard_iot, viewer, client_for
):
    leaf = make_leaf(key_slot=4)
    key_pem = leaf.key_pem()
    dashboard_iot.add_device(
        {
            "product_key": DEMO_PRODUCT_KEY,
            "device_name": "views-cert-and-key",
            "certificate": leaf.cert_pem + key_pem,
            "private_key": key_pem,
        }
    )
    client = client_for(viewer)

    html = page_text(device_page(client, "views-cert-and-key"))
    CertificateRecord.objects.update(last_checked=timezone.now() - timedelta(minutes=1))
    html += page_text(device_page(client, "views-cert-and-key"))

    record = CertificateRecord.objects.get(device_name="views-cert-and-key")
    assert "PRIVATE KEY" not in html
    assert "PRIVATE KEY" not in record.certificate
    for fragment in key_fragments(key_pem):
        assert fragment not in html
        assert fragment not in record.certificate
    assert "Certificate ready" in html


def test_undecodable_certificate_field_holding_a_key_is_not_shown(
    dashboard_iot, viewer, client_for
):
    key_pem = make_leaf(key_slot=5).key_pem()
    dashboard_iot.add_device(
        {
            "product_key": DEMO_PRODUCT_KEY,
            "device_name": "views-key-as-cert",
            "certificate": key_pem,
            "private_key": key_pem,
        }
    )

    response = device_page(client_for(viewer), "views-key-as-cert")

    html = page_text(response)
    record = CertificateRecord.objects.get(device_name="views-key-as-cert")
    assert response.status_code == 200
    assert "The certificate could not be decoded" in html
    for fragment in key_fragments(key_pem):
        assert fragment not in html
        assert fragment not in record.certificate


def test_htmx_refresh_returns_the_certificate_partial(dashboard_iot, viewer, client_for):
    client = client_for(viewer)
    device_page(client, "thermo-001")

    response = device_page(client, "thermo-001", "?refresh=1", headers=HTMX_HEADERS)

    html = page_text(response)
    assert response.status_code == 200
    assert "<html" not in html
    assert "Certificate ready" in html
    assert "checked just now" in html
    assert api_calls(dashboard_iot) == 2


# --- recently viewed ----------------------------------------------------------------------------


def test_recently_viewed_lists_the_users_devices_newest_first(
    dashboard_iot, viewer, make_user, client_for
):
    client = client_for(viewer)
    for device_name in ("thermo-001", "thermo-002", "gateway-07"):
        device_page(client, device_name)
    device_page(client, "thermo-001")

    html = page_text(client.get("/"))

    section = html[html.index("Recently viewed") :]
    positions = [
        section.index(f"{DEMO_PRODUCT_KEY} / {d}")
        for d in ("thermo-001", "gateway-07", "thermo-002")
    ]
    assert positions == sorted(positions)


def test_recently_viewed_is_private_to_each_user(dashboard_iot, viewer, make_user, client_for):
    device_page(client_for(viewer), "gateway-07")
    other = make_user("Viewer")

    html = page_text(client_for(other).get("/"))

    assert "Recently viewed" not in html
    assert "gateway-07" not in html


def test_device_that_does_not_exist_is_not_recently_viewed(dashboard_iot, viewer, client_for):
    client = client_for(viewer)

    device_page(client, "no-such-device")

    assert not RecentDevice.objects.filter(user=viewer).exists()
    assert "no-such-device" not in page_text(client.get("/"))
