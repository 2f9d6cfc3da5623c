"""No downgrade to unkeyed rows: an unkeyed (hash version 1) row verifies only
up to the last legacy id that the configuration names (CERTADMIN_AUDIT_UNKEYED_UP_TO), where the
database writer cannot move it, and a trail with rows must have a keyed one."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from certadmin.audit.models import AuditEvent, ChainProblem
from certadmin.audit.verification import chain_verify
from tests.audit.forged_rows import chain_downgraded, forged_row, row_insert
from tests.support.audit_events import make_events

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def _legacy_events(settings, count: int) -> list[AuditEvent]:
    """Rows as certadmin wrote them before the chain was keyed."""
    active = settings.AUDIT_KEY_ID
    settings.AUDIT_KEY_ID = ""
    events = make_events(count)
    settings.AUDIT_KEY_ID = active
    assert {event.key_id for event in events} == {""}
    return events


def _verify_fails(match: str) -> None:
    with pytest.raises(CommandError, match=match) as failed:
        call_command("audit_verify")
    assert failed.value.returncode != 0


def test_a_whole_chain_downgraded_to_unkeyed_rows_fails():
    events = make_events(4)
    chain_downgraded()
    assert set(AuditEvent.objects.values_list("key_id", flat=True)) == {""}
    report = chain_verify()
    assert (report.problem, report.first_broken_id) == (
        ChainProblem.UNKEYED_NOT_LEGACY,
        events[0].id,
    )
    assert f"Row {events[0].id} is not sealed with an audit key" in report.message
    _verify_fails("is not one of the legacy rows that CERTADMIN_AUDIT_UNKEYED_UP_TO allows")
    with pytest.raises(CommandError, match="no checkpoint written"):
        call_command("audit_checkpoint")


def test_legacy_rows_up_to_the_boundary_verify_and_one_above_it_fails(settings):
    legacy = _legacy_events(settings, 3)
    settings.AUDIT_UNKEYED_UP_TO = legacy[1].id
    keyed = make_events(2)
    report = chain_verify()
    assert (report.problem, report.first_broken_id) == (
        ChainProblem.UNKEYED_NOT_LEGACY,
        legacy[2].id,
    )
    settings.AUDIT_UNKEYED_UP_TO = legacy[2].id
    report = chain_verify()
    assert report.ok
    assert (report.checked, report.head_id) == (5, keyed[-1].id)
    call_command("audit_verify")


def test_a_downgrade_of_the_keyed_rows_after_legacy_ones_fails(settings):
    legacy = _legacy_events(settings, 2)
    settings.AUDIT_UNKEYED_UP_TO = legacy[-1].id
    keyed = make_events(3)
    assert chain_verify().ok
    chain_downgraded()
    report = chain_verify()
    assert (report.problem, report.first_broken_id) == (
        ChainProblem.UNKEYED_NOT_LEGACY,
        keyed[0].id,
    )


def test_keys_configured_and_only_unkeyed_rows_fails(settings):
    """Every row up to the boundary, none keyed: the keyed rows were cut off (or the legacy
    rows rewritten and the rest removed)."""
    legacy = _legacy_events(settings, 3)
    settings.AUDIT_UNKEYED_UP_TO = legacy[-1].id
    assert settings.AUDIT_KEYS
    report = chain_verify()
    assert not report.ok
    assert report.problem == ChainProblem.NO_KEYED_ROW
    assert report.checked == 3
    _verify_fails("No row is sealed with an audit key")
    # That run is itself recorded as a keyed event: the trail verifies from then on.
    assert AuditEvent.objects.order_by("-id").first().key_id == settings.AUDIT_KEY_ID
    call_command("audit_verify")


def test_an_unkeyed_row_inserted_after_the_head_fails_whatever_the_boundary(settings):
    events = make_events(2)
    settings.AUDIT_UNKEYED_UP_TO = events[-1].id + 100  # set too high by mistake
    row_insert(forged_row(key_id=""))  # a valid plain SHA-256, linked to the head
    forged = AuditEvent.objects.order_by("-id").first()
    report = chain_verify()
    assert (report.problem, report.first_broken_id) == (ChainProblem.UNKEYED, forged.id)


def test_an_empty_trail_verifies():
    assert chain_verify().ok


# --- the setting ---------------------------------------------------------------------------


def _settings_value(value: str | None) -> subprocess.CompletedProcess:
    environment = {"PATH": os.environ.get("PATH", "")}
    if value is not None:
        environment["CERTADMIN_AUDIT_UNKEYED_UP_TO"] = value
    return subprocess.run(
        [sys.executable, "-c", "import certadmin.settings as s; print(s.AUDIT_UNKEYED_UP_TO)"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_boundary_is_a_row_id_from_the_environment():
    assert _settings_value(None).stdout.strip() == "None"
    assert _settings_value("").stdout.strip() == "None"
    assert _settings_value(" 4711 ").stdout.strip() == "4711"
    assert _settings_value("0").stdout.strip() == "None"
    for bad in ("abc", "-3", "1.5", "1e3", "０１", "12,13"):
        refused = _settings_value(bad)
        assert refused.returncode != 0, bad
        assert "ImproperlyConfigured: CERTADMIN_AUDIT_UNKEYED_UP_TO must be the id" in (
            refused.stderr
        )
