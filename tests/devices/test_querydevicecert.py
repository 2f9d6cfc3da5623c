"""``manage.py querydevicecert`` against the emulator: text and JSON output, errors, no key."""

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from certadmin.certs.details import certificate_details
from certadmin.emulator import DEMO_PRODUCT_KEY, ENTERPRISE_INSTANCE_ID, ENTERPRISE_PRODUCT_KEY
from tests.support.certificates import make_leaf
from tests.support.key_material import key_fragments

PROJECT_DIR = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("querydevicecert", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        run(*args)
    return caught.value


def test_text_output_shows_status_and_decoded_summary(dashboard_iot):
    out, _ = run("--product-key", DEMO_PRODUCT_KEY, "--device-name", "thermo-001")

    assert re.search(r"^Status:\s+2 \(generated\)$", out, re.MULTILINE)
    assert "CN=Alibaba Cloud IoT Certificate" in out
    assert "CN=Alibaba Cloud IoT Operation CA1" in out
    for label in (
        "CertSN:",
        "RequestId:",
        "Serial (hex):",
        "Serial (decimal):",
        "Not before:",
        "Not after:",
        "Signature algorithm:",
        "SHA-256 fingerprint:",
        "SHA-1 fingerprint:",
    ):
        assert label in out
    assert "RSA 2048 bits" in out
    assert "valid, expires in" in out
    assert re.search(r"^Chain:\s+verified \(", out, re.MULTILINE)
    assert "Key matches certificate: yes" in out


def test_json_output_is_one_object_with_the_same_facts(dashboard_iot):
    out, _ = run("--product-key", DEMO_PRODUCT_KEY, "--device-name", "edge-ec01", "--json")

    report = json.loads(out)
    assert report["status"] == 2
    assert report["decode_error"] is None
    assert report["key_matches_certificate"] is True
    cert = report["certificate"]
    assert cert["public_key_curve"] == "secp256r1"
    assert "CN=Alibaba Cloud IoT Operation CA1" in cert["issuer"]
    assert int(cert["serial_hex"].replace(":", ""), 16) == int(cert["serial_decimal"])
    assert report["cert_sn"] == cert["serial_decimal"]
    assert cert["chain"] == "verified"
    assert cert["days_until_expiry"] > 0
    assert "private_key" not in json.dumps(report).lower()


def test_signature_version_v1_is_sent_v1_signed(dashboard_iot):
    out, _ = run(
        "--product-key", DEMO_PRODUCT_KEY, "--device-name", "thermo-002",
        "--signature-version", "v1",
    )  # fmt: skip

    assert "2 (generated)" in out
    calls = [e for e in dashboard_iot.request_log if e.action == "QueryDeviceCert"]
    assert [e.signature_version for e in calls] == ["v1"]


def test_default_signature_is_v3(dashboard_iot):
    run("--product-key", DEMO_PRODUCT_KEY, "--device-name", "thermo-002")

    assert [e.signature_version for e in dashboard_iot.request_log] == ["v3"]


def test_unknown_device_exits_1_with_code_and_request_id(dashboard_iot):
    error = run_failing("--product-key", DEMO_PRODUCT_KEY, "--device-name", "no-such-device")

    assert error.returncode == 1
    message = str(error)
    assert "\n" not in message
    assert "iot.device.NotExistedDevice" in message
    assert re.search(r"RequestId [0-9A-F-]{36}", message)


def test_enterprise_product_without_instance_id_exits_1(dashboard_iot):
    error = run_failing("--product-key", ENTERPRISE_PRODUCT_KEY, "--device-name", "ent-gw-01")

    assert error.returncode == 1
    assert "iot.system.InstanceNotFound" in str(error)


def test_enterprise_product_with_instance_id_succeeds(dashboard_iot):
    out, _ = run(
        "--product-key", ENTERPRISE_PRODUCT_KEY, "--device-name", "ent-gw-01",
        "--instance-id", ENTERPRISE_INSTANCE_ID,
    )  # fmt: skip

    assert f"IotInstanceId:           {ENTERPRISE_INSTANCE_ID}" in out
    assert "2 (generated)" in out


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--device-name", "ab"),
        ("--device-name", "<script>alert(1)</script>"),
        ("--device-name", "has space"),
        ("--device-name", "x" * 33),
        ("--device-name", "line\nbreak"),
        ("--device-name", "nul\x00byte"),
        ("--product-key", "a1-Demo"),
        ("--instance-id", "iot cn bad"),
    ],
)
def test_invalid_input_exits_2_with_one_line_and_no_api_call(dashboard_iot, option, value):
    arguments = {"--product-key": DEMO_PRODUCT_KEY, "--device-name": "thermo-001", option: value}

    error = run_failing(*[part for pair in arguments.items() for part in pair])

    assert error.returncode == 2
    assert "\n" not in str(error)
    assert option in str(error)
    assert dashboard_iot.request_log == []


@pytest.mark.parametrize(
    ("device_name", "status_line"),
    [("sensor-gen", "0 (being generated)"), ("sensor-fail", "1 (generation failed)")],
)
def test_certificate_not_ready_prints_status_without_decode(
    dashboard_iot, device_name, status_line
):
    out, _ = run("--product-key", DEMO_PRODUCT_KEY, "--device-name", device_name)

    assert status_line in out
    assert "Subject" not in out
    assert "could not be decoded" not in out


