""" "Who has seen this key?" from the key or certificate itself: every usual encoding finds the
device and the key's releases, within the auditor's account scope; the lookup is an event; a
pasted private key is never stored, logged, echoed or kept in the session or cache."""

import base64
import logging

import pytest
from cryptography.hazmat.primitives import serialization
from django.apps import apps
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.urls import reverse

from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.certs.details import certificate_details
from certadmin.certs.fingerprints import public_key_sha256
from certadmin.devices.models import CertificateRecord
from certadmin.iot.accounts import IotAccount
from tests.support.audit_events import make_event
from tests.support.certificates import make_ca, make_key, make_leaf
from tests.support.key_material import assert_no_key_in

pytestmark = pytest.mark.django_db

SECRET_GROUP = "Secret fleet"
URL = reverse("audit:key-lookup")


@pytest.fixture
def accounts(settings):
    """ "prod" for everyone, "secret" only for the members of SECRET_GROUP."""
    settings.IOT_DEFAULT_ACCOUNT = "prod"
    settings.IOT_ACCOUNTS = {
        "prod": IotAccount(
            name="prod", label="Production", access_key_id="LTAIp", access_key_secret="p"
        ),
        "secret": IotAccount(
            name="secret",
            label="Secret fleet",
            access_key_id="LTAIs",
            access_key_secret="s",
            groups=(SECRET_GROUP,),
        ),
    }


@pytest.fixture(scope="module")
def ca():
    return make_ca()


@pytest.fixture(scope="module")
def rsa_leaf(ca):
    return make_leaf(ca)


@pytest.fixture(scope="module")
def ec_leaf(ca):
    return make_leaf(ca, key_type="ec")


def _record(leaf, *, device_name: str, account: str = "prod") -> CertificateRecord:
    return CertificateRecord.objects.create(
        account=account,
        product_key="a1B2c3D4e5F",
        device_name=device_name,
        status=2,
        sha256_fingerprint=certificate_details(leaf.cert).sha256_fingerprint,
        public_key_sha256=public_key_sha256(leaf.cert),
    )


def _release(leaf, *, device_name: str, actor, account: str = "prod", **fields) -> AuditEvent:
    values = {
        "device_name": device_name,
        "account": account,
        "actor": actor,
        "certificate_sha256": certificate_details(leaf.cert).sha256_fingerprint,
        "key_fingerprint": public_key_sha256(leaf.key),
        "reason": f"ticket OPS-7: {device_name}",
    }
    values.update(fields)
    return make_event(**values)


@pytest.fixture
def trail(accounts, rsa_leaf, ec_leaf, custodian):
    """thermo-1 (RSA) and ec-1 (EC) in the inventory, each revealed once; thermo-1's
    certificate downloaded; a device of another key revealed too."""
    _record(rsa_leaf, device_name="thermo-1")
    _record(ec_leaf, device_name="ec-1")
    other = make_leaf(make_ca(), key_type="ec", key_slot=7)
    _record(other, device_name="other-1")
    return {
        "rsa": _release(rsa_leaf, device_name="thermo-1", actor=custodian),
        "rsa_p12": _release(
            rsa_leaf,
            device_name="thermo-1",
            actor=custodian,
            action=AuditAction.KEY_DOWNLOAD,
            detail="p12",
        ),
        "rsa_cert": _release(
            rsa_leaf,
            device_name="thermo-1",
            actor=custodian,
            action=AuditAction.CERT_DOWNLOAD,
            key_fingerprint="",
            reason="",
            detail="thermo-1.pem",
        ),
        "ec": _release(ec_leaf, device_name="ec-1", actor=custodian),
        "other": _release(other, device_name="other-1", actor=custodian),
    }


def _der_b64(leaf) -> str:
    return base64.b64encode(leaf.cert.public_bytes(serialization.Encoding.DER)).decode()


