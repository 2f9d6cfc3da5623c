"""An API account limited to some groups limits its audit events to auditors in those groups:
on every page that reads the trail, in the account filter and in exports. Superusers read
everything; events of no account stay visible to every auditor."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from certadmin.audit import forms as audit_forms
from certadmin.audit.evidence_export import export_manifest_verify
from certadmin.audit.models import AuditAction
from certadmin.audit.selectors import events_visible
from certadmin.web import forms as web_forms
from tests.audit.chain_runs import verification_run
from tests.support.audit_events import export_unpacked, make_event
from tests.support.pages import HTMX_HEADERS

pytestmark = pytest.mark.django_db

SECRET_REASON = "ticket SEC-4242: rotate the vault gateway"
SECRET_GROUP = "Secret fleet"


@pytest.fixture
def accounts(settings):
    """Two accounts: "prod" for everyone, "secret" only for the members of SECRET_GROUP."""
    from certadmin.iot.accounts import IotAccount

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


@pytest.fixture
def trail(accounts, custodian):
    """One event of each account, one of no account, one of an account no longer configured."""
    return {
        "prod": make_event(device_name="prod-dev", account="prod", actor=custodian),
        "secret": make_event(
            device_name="secret-dev", account="secret", actor=custodian, reason=SECRET_REASON
        ),
        "none": make_event(
            action=AuditAction.TRAIL_EXPORT, device_name="", product_key="", actor=custodian
        ),
        "retired": make_event(device_name="retired-dev", account="retired", actor=custodian),
    }


@pytest.fixture
def outsider(make_user):
    return make_user("Auditor")


@pytest.fixture
def insider(make_user):
    user = make_user("Auditor")
    user.groups.add(Group.objects.get_or_create(name=SECRET_GROUP)[0])
    return user


def _pages(custodian) -> list[str]:
    return [
        reverse("audit:events"),
        reverse("audit:events") + "?device_name=secret",
        reverse("audit:events") + "?account=secret",
        reverse("audit:user", args=[custodian.username]),
        reverse("audit:device", args=["a1B2c3D4e5F", "secret-dev"]),
        reverse("audit:chain"),
    ]


def _export(client, **params) -> tuple[list[dict], dict, bytes]:
    response = client.get(reverse("audit:export"), params)
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    rows, manifest = export_unpacked(content)
    return rows, manifest, content


def test_an_auditor_outside_the_group_sees_none_of_its_events_anywhere(
    trail, outsider, custodian, client_for
):
    client = client_for(outsider)
    # The chain page after a verification names the head row (the secret account's or not):
    # ids and hashes, never an event's content.
    client.post(reverse("audit:verify"))
    verification_run()
    for url in _pages(custodian):
        for htmx in (False, True):
            headers = HTMX_HEADERS if htmx else {}
            html = client.get(url, headers=headers).content.decode()
            if "secret-dev/" not in url:  # the device's own page names it, from its URL
                assert "secret-dev" not in html, url
            assert "SEC-4242" not in html, url
            assert "Secret fleet" not in html, url

    events = client.get(reverse("audit:events")).context["events"]
    assert {e.id for e in events} >= {trail["prod"].id, trail["none"].id}
    assert trail["secret"].id not in {e.id for e in events}

    device = client.get(reverse("audit:device", args=["a1B2c3D4e5F", "secret-dev"]))
    assert device.status_code == 200
    assert device.context["events"] == []
    assert device.context["reveals"] == []
    user = client.get(reverse("audit:user", args=[custodian.username])).context["events"]
    assert trail["secret"].id not in {e.id for e in user}
    assert trail["prod"].id in {e.id for e in user}


def test_the_account_filter_offers_only_the_accounts_the_auditor_may_read(
    trail, outsider, insider, client_for
):
    outside = client_for(outsider).get(reverse("audit:events"))
    # One account left to read: nothing to choose.
    assert "account" not in outside.context["form"].fields
    refused = client_for(outsider).get(reverse("audit:events"), {"account": "secret"})
    assert trail["secret"].id not in {e.id for e in refused.context["events"]}

    inside = client_for(insider).get(reverse("audit:events"), {"account": "secret"})
    assert [value for value, _label in inside.context["form"].fields["account"].choices] == [
        "",
        "prod",
        "secret",
    ]
    assert [e.id for e in inside.context["events"]] == [trail["secret"].id]


def test_the_export_leaves_hidden_accounts_out_and_its_manifest_says_so(
    trail, outsider, insider, superuser, client_for
):
    rows, manifest, content = _export(client_for(outsider))
    ids = {int(row["id"]) for row in rows}
    assert trail["secret"].id not in ids
    assert {trail["prod"].id, trail["none"].id} <= ids
    assert manifest["filters"]["account_scope"] == ["prod"]
    assert manifest["rows"] == len(rows)
    assert export_manifest_verify(content) == (True, "")
    assert SECRET_REASON.encode() not in content

    rows, manifest, _content = _export(client_for(outsider), device_name="secret")
    assert rows == []

    rows, manifest, _content = _export(client_for(insider))
    assert trail["secret"].id in {int(row["id"]) for row in rows}
    assert trail["retired"].id not in {int(row["id"]) for row in rows}
    assert manifest["filters"]["account_scope"] == ["prod", "secret"]

    rows, manifest, _content = _export(client_for(superuser))
    assert {e.id for e in trail.values()} <= {int(row["id"]) for row in rows}
    assert manifest["filters"]["account_scope"] == "all"


def test_an_auditor_in_the_group_sees_its_events(trail, insider, custodian, client_for):
    client = client_for(insider)
    assert trail["secret"].id in {
        e.id for e in client.get(reverse("audit:events")).context["events"]
    }
    device = client.get(reverse("audit:device", args=["a1B2c3D4e5F", "secret-dev"]))
    assert [e.id for e in device.context["events"]] == [trail["secret"].id]
    assert [e.id for e in device.context["reveals"]] == [trail["secret"].id]
    assert SECRET_REASON in client.get(
        reverse("audit:user", args=[custodian.username])
    ).content.decode().replace("&#x27;", "'")


def test_superusers_see_every_event_even_of_an_account_no_longer_configured(
    trail, superuser, outsider, insider
):
    every = {e.id for e in trail.values()}
    assert {e.id for e in events_visible(viewer=superuser)} == every
    # Nobody can say whom a retired account's events were meant for: superusers only.
    assert {e.id for e in events_visible(viewer=insider)} == every - {trail["retired"].id}
    assert {e.id for e in events_visible(viewer=outsider)} == {
        trail["prod"].id,
        trail["none"].id,
    }


def test_with_no_account_limited_to_groups_every_auditor_sees_every_event(
    settings, outsider, custodian
):
    from certadmin.iot.accounts import IotAccount

    settings.IOT_DEFAULT_ACCOUNT = "prod"
    settings.IOT_ACCOUNTS = {
        "prod": IotAccount(name="prod", access_key_id="LTAIp", access_key_secret="p")
    }
    events = [make_event(account="prod"), make_event(account="renamed"), make_event()]
    assert {e.id for e in events_visible(viewer=outsider)} == {e.id for e in events}


# The filter fields are written once per process for each language, account choices and typed
# values (``EventFilterForm.fields_html``) and reused: never with another auditor's accounts,
# never with another query's values or errors.


@pytest.fixture
def writes(monkeypatch):
    """How many field groups were written since the cache was emptied."""
    audit_forms._FIELDS_HTML.clear()
    written = []
    real = web_forms.field_group_html

    def counted(field):
        written.append(field.name)
        return real(field)

    monkeypatch.setattr(web_forms, "field_group_html", counted)
    return written


def test_the_same_fields_are_written_once_and_then_reused(trail, insider, client_for, writes):
    client = client_for(insider)
    first = client.get(reverse("audit:events")).content.decode()
    assert writes  # every visible field once
    count = len(writes)
    again = client.get(reverse("audit:events"), {"before": 10**9}).content.decode()
    assert len(writes) == count
    assert 'name="date_from"' in again

    def fields(html: str) -> str:
        start = html.index('class="audit-filter-fields"')
        return html[start : html.index("audit-quick-ranges", start)]

    assert fields(first) == fields(again)


def test_an_auditor_is_never_shown_the_accounts_another_one_may_read(
    trail, insider, outsider, client_for, writes
):
    inside = client_for(insider).get(reverse("audit:events")).content.decode()
    assert "Secret fleet" in inside
    outside = client_for(outsider).get(reverse("audit:events")).content.decode()
    assert "Secret fleet" not in outside
    assert "Secret fleet" in client_for(insider).get(reverse("audit:events")).content.decode()


def test_typed_values_and_their_errors_belong_to_their_own_query(
    trail, insider, client_for, writes
):
    client = client_for(insider)
    wrong = client.get(
        reverse("audit:events"), {"date_from": "2026-05-02", "date_to": "2026-05-01"}
    )
    html = wrong.content.decode()
    assert "The end date is before the start date." in html
    assert 'value="2026-05-02"' in html
    plain = client.get(reverse("audit:events")).content.decode()
    assert "The end date is before the start date." not in plain
    assert 'value="2026-05-02"' not in plain
    typed = client.get(reverse("audit:events"), {"device_name": "thermo-001"}).content.decode()
    assert 'value="thermo-001"' in typed


def test_the_cache_keeps_a_bounded_number_of_forms(trail, insider, client_for, writes, monkeypatch):
    monkeypatch.setattr(audit_forms, "FIELDS_HTML_KEPT", 3)
    client = client_for(insider)
    for n in range(6):
        client.get(reverse("audit:events"), {"device_name": f"dev-{n}"})
    assert len(audit_forms._FIELDS_HTML) == 3
