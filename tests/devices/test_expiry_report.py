"""``manage.py cert_expiry_report`` against known inventory records: its JSON, CSV and text, and
its monitoring exit codes (in-process with call_command, and as a real process)."""

import csv
import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from certadmin.devices.expiry import expiry_counts
from certadmin.devices.inventory_csv import INVENTORY_CSV_HEADER
from certadmin.devices.management.commands.cert_expiry_report import Command
from certadmin.devices.models import CertificateRecord

ROOT = Path(__file__).resolve().parents[2]
PK = "a1ReportTst"
names = iter(range(1, 100_000))


def make(days: float | None, **fields) -> CertificateRecord:
    now = timezone.now()
    values = {
        "product_key": PK,
        "device_name": f"dev-{next(names):05d}",
        "status": 2,
        "not_after": None if days is None else now + timedelta(days=days),
        "last_checked": now - timedelta(hours=1),
    }
    values.update(fields)
    return CertificateRecord.objects.create(**values)


def report(*args: str) -> tuple[int, str]:
    command = Command()
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return command.exit_code, out.getvalue()


@pytest.fixture
def fleet(db):
    """Known records: two expired, three expiring within 30 days, and others the report counts
    but does not list."""
    return {
        "expired_long_ago": make(-40.5, device_name="old-cert"),
        "expired": make(-0.5, device_name="just-expired"),
        "in_3": make(3.5, device_name="soon-3"),
        "in_10": make(10.5, device_name="soon-10"),
        "in_29": make(29.5, device_name="soon-29", iot_instance_id="iot-06z00ep2pjifrby"),
        "in_45": make(45.5, device_name="later-45"),
        "in_400": make(400, device_name="fine-400"),
        "failed": make(2, device_name="failed-1", last_error_code="iot.device.NotExistedDevice"),
        "never": make(2, device_name="never-1", last_checked=None),
        "not_issued": make(None, device_name="gen-1", status=0),
        "other_product": make(-5, product_key="a1OtherProd", device_name="other-1"),
    }


@pytest.mark.django_db
def test_json_lists_expired_and_expiring_devices_soonest_first_with_counts(fleet):
    code, out = report("--format", "json", "--product-key", PK)
    data = json.loads(out)
    assert code == 2
    assert set(data) == {
        "generated_at",
        "within_days",
        "expiring_within_days",
        "counts",
        "devices",
    }
    assert data["within_days"] == 30
    # Not expired yet, at most 30 days left: the overview's 0–7 and 8–30 days, expired apart.
    assert data["expiring_within_days"] == 3
    assert data["counts"]["expired"] == 2
    assert data["generated_at"].endswith("Z")
    assert [d["device_name"] for d in data["devices"]] == [
        "old-cert",
        "just-expired",
        "soon-3",
        "soon-10",
        "soon-29",
    ]
    first = data["devices"][0]
    assert set(first) == {
        "account",
        "product_key",
        "device_name",
        "iot_instance_id",
        "not_after",
        "days_left",
        "state",
    }
    assert first["product_key"] == PK
    assert first["days_left"] == -40
    assert first["state"] == "expired"
    assert [d["days_left"] for d in data["devices"]] == [-40, 0, 3, 10, 29]
    assert [d["state"] for d in data["devices"]] == [
        "expired",
        "expired",
        "days_0_7",
        "days_8_30",
        "days_8_30",
    ]
    assert data["devices"][4]["iot_instance_id"] == "iot-06z00ep2pjifrby"
    record = fleet["in_10"]
    assert data["devices"][3]["not_after"] == record.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    now = timezone.now()
    assert data["counts"] == expiry_counts(
        CertificateRecord.objects.filter(product_key=PK), now=now
    )
    assert data["counts"] == {
        "expired": 2,
        "days_0_7": 1,
        "days_8_30": 2,
        "days_31_90": 1,
        "days_over_90": 1,
        "not_issued": 1,
        "failed": 1,
        "never": 1,
    }


@pytest.mark.django_db
def test_days_left_in_json_matches_the_csv(fleet):
    _code, json_out = report("--format", "json", "--product-key", PK)
    _code, csv_out = report("--format", "csv", "--product-key", PK)
    rows = list(csv.DictReader(io.StringIO(csv_out)))
    assert list(rows[0]) == INVENTORY_CSV_HEADER
    devices = json.loads(json_out)["devices"]
    assert [(r["device_name"], int(r["days_left"]), r["state"]) for r in rows] == [
        (d["device_name"], d["days_left"], d["state"]) for d in devices
    ]


@pytest.mark.django_db
def test_exit_codes_follow_what_the_inventory_holds():
    assert report()[0] == 0  # empty inventory
    make(400)
    make(2, last_error_code="Throttling.User")
    make(None, status=1)
    make(5, last_checked=None)
    assert report()[0] == 0  # failures and unknowns do not raise an alarm by themselves
    make(20)
    assert report()[0] == 1
    assert report("--within", "10")[0] == 0
    make(-1)
    assert report()[0] == 2
    assert report("--within", "0")[0] == 2