def _public_pem(leaf) -> str:
    return (
        leaf.key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


INPUTS = {
    "certificate PEM": ("rsa", lambda leaf: leaf.cert_pem, "certificate (X.509, PEM)"),
    "certificate DER base64": ("rsa", _der_b64, "certificate (base64 DER)"),
    "certificate DER hex": (
        "rsa",
        lambda leaf: leaf.cert.public_bytes(serialization.Encoding.DER).hex(":"),
        "certificate (hex DER)",
    ),
    "public key PEM": ("rsa", _public_pem, "public key (SPKI, PEM)"),
    "RSA private key PKCS#8 PEM": ("rsa", lambda leaf: leaf.key_pem(), "private key (PKCS#8, PEM)"),
    "RSA private key PKCS#1 PEM": (
        "rsa",
        lambda leaf: leaf.key_pem(pkcs="traditional"),
        "private key (PKCS#1, PEM)",
    ),
    "EC private key SEC1 PEM": (
        "ec",
        lambda leaf: leaf.key_pem(pkcs="traditional"),
        "private key (SEC1, PEM)",
    ),
    "EC private key PKCS#8 PEM": ("ec", lambda leaf: leaf.key_pem(), "private key (PKCS#8, PEM)"),
}


@pytest.mark.parametrize("name", INPUTS)
def test_each_encoding_finds_the_device_and_the_releases_of_its_key(
    request, trail, auditor, custodian, client_for, name
):
    which, text_of, description = INPUTS[name]
    leaf = request.getfixturevalue(f"{which}_leaf")
    response = client_for(auditor).post(URL, {"material": text_of(leaf)})
    assert response.status_code == 200
    lookup = response.context["lookup"]
    device = "thermo-1" if which == "rsa" else "ec-1"
    assert [h.device.device_name for h in lookup.holders] == [device]
    assert lookup.holders[0].in_inventory
    assert lookup.holders[0].in_trail
    released = {e.id for e in lookup.releases}
    if which == "rsa":
        assert released == {trail["rsa"].id, trail["rsa_p12"].id}
        assert [e.id for e in lookup.certificate_downloads] == [trail["rsa_cert"].id]
    else:
        assert released == {trail["ec"].id}
    html = response.content.decode()
    assert custodian.username in html
    assert f"ticket OPS-7: {device}" in html
    assert trail["other"].reason not in html

    recorded = AuditEvent.objects.filter(action=AuditAction.KEY_LOOKUP).get()
    assert recorded.outcome == AuditOutcome.SUCCESS
    assert recorded.actor_username == auditor.username
    assert recorded.key_fingerprint == public_key_sha256(leaf.key)
    assert recorded.detail.startswith(f"{description}, public key SHA-256 ")
    assert recorded.pk == lookup.event_id


def test_a_device_whose_record_was_replaced_is_found_through_the_trail(
    trail, rsa_leaf, auditor, custodian, client_for
):
    # gone-1 had this key when it was revealed; its record now holds another certificate.
    event = _release(rsa_leaf, device_name="gone-1", actor=custodian)
    lookup = client_for(auditor).post(URL, {"material": rsa_leaf.cert_pem}).context["lookup"]
    gone = [h for h in lookup.holders if h.device.device_name == "gone-1"]
    assert len(gone) == 1
    assert not gone[0].in_inventory
    assert gone[0].in_trail
    assert event.id in {e.id for e in lookup.releases}


def test_a_release_that_identified_no_key_is_found_by_its_device(
    trail, rsa_leaf, auditor, custodian, client_for
):
    unreadable = _release(
        rsa_leaf, device_name="thermo-1", actor=custodian, key_fingerprint="", certificate_sha256=""
    )
    lookup = client_for(auditor).post(URL, {"material": _public_pem(rsa_leaf)}).context["lookup"]
    assert unreadable.id in {e.id for e in lookup.releases}


def test_an_event_on_an_account_the_auditor_may_not_use_stays_hidden(
    accounts, rsa_leaf, custodian, make_user, client_for
):
    _record(rsa_leaf, device_name="secret-dev", account="secret")
    hidden = _release(rsa_leaf, device_name="secret-dev", actor=custodian, account="secret")
    shown = _release(rsa_leaf, device_name="prod-dev", actor=custodian, account="prod")
    outsider = make_user("Auditor")
    response = client_for(outsider).post(URL, {"material": rsa_leaf.cert_pem})
    lookup = response.context["lookup"]
    assert {e.id for e in lookup.releases} == {shown.id}
    assert [h.device.device_name for h in lookup.holders] == ["prod-dev"]
    assert "secret-dev" not in response.content.decode()

    insider = make_user("Auditor")
    insider.groups.add(Group.objects.get_or_create(name=SECRET_GROUP)[0])
    lookup = client_for(insider).post(URL, {"material": rsa_leaf.cert_pem}).context["lookup"]
    assert {e.id for e in lookup.releases} == {shown.id, hidden.id}
    assert {h.device.device_name for h in lookup.holders} == {"secret-dev", "prod-dev"}


def test_an_encrypted_private_key_is_refused_clearly_and_the_refusal_recorded(
    accounts, rsa_leaf, auditor, client_for
):
    encrypted = rsa_leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"a passphrase"),
    ).decode()
    response = client_for(auditor).post(URL, {"material": encrypted})
    assert response.status_code == 400
    assert "This private key is encrypted" in response.content.decode()
    assert_no_key_in(response.content.decode(), encrypted, "the refusal page")
    recorded = AuditEvent.objects.get(action=AuditAction.KEY_LOOKUP)
    assert recorded.outcome == AuditOutcome.REFUSED
    assert recorded.detail == "encrypted private key refused"


