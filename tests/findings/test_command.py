"""``manage.py cert_findings``: its formats and its exit statuses."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from certadmin.findings.management.commands.cert_findings import Command
from tests.findings.conftest import days, leaf_expiring_in

pytestmark = pytest.mark.django_db


def _report(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    command = Command(stdout=out)
    call_command(command, *args)
    return command.exit_code, out.getvalue()


def test_nothing_found_is_exit_0(store, run):
    store()
    run()
    code, text = _report()
    assert code == 0
    assert "No open finding." in text


def test_low_findings_alone_are_exit_0_medium_or_high_1_critical_2(store, run):
    store(leaf_expiring_in(days(25)))
    run()
    assert _report()[0] == 0
    store(status=1)
    run()
    assert _report()[0] == 1
    store(leaf_expiring_in(-days(1)))
    run()
    code, text = _report()
    assert code == 2
    assert text.index("cert.expired") < text.index("cert.generation_failed")
    # Filters narrow the verdict too.
    assert _report("--code", "cert.generation_failed")[0] == 1
    assert _report("--severity", "low")[0] == 0


def test_json_and_csv(store, run):
    record = store(status=1)
    run()
    code, text = _report("--format", "json")
    report = json.loads(text)
    assert code == 1
    assert report["counts"]["high"] == 1
    [finding] = report["findings"]
    assert (finding["code"], finding["device_name"], finding["severity"]) == (
        "cert.generation_failed",
        record.device_name,
        "high",
    )
    rows = list(csv.reader(io.StringIO(_report("--format", "csv")[1])))
    assert rows[0][0] == "severity"
    assert rows[1][1] == "cert.generation_failed"


def test_run_first(store):
    store(status=1)
    assert _report("--run")[0] == 1


@pytest.mark.parametrize(
    "args",
    [
        ("--code", "no.such"),
        ("--account", "nosuch"),
        ("--product", "bad key!"),
        ("--severity", "x"),
    ],
)
def test_bad_arguments_are_exit_3(dashboard_iot, args):
    with pytest.raises(CommandError) as raised:
        _report(*args)
    assert raised.value.returncode == 3
