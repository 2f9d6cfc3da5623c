"""Settings: the demo runs with nothing configured; production serving (check --deploy, the WSGI
application) refuses development values, while a command-line lookup needs only the AccessKey."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIproductionExample",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "not-a-real-secret",
    "DJANGO_ALLOWED_HOSTS": "certadmin.example.com",
    "CERTADMIN_AUDIT_KEYS": "prod1:" + secrets.token_hex(32),
    "CERTADMIN_AUDIT_SIGNING_KEY": "sign1:" + secrets.token_hex(32),
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALIBABA_CLOUD_", "CERTADMIN_", "DJANGO_"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy_without_warnings(tmp_path):
    # On SQLite: the suite's PostgreSQL role is a superuser, which check --deploy rightly warns
    # about (tests/production/test_database_roles.py checks the database roles).
    env = {
        **PRODUCTION_ENV,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'check.sqlite3'}",
        # Production shares the API quotas across hosts through Redis (certadmin.W021 without);
        # the check does not connect to it.
        "REDIS_URL": "redis://127.0.0.1:6390/15",
    }
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


SERVING_REFUSALS = [
    ({}, "DJANGO_SECRET_KEY"),
    ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY"),
    ({"DJANGO_SECRET_KEY": "x" * 60, "DJANGO_DEBUG": "1"}, "DJANGO_DEBUG"),
    ({"DJANGO_SECRET_KEY": "x" * 60, "DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS"),
    ({"DJANGO_SECRET_KEY": "x" * 60, "CERTADMIN_AUDIT_KEYS": ""}, "CERTADMIN_AUDIT_KEYS"),
    (
        {"DJANGO_SECRET_KEY": "x" * 60, "CERTADMIN_AUDIT_SIGNING_KEY": ""},
        "CERTADMIN_AUDIT_SIGNING_KEY",
    ),
    ({"DJANGO_SECRET_KEY": "x" * 60, "CERTADMIN_METRICS_ALLOW": "intranet"}, "METRICS_ALLOW"),
    (
        {"DJANGO_SECRET_KEY": "x" * 60, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ""},
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    ),
]


@pytest.mark.parametrize(("override", "complaint"), SERVING_REFUSALS)
def test_check_deploy_refuses_development_values_in_production(override, complaint):
    result = _manage("check", "--deploy", env={**PRODUCTION_ENV, **override})
    assert result.returncode != 0
    assert complaint in result.stderr
    # The refusal never echoes the configured secret.
    assert "not-a-real-secret" not in result.stderr


@pytest.mark.parametrize(("override", "complaint"), SERVING_REFUSALS)
def test_the_wsgi_application_refuses_to_start_on_development_values(override, complaint):
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALIBABA_CLOUD_", "CERTADMIN_", "DJANGO_"))
    }
    result = subprocess.run(
        [sys.executable, "-c", "import certadmin.wsgi"],
        cwd=ROOT,
        env={**clean, **PRODUCTION_ENV, **override},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert complaint in result.stderr
    assert "not-a-real-secret" not in result.stderr


def test_the_wsgi_application_starts_with_production_values():
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALIBABA_CLOUD_", "CERTADMIN_", "DJANGO_"))
    }
    env = {**clean, **PRODUCTION_ENV, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}
    result = subprocess.run(
        [sys.executable, "-c", "import certadmin.wsgi; print('started')"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("started")


def test_commands_run_with_only_the_access_key_pair():
    only_access_key = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": PRODUCTION_ENV["ALIBABA_CLOUD_ACCESS_KEY_ID"],
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": PRODUCTION_ENV["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
    }
    result = _manage("check", env=only_access_key)
    assert result.returncode == 0, result.stderr


def test_querydevicecert_needs_only_the_access_key_pair(tmp_path):
    """As with the aliyun CLI: no secret key, allowed hosts or audit key configured."""
    from certadmin.emulator import DEMO_PRODUCT_KEY
    from certadmin.emulator.server import start_emulator

    key_id, secret = "LTAIcliOnlyExample01", "cli-only-secret-for-this-test"
    with start_emulator(access_key_id=key_id, access_key_secret=secret) as emulator:
        ca_file = emulator.write_ca(tmp_path / "ca.pem")
        result = _manage(
            "querydevicecert",
            "--product-key",
            DEMO_PRODUCT_KEY,
            "--device-name",
            "cam-lobby:01",
            env={
                "ALIBABA_CLOUD_ACCESS_KEY_ID": key_id,
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret,
                "CERTADMIN_IOT_ENDPOINT": emulator.url,
                "CERTADMIN_CA_BUNDLE": str(ca_file),
            },
        )
    assert result.returncode == 0, result.stderr
    assert "2 (generated)" in result.stdout
    assert secret not in result.stdout + result.stderr


def test_an_audit_write_without_an_audit_key_fails_closed(db, settings):
    from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
    from certadmin.audit.services import AuditWriteError, RequestContext, audit_record

    settings.AUDIT_KEYS, settings.AUDIT_KEY_ID = {}, ""
    with pytest.raises(AuditWriteError):
        audit_record(
            action=AuditAction.KEY_REVEAL,
            outcome=AuditOutcome.SUCCESS,
            actor=None,
            context=RequestContext(ip_address=None, user_agent=""),
        )
    assert not AuditEvent.objects.exists()


def test_demo_mode_uses_the_emulator_and_its_demo_pair(settings):
    assert settings.DEMO_MODE
    account = settings.IOT_ACCOUNTS[settings.IOT_DEFAULT_ACCOUNT]
    assert account.endpoint.startswith("http://127.0.0.1:")
    assert account.access_key_id == settings.DEMO_ACCESS_KEY_ID
    assert sorted(settings.IOT_ACCOUNTS) == ["default", "staging"]


# Which endpoint and apps production settings choose is decided by loading the settings module
# alone, so one child loads it once per environment below (a fresh `manage.py shell` per case
# cost a full Django start-up each) and prints what each chose. The start-up itself is tested as
# a process above (the WSGI application, check --deploy).
SETTINGS_CHOICES = """
import json, os, runpy, sys