def test_text_that_is_no_key_is_refused_and_nothing_is_looked_up(accounts, auditor, client_for):
    response = client_for(auditor).post(URL, {"material": "not a key at all"})
    assert response.status_code == 400
    assert "This is not a certificate, a public key or a private key" in response.content.decode()
    assert response.context["lookup"] is None
    assert AuditEvent.objects.get().detail == "not a certificate or key"


def _everything_stored() -> str:
    """Every row of every table, as text."""
    texts = []
    for model in apps.get_models():
        texts.extend(repr(row) for row in model._base_manager.values_list())
    return "\n".join(texts)


def _everything_cached() -> str:
    """Every value in the cache, as text: local memory's dict, or every string key of Redis."""
    store = cache._cache
    if isinstance(store, dict):
        return repr(store)
    client = store.get_client()
    return repr(
        [client.get(key) for key in client.scan_iter() if client.type(key) in (b"string", "string")]
    )


@pytest.mark.parametrize("broken", [False, True])
def test_a_pasted_private_key_is_never_stored_logged_echoed_or_kept(
    trail, rsa_leaf, auditor, client_for, caplog, broken
):
    key_text = rsa_leaf.key_pem()
    # Broken: the key's PEM with its last base64 line damaged, so the form answers with an error.
    pasted = key_text.replace("-----END", "@@@@\n-----END") if broken else key_text
    cache.clear()
    client = client_for(auditor)
    with caplog.at_level(logging.DEBUG):
        response = client.post(URL, {"material": pasted})
        htmx = client.post(URL, {"material": pasted}, headers={"HX-Request": "true"})
    assert response.status_code == (400 if broken else 200)
    for answer in (response, htmx):
        assert_no_key_in(answer.content.decode(), key_text, "the page")
        assert "<textarea" in answer.content.decode()
    logged = "\n".join(f"{record.getMessage()} {record.__dict__!r}" for record in caplog.records)
    assert_no_key_in(logged, key_text, "the log")
    assert_no_key_in(_everything_stored(), key_text, "the database")
    session = client.session
    assert_no_key_in(repr(dict(session.items())), key_text, "the session")
    assert_no_key_in(_everything_cached(), key_text, "the cache")


@pytest.mark.parametrize("url", [URL])
def test_the_page_is_for_auditors_only(request, client, client_for, make_user, url):
    assert client.get(url).status_code == 302
    for role in ("Viewer", "Key custodian"):
        assert client_for(make_user(role)).get(url).status_code == 403
        assert client_for(make_user(role)).post(url, {"material": "x"}).status_code == 403
    for role in ("Auditor", "superuser"):
        assert client_for(make_user(role)).get(url).status_code == 200
    assert not AuditEvent.objects.filter(action=AuditAction.KEY_LOOKUP).exists()


def test_an_unrecordable_lookup_shows_nothing(trail, rsa_leaf, auditor, client_for, settings):
    settings.AUDIT_KEYS = {}
    response = client_for(auditor).post(URL, {"material": rsa_leaf.cert_pem})
    assert response.status_code == 503
    assert response.context["lookup"] is None
    assert "ticket OPS-7" not in response.content.decode()


def test_unused_key_slots_are_not_confused(ca):
    # make_key caches per slot: the "other" device's key differs from the RSA and EC leaves'.
    assert public_key_sha256(make_key("ec", 7)) != public_key_sha256(make_key("ec", 0))


def test_every_refusal_detail_is_a_known_detail():
    from certadmin.audit.detail_text import KNOWN_DETAILS
    from certadmin.audit.key_lookup import REFUSAL_DETAILS

    assert set(REFUSAL_DETAILS.values()) <= KNOWN_DETAILS
