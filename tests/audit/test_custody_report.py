"""The custody report: its counts for a crafted trail, its account scope, its period picker,
and its CSV, signed like the trail's exports and checked by ``audit_export_verify``."""

import csv
import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from certadmin.audit.custody_actions import CUSTODY_MEASURES, KEY_RELEASE_CHANNELS
from certadmin.audit.evidence_export import export_manifest_verify
from certadmin.audit.forms import month_days, quarter_days, quarter_of
from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.signing import audit_public_keys_parse, audit_signing_key_parse
from certadmin.iot.accounts import IotAccount
from tests.support.audit_events import make_event

pytestmark = pytest.mark.django_db

SECRET_GROUP = "Secret fleet"
PAGE = reverse("audit:custody-report")
EXPORT = reverse("audit:custody-export")


@pytest.fixture
def signing_key(settings):
    key = audit_signing_key_parse("r1:" + "42" * 32)
    settings.AUDIT_SIGNING_KEY = key
    settings.AUDIT_PUBLIC_KEYS = audit_public_keys_parse("", signing_key=key)
    return key


@pytest.fixture
def accounts(settings):
    settings.IOT_DEFAULT_ACCOUNT = "prod"
    settings.IOT_ACCOUNTS = {
        "prod": IotAccount(
            name="prod", label="Production", access_key_id="LTAIp", access_key_secret="p"
        ),
        "lab": IotAccount(name="lab", label="Lab", access_key_id="LTAIl", access_key_secret="l"),
        "secret": IotAccount(
            name="secret",
            label="Secret fleet",
            access_key_id="LTAIs",
            access_key_secret="s",
            groups=(SECRET_GROUP,),
        ),
    }


@pytest.fixture
def people(make_user):
    return {"alice": make_user("Key custodian", "alice"), "bob": make_user("Key custodian", "bob")}


def _release(actor, action=AuditAction.KEY_REVEAL, detail="", **fields):
    return make_event(action=action, actor=actor, detail=detail, **fields)


@pytest.fixture
def trail(accounts, people):
    """alice: 2 reveals (prod, product P1), 1 PKCS#12 (lab, P2); bob: 1 PKCS#8 and 1 ZIP
    (prod, P1) and 1 plain ZIP on the secret account (P3); plus refusals, denials, failures,
    a certificate download and a lookup, none of them releases."""
    alice, bob = people["alice"], people["bob"]
    _release(alice, account="prod", product_key="P1aaaaaaaaa")
    _release(alice, account="prod", product_key="P1aaaaaaaaa", device_name="sensor-02")
    _release(alice, AuditAction.KEY_DOWNLOAD, "p12", account="lab", product_key="P2bbbbbbbbb")
    _release(bob, AuditAction.KEY_DOWNLOAD, "key", account="prod", product_key="P1aaaaaaaaa")
    _release(bob, AuditAction.KEY_DOWNLOAD, "zip", account="prod", product_key="P1aaaaaaaaa")
    _release(
        bob, AuditAction.KEY_DOWNLOAD, "zip-plain", account="secret", product_key="P3ccccccccc"
    )
    _release(bob, outcome=AuditOutcome.DENIED, detail="re-authentication failed", account="prod")
    _release(bob, outcome=AuditOutcome.DENIED, detail="no permission", account="prod")
    _release(
        alice,
        AuditAction.KEY_DOWNLOAD,
        "p12: unusable passphrase",
        outcome=AuditOutcome.REFUSED,
        account="prod",
    )
    _release(alice, outcome=AuditOutcome.FAILED, detail="platform down", account="lab")
    _release(alice, AuditAction.CERT_DOWNLOAD, "sensor-01.pem", account="prod")
    make_event(action=AuditAction.KEY_LOOKUP, actor=alice, device_name="", product_key="")