def test_status_0_json_has_no_certificate(dashboard_iot):
    out, _ = run("--product-key", DEMO_PRODUCT_KEY, "--device-name", "sensor-gen", "--json")

    report = json.loads(out)
    assert report["status"] == 0
    assert report["certificate"] is None
    assert report["key_matches_certificate"] is None


def test_undecodable_certificate_is_reported_and_exits_0(dashboard_iot):
    dashboard_iot.add_device(
        {
            "product_key": DEMO_PRODUCT_KEY,
            "device_name": "cli-garbled-cert",
            "certificate": "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n",
            "private_key": "",
        }
    )

    out, _ = run("--product-key", DEMO_PRODUCT_KEY, "--device-name", "cli-garbled-cert")
    report = json.loads(
        run("--product-key", DEMO_PRODUCT_KEY, "--device-name", "cli-garbled-cert", "--json")[0]
    )

    assert "Certificate:   could not be decoded: no CERTIFICATE block" in out
    assert report["decode_error"]
    assert report["certificate"] is None


def test_expired_days_agree_with_the_certificate_page(dashboard_iot):
    # Expired 30 days and a few minutes ago: the page says "30 days ago"; so must the CLI.
    not_after = timezone.now() - timedelta(days=30, minutes=5)
    leaf = make_leaf(not_before=not_after - timedelta(days=365), not_after=not_after)
    dashboard_iot.add_device(
        {
            "product_key": DEMO_PRODUCT_KEY,
            "device_name": "cli-expired-30d",
            "certificate": leaf.cert_pem,
            "private_key": leaf.key_pem(),
        }
    )
    device = ("--product-key", DEMO_PRODUCT_KEY, "--device-name", "cli-expired-30d")

    out, _ = run(*device)
    cert = json.loads(run(*device, "--json")[0])["certificate"]
    validity = certificate_details(leaf.cert).validity(timezone.now())

    assert validity.days_since_expiry == 30
    assert re.search(r"^Validity:\s+expired 30 day\(s\) ago$", out, re.MULTILINE)
    assert cert["validity"] == "expired"
    assert (cert["days_since_expiry"], cert["days_until_expiry"]) == (30, 0)


@pytest.mark.parametrize("device_name", ["thermo-001", "thermo-002", "legacy-b64"])
@pytest.mark.parametrize("as_json", [False, True])
def test_private_key_is_never_printed(dashboard_iot, device_cert, device_name, as_json):
    key_text = device_cert(DEMO_PRODUCT_KEY, device_name).private_key

    out, err = run(
        "--product-key", DEMO_PRODUCT_KEY, "--device-name", device_name,
        *(["--json"] if as_json else []),
    )  # fmt: skip

    assert "PRIVATE KEY" not in out + err
    for fragment in key_fragments(key_text):
        assert fragment not in out
        assert fragment not in err


def test_key_of_another_certificate_is_reported_as_not_matching(dashboard_iot, device_cert):
    other_key = device_cert(DEMO_PRODUCT_KEY, "thermo-002").private_key
    certificate = device_cert(DEMO_PRODUCT_KEY, "thermo-001").certificate
    dashboard_iot.add_device(
        {
            "product_key": DEMO_PRODUCT_KEY,
            "device_name": "cli-wrong-key",
            "certificate": certificate,
            "private_key": other_key,
        }
    )

    out, _ = run("--product-key", DEMO_PRODUCT_KEY, "--device-name", "cli-wrong-key")

    assert "Key matches certificate: no" in out


@pytest.mark.slow
def test_real_command_line_against_the_emulator(emulator, device_cert, tmp_path):
    ca_file = emulator.write_ca(tmp_path / "ca.pem")
    key_text = device_cert(DEMO_PRODUCT_KEY, "cam-lobby:01").private_key
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("ALIBABA_CLOUD_", "CERTADMIN_", "DJANGO_"))
    }
    env.update(CERTADMIN_IOT_ENDPOINT=emulator.url, CERTADMIN_CA_BUNDLE=str(ca_file))
    command = [sys.executable, "manage.py", "querydevicecert"]
    device = ["--product-key", DEMO_PRODUCT_KEY, "--device-name", "cam-lobby:01"]

    done = subprocess.run(
        [*command, *device], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    missing = subprocess.run(
        [*command, "--product-key", DEMO_PRODUCT_KEY, "--device-name", "not-there"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    invalid = subprocess.run(
        [*command, "--product-key", DEMO_PRODUCT_KEY, "--device-name", "<b>"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "2 (generated)" in done.stdout
    assert "Key matches certificate: yes" in done.stdout
    assert re.search(r"^Chain:\s+verified \(", done.stdout, re.MULTILINE)
    for fragment in key_fragments(key_text):
        assert fragment not in done.stdout + done.stderr
    assert missing.returncode == 1
    assert "iot.device.NotExistedDevice" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    assert invalid.returncode == 2
    assert len(invalid.stderr.strip().splitlines()) == 1


def test_account_option_asks_with_that_accounts_key(staging_iot, settings):
    out, _err = run(
        "--product-key", "a1Stg0Demo1", "--device-name", "stage-001", "--account", "staging"
    )
    assert "stage-001" in out
    assert [e.access_key_id for e in staging_iot.request_log] == [
        settings.DEMO_STAGING_ACCESS_KEY_ID
    ]


def test_an_unknown_account_exits_2_without_an_api_call(dashboard_iot):
    error = run_failing(
        "--product-key", "a1Stg0Demo1", "--device-name", "stage-001", "--account", "nope"
    )
    assert error.returncode == 2
    assert dashboard_iot.request_log == []