variants = json.loads(sys.stdin.read())
inherited = dict(os.environ)
chosen = {}
for name, env in variants.items():
    os.environ.clear()
    os.environ.update({**inherited, **env})
    values = runpy.run_path("certadmin/settings.py")
    chosen[name] = {
        "endpoint": values["IOT_ACCOUNTS"]["default"].endpoint,
        "emulator": "certadmin.emulator" in values["INSTALLED_APPS"],
    }
print(json.dumps(chosen))
"""

PRODUCTION_VARIANTS = {
    "production": {},
    "production with CERTADMIN_EMULATOR=1": {"CERTADMIN_EMULATOR": "1"},
}


@pytest.fixture(scope="module")
def production_choices() -> dict[str, dict]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALIBABA_CLOUD_", "CERTADMIN_", "DJANGO_"))
    }
    env = {**clean, **PRODUCTION_ENV, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}
    result = subprocess.run(
        [sys.executable, "-c", SETTINGS_CHOICES],
        cwd=ROOT,
        env=env,
        input=json.dumps(PRODUCTION_VARIANTS),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_mode_defaults_to_the_real_shanghai_endpoint(production_choices):
    endpoint = production_choices["production"]["endpoint"]
    assert endpoint == "https://iot.cn-shanghai.aliyuncs.com"


@pytest.mark.parametrize(
    ("variant", "installed"),
    [("production", False), ("production with CERTADMIN_EMULATOR=1", True)],
)
def test_production_settings_install_the_emulator_only_when_asked(
    production_choices, variant, installed
):
    assert production_choices[variant]["emulator"] is installed


def test_demo_mode_installs_the_emulator_for_make_run(settings):
    assert settings.EMULATOR_ENABLED
    assert "certadmin.emulator" in settings.INSTALLED_APPS