@pytest.fixture
def custody_trail(accounts, people):
    """Two-person approval and hand-overs, as certadmin.custody records them: a request, its
    approval and its use (a PKCS#12 download), a refused one, an expired one, a break-glass
    reveal and its review, a hand-over link used (PKCS#12: opened, then downloaded), a link
    that shows the key (recorded as the reveal), a reused link and an expired one."""
    alice, bob = people["alice"], people["bob"]
    prod = {"account": "prod", "product_key": "P1aaaaaaaaa"}
    make_event(action=AuditAction.KEY_REQUEST, actor=alice, detail="p12", **prod)
    make_event(action=AuditAction.KEY_REQUEST_APPROVE, actor=bob, detail="approved", **prod)
    _release(alice, AuditAction.KEY_DOWNLOAD, "p12; request 12", **prod)
    make_event(action=AuditAction.KEY_REQUEST, actor=alice, detail="reveal", **prod)
    make_event(action=AuditAction.KEY_REQUEST_REFUSE, actor=bob, detail="refused", **prod)
    make_event(action=AuditAction.KEY_REQUEST_EXPIRE, actor=None, detail="expired", **prod)
    _release(alice, detail="break-glass, review required; ticket INC-4711", **prod)
    make_event(action=AuditAction.BREAK_GLASS_REVIEW, actor=bob, detail="reviewed", **prod)
    make_event(action=AuditAction.HANDOVER_CREATE, actor=alice, detail="p12", **prod)
    make_event(action=AuditAction.HANDOVER_OPEN, actor=bob, detail="opened", **prod)
    _release(bob, AuditAction.KEY_DOWNLOAD, "p12; hand-over 5 from alice", **prod)
    make_event(action=AuditAction.HANDOVER_CREATE, actor=alice, detail="reveal", **prod)
    _release(bob, detail="hand-over 6 from alice", **prod)
    make_event(action=AuditAction.HANDOVER_REUSE, actor=bob, outcome=AuditOutcome.DENIED, **prod)
    make_event(action=AuditAction.HANDOVER_EXPIRED, actor=bob, outcome=AuditOutcome.DENIED, **prod)


def test_the_report_counts_a_crafted_trail(trail, make_user, client_for):
    superuser = make_user("superuser")
    response = client_for(superuser).get(PAGE)
    assert response.status_code == 200
    report = response.context["report"]
    assert report.release_total == 6
    assert {code: n for code, _, n in report.channel_totals()} == {
        "reveal": 2,
        "pkcs8": 1,
        "pkcs12": 1,
        "zip": 2,
        "other": 0,
    }
    assert dict(report.releases_by("user")) == {"alice": 3, "bob": 3}
    assert dict(report.releases_by("account")) == {"prod": 4, "lab": 1, "secret": 1}
    assert dict(report.releases_by("product_key")) == {
        "P1aaaaaaaaa": 4,
        "P2bbbbbbbbb": 1,
        "P3ccccccccc": 1,
    }
    measures = {m.code: n for m, n in report.measure_totals() if n}
    assert measures == {
        "key_request_denied": 2,
        "key_request_refused": 1,
        "key_request_failed": 1,
        "key_lookup": 1,
    }
    html = response.content.decode()
    assert 'data-channel="pkcs12"' in html
    assert "6 key releases" in html


def test_an_auditor_counts_only_the_accounts_they_may_use_and_may_pick_one(
    trail, make_user, client_for
):
    outsider = make_user("Auditor")
    report = client_for(outsider).get(PAGE).context["report"]
    assert report.release_total == 5
    assert "secret" not in dict(report.releases_by("account"))
    lab = client_for(outsider).get(PAGE, {"account": "lab"}).context["report"]
    assert lab.release_total == 1
    refused = client_for(outsider).get(PAGE, {"account": "secret"})
    assert refused.status_code == 400

    insider = make_user("Auditor")
    insider.groups.add(Group.objects.get_or_create(name=SECRET_GROUP)[0])
    assert client_for(insider).get(PAGE).context["report"].release_total == 6


def test_a_period_without_the_events_counts_none(trail, auditor, client_for):
    today = timezone.localdate()
    last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    client = client_for(auditor)
    assert (
        client.get(PAGE, {"period": "month", "month": last_month}).context["report"].release_total
        == 0
    )
    this_quarter = client.get(PAGE, {"period": "quarter", "quarter": quarter_of(today)})
    assert this_quarter.context["report"].release_total == 5
    ranged = client.get(
        PAGE, {"period": "range", "date_from": today.isoformat(), "date_to": today.isoformat()}
    )
    assert ranged.context["report"].release_total == 5
    backwards = client.get(
        PAGE,
        {
            "period": "range",
            "date_from": today.isoformat(),
            "date_to": (today - timedelta(days=1)).isoformat(),
        },
    )
    assert backwards.status_code == 400
    assert "The end date is before the start date." in backwards.content.decode()


def test_periods_cover_whole_months_and_quarters():
    assert month_days("2026-02") == (
        timezone.datetime(2026, 2, 1).date(),
        timezone.datetime(2026, 2, 28).date(),
    )
    assert month_days("2026-12")[1].isoformat() == "2026-12-31"
    assert [d.isoformat() for d in quarter_days("2026-Q4")] == ["2026-10-01", "2026-12-31"]
    assert [d.isoformat() for d in quarter_days("2026-Q1")] == ["2026-01-01", "2026-03-31"]
    assert quarter_of(timezone.datetime(2026, 7, 4).date()) == "2026-Q3"


def _export(client, **params) -> bytes:
    response = client.get(EXPORT, params)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    return response.content


