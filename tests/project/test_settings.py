"""Settings: the demo runs with nothing configured; production refuses development values."""

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


def test_production_settings_pass_check_deploy_without_warnings():
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ({}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "x" * 60, "DJANGO_DEBUG": "1"}, "DJANGO_DEBUG"),
        ({"DJANGO_SECRET_KEY": "x" * 60, "DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS"),
        (
            {"DJANGO_SECRET_KEY": "x" * 60, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ""},
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        ),
    ],
)
def test_production_mode_refuses_development_values(override, complaint):
    result = _manage("check", env={**PRODUCTION_ENV, **override})
    assert result.returncode != 0
    assert complaint in result.stderr
    # The refusal never echoes the configured secret.
    assert "not-a-real-secret" not in result.stderr


def test_demo_mode_uses_the_emulator_and_its_demo_pair(settings):
    assert settings.DEMO_MODE
    assert settings.IOT_ENDPOINT.startswith("http://127.0.0.1:")
    assert settings.IOT_ACCESS_KEY_ID == settings.DEMO_ACCESS_KEY_ID


def test_production_mode_defaults_to_the_real_shanghai_endpoint():
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}
    result = _manage(
        "shell", "-c", "from django.conf import settings; print(settings.IOT_ENDPOINT)", env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "https://iot.cn-shanghai.aliyuncs.com"


@pytest.mark.parametrize(
    ("override", "installed"),
    [({}, False), ({"CERTADMIN_EMULATOR": "1"}, True)],
)
def test_production_settings_install_the_emulator_only_when_asked(override, installed):
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), **override}
    result = _manage(
        "shell",
        "-c",
        "from django.apps import apps; print(apps.is_installed('certadmin.emulator'))",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(installed)


def test_demo_mode_installs_the_emulator_for_make_run(settings):
    assert settings.EMULATOR_ENABLED
    assert "certadmin.emulator" in settings.INSTALLED_APPS