@pytest.mark.django_db
def test_within_counts_exact_days_like_the_states_and_filters_narrow_the_report(fleet):
    # soon-10 expires in 10.5 days: "10 days left", so within 10 days (as "7 days left" is in
    # 0–7 days); --within 9 stops before it.
    code, out = report("--format", "json", "--within", "10", "--product-key", PK)
    assert [d["device_name"] for d in json.loads(out)["devices"]][-1] == "soon-10"
    assert json.loads(out)["expiring_within_days"] == 2
    code, out = report("--format", "json", "--within", "9", "--product-key", PK)
    assert [d["device_name"] for d in json.loads(out)["devices"]][-1] == "soon-3"
    assert json.loads(out)["expiring_within_days"] == 1
    code, out = report("--format", "json", "--instance", "iot-06z00ep2pjifrby")
    assert code == 1
    assert [d["device_name"] for d in json.loads(out)["devices"]] == ["soon-29"]
    code, out = report("--format", "json", "--product-key", "a1OtherProd")
    assert code == 2
    assert json.loads(out)["counts"]["expired"] == 1


@pytest.mark.django_db
def test_text_report_summarises_and_tabulates(fleet):
    code, out = report("--product-key", PK)
    assert code == 2
    assert "Expired" in out
    assert "Never checked" in out
    assert "Expire within 30 days (not expired yet): 3" in out
    assert "Expired: 2" in out
    assert "Expired, then expiring within 30 days (5):" in out
    assert out.index("old-cert") < out.index("soon-29")
    assert "later-45" not in out


@pytest.mark.django_db
def test_empty_text_report_says_nothing_is_due():
    code, out = report("--within", "7")
    assert code == 0
    assert "Nothing expired or expiring within 7 days." in out


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [
        ("--format", "xml"),
        ("--within", "soon"),
        ("--within", "-1"),
        ("--product-key", "not a key!"),
        ("--instance", "bad instance id with spaces"),
    ],
)
def test_bad_arguments_are_exit_3_not_argparse_2(args):
    with pytest.raises(CommandError) as refused:
        call_command(Command(), *args, stdout=io.StringIO())
    assert refused.value.returncode == 3


@pytest.mark.django_db
def test_account_option_reports_only_that_accounts_devices(settings):
    settings.IOT_ACCOUNTS = {**settings.IOT_ACCOUNTS, "staging": settings.IOT_ACCOUNTS["default"]}
    make(-1, device_name="default-dev")
    make(-1, device_name="staging-dev", account="staging")

    _, out = report("--format", "json", "--account", "staging")
    devices = json.loads(out)["devices"]
    assert [(d["account"], d["device_name"]) for d in devices] == [("staging", "staging-dev")]


@pytest.mark.django_db
def test_an_unknown_account_is_exit_3():
    with pytest.raises(CommandError) as refused:
        call_command(Command(), "--account", "nosuch", stdout=io.StringIO())
    assert refused.value.returncode == 3


# --- as a real process: the exit status a monitoring system sees --------------------------------

# One seeding process for both records (a Django start-up each costs more than the report): the
# expired one is in another product, so the report of this product alone still exits 1.
SEED = """
from datetime import timedelta
from django.utils import timezone
from certadmin.devices.models import CertificateRecord
now = timezone.now()
CertificateRecord.objects.create(product_key="a1ReportTst", device_name="soon", status=2,
    not_after=now + timedelta(days=12), last_checked=now)
CertificateRecord.objects.create(product_key="a1OtherProd", device_name="late", status=2,
    not_after=now - timedelta(days=2), last_checked=now)
"""


@pytest.fixture(scope="module")
def database_file(tmp_path_factory) -> dict[str, str]:
    path = tmp_path_factory.mktemp("report") / "inventory.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}", "CERTADMIN_LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    migrated = manage("migrate", "--verbosity", "0", env=env)
    assert migrated.returncode == 0, migrated.stderr
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_process_exit_status_is_0_then_1_then_2(database_file):
    env = database_file
    assert manage("cert_expiry_report", env=env).returncode == 0
    seeded = manage("shell", "--no-imports", "-c", SEED, env=env)
    assert seeded.returncode == 0, seeded.stderr
    expiring = manage(
        "cert_expiry_report", "--format", "json", "--product-key", "a1ReportTst", env=env
    )
    assert expiring.returncode == 1, expiring.stderr
    assert [d["device_name"] for d in json.loads(expiring.stdout)["devices"]] == ["soon"]
    assert manage("cert_expiry_report", env=env).returncode == 2


@pytest.mark.slow
def test_process_exit_status_is_3_for_bad_arguments_and_no_database(database_file, tmp_path):
    bad = manage("cert_expiry_report", "--format", "xml", env=database_file)
    assert bad.returncode == 3
    assert "invalid choice: 'xml'" in bad.stderr
    missing = {**database_file, "DATABASE_URL": f"sqlite:///{tmp_path}/no/such/dir/x.sqlite3"}
    unreadable = manage("cert_expiry_report", env=missing)
    assert unreadable.returncode == 3
    assert "the inventory could not be read" in unreadable.stderr