def _members(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as unpacked:
        return {name: unpacked.read(name) for name in unpacked.namelist()}


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_the_csv_is_signed_and_verifies_and_fails_when_a_byte_changes(
    trail, signing_key, make_user, client_for, tmp_path
):
    superuser = make_user("superuser")
    archive = _export(client_for(superuser))
    assert export_manifest_verify(archive) == (True, "")
    path = tmp_path / "report.zip"
    path.write_bytes(archive)
    call_command("audit_export_verify", str(path))

    members = _members(archive)
    assert set(members) == {"custody-report.csv", "manifest.json"}
    rows = list(csv.DictReader(io.StringIO(members["custody-report.csv"].decode())))
    releases = [r for r in rows if r["measure"] == "key_release"]
    assert sum(int(r["count"]) for r in releases) == 6
    assert {
        (r["user"], r["account"], r["product_key"], r["channel"], r["count"]) for r in releases
    } >= {
        ("alice", "prod", "P1aaaaaaaaa", "reveal", "2"),
        ("bob", "secret", "P3ccccccccc", "zip", "1"),
    }
    manifest = json.loads(members["manifest.json"])
    assert manifest["format"] == "certadmin-custody-report/1"
    assert manifest["rows"] == len(rows)
    assert manifest["counted"]["key_release"]["pkcs12"] == {
        "action": "key_download",
        "details": ["p12"],
    }
    recorded = AuditEvent.objects.get(action=AuditAction.CUSTODY_REPORT)
    assert manifest["export_event_id"] == recorded.pk
    assert manifest["chain_head"]["id"] == recorded.pk - 1

    changed = members["custody-report.csv"].replace(b"alice", b"alicf", 1)
    assert export_manifest_verify(_zip({**members, "custody-report.csv": changed}))[0] is False
    forged = json.loads(members["manifest.json"])
    forged["rows"] += 1
    ok, why = export_manifest_verify(
        _zip({**members, "manifest.json": json.dumps(forged).encode()})
    )
    assert (ok, why) == (False, "the manifest's signature does not verify")
    # A report's manifest cannot pass for a trail export's.
    as_trail = _zip(
        {"events.csv": members["custody-report.csv"], **{"manifest.json": members["manifest.json"]}}
    )
    assert export_manifest_verify(as_trail) == (
        False,
        "manifest.json is not a certadmin-audit-export/2 manifest",
    )


def test_the_export_states_the_auditors_scope_and_leaves_out_other_accounts(
    trail, signing_key, make_user, client_for
):
    outsider = make_user("Auditor")
    members = _members(_export(client_for(outsider)))
    assert b"P3ccccccccc" not in members["custody-report.csv"]
    manifest = json.loads(members["manifest.json"])
    assert manifest["filters"]["account_scope"] == ["lab", "prod"]


def test_without_a_signing_key_nothing_is_exported(trail, settings, auditor, client_for):
    settings.AUDIT_SIGNING_KEY = None
    response = client_for(auditor).get(EXPORT)
    assert response.status_code == 503
    assert not AuditEvent.objects.filter(action=AuditAction.CUSTODY_REPORT).exists()


@pytest.mark.parametrize("url", [PAGE, EXPORT])
def test_the_pages_are_for_auditors_only(signing_key, client, client_for, make_user, url):
    assert client.get(url).status_code == 302
    for role in ("Viewer", "Key custodian", "Fleet manager"):
        assert client_for(make_user(role)).get(url).status_code == 403
    for role in ("Auditor", "superuser"):
        assert client_for(make_user(role)).get(url).status_code == 200


def test_every_counted_action_exists_and_every_measure_counts_something():
    actions = set(AuditAction.values)
    for channel in KEY_RELEASE_CHANNELS:
        assert channel.action in actions
    for measure in CUSTODY_MEASURES:
        assert set(measure.actions) | set(measure.detail_actions) <= actions, measure.code
        assert measure.actions or measure.detail_actions, measure.code


def test_approvals_break_glass_and_hand_overs_are_counted(custody_trail, make_user, client_for):
    report = client_for(make_user("superuser")).get(PAGE).context["report"]

    # Releases are counted by their format, whatever they came through.
    assert {code: n for code, _, n in report.channel_totals()} == {
        "reveal": 2,
        "pkcs8": 0,
        "pkcs12": 2,
        "zip": 0,
        "other": 0,
    }
    assert {m.code: n for m, n in report.measure_totals() if n} == {
        "approval_requested": 2,
        "approval_granted": 1,
        "approval_refused": 1,
        "approval_expired": 1,
        "break_glass": 1,
        "break_glass_reviewed": 1,
        "handover_created": 2,
        "handover_used": 2,
        "handover_expired": 1,
        "handover_reused": 1,
    }
