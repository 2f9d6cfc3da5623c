"""Public or guessable audit keys are refused in production: by the settings
at boot and by ``check --deploy``, naming the key id and the rule, never the key."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import run_checks

from certadmin.audit.hmac_keys import DEMO_AUDIT_KEY, audit_key_weakness, audit_keys_parse

ROOT = Path(__file__).resolve().parents[2]

WEAK_KEYS = {
    "the demo key": DEMO_AUDIT_KEY,
    "all zeros": bytes(32),
    "one repeated character": b"a" * 48,
    "two alternating bytes": b"\x01\xfe" * 16,
    "a repeated word": b"passwordpassword" * 2,
    "a repeated random block": secrets.token_bytes(16) * 2,
    "a random block and a half": (block := secrets.token_bytes(16)) * 2 + block[:8],
    "counting bytes": bytes(range(32)),
    "counting down in threes": bytes((200 - 3 * i) % 256 for i in range(40)),
    "a short key padded with zeros": secrets.token_bytes(20) + bytes(12),
    "a phrase": b"our production audit key for 2026",
    "the demo key with another ending": b"certadmin demo audit key, public, demo only?",
    "the Django demo secret": b"django-insecure-certadmin-demo-only",
    "a password made longer": b"Correct-Horse-Battery-Staple-2026!!",
    "hex of a random key, typed as text": secrets.token_hex(32).encode(),
}


@pytest.mark.parametrize("name", sorted(WEAK_KEYS))
def test_public_and_low_entropy_keys_are_weak(name):
    assert audit_key_weakness(WEAK_KEYS[name]) is not None


def test_generated_keys_are_never_weak():
    for size in (32, 48, 64):
        for _ in range(2000):
            assert audit_key_weakness(secrets.token_bytes(size)) is None
    # Long random text (a password manager's 64 printable characters) holds 400 bits.
    alphabet = bytes(range(0x21, 0x7F))
    assert audit_key_weakness(bytes(secrets.choice(alphabet) for _ in range(64))) is None


def test_the_demo_key_is_recognised_in_every_encoding_under_any_kid():
    for encoded in (
        DEMO_AUDIT_KEY.hex(),
        DEMO_AUDIT_KEY.hex().upper(),
        base64.b64encode(DEMO_AUDIT_KEY).decode(),
        base64.urlsafe_b64encode(DEMO_AUDIT_KEY).decode().rstrip("="),
    ):
        (secret,) = audit_keys_parse(f"prod-2026:{encoded}").values()
        assert audit_key_weakness(secret) == "is the public demo key"


@pytest.mark.django_db
def test_check_deploy_names_each_weak_key_by_kid_never_by_value(settings):
    settings.DEMO_MODE = False
    strong = secrets.token_bytes(32)
    settings.AUDIT_KEYS = {"good": strong, "old": bytes(32), "copy": DEMO_AUDIT_KEY}
    settings.AUDIT_KEY_ID = "good"

    errors = [m for m in run_checks(include_deployment_checks=True) if m.id == "certadmin.E004"]

    assert len(errors) == 1
    assert "'old'" in errors[0].msg
    assert "'copy'" in errors[0].msg
    assert "'good'" not in errors[0].msg
    assert errors[0].is_serious()
    for secret in settings.AUDIT_KEYS.values():
        assert secret.hex() not in errors[0].msg
        assert base64.b64encode(secret).decode() not in errors[0].msg
    assert DEMO_AUDIT_KEY.decode() not in errors[0].msg

    settings.AUDIT_KEYS = {"good": strong}
    assert [m for m in run_checks(include_deployment_checks=True) if m.id == "certadmin.E004"] == []


def _boot(*args: str, production: bool, keys: str, var_dir: Path) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALIBABA_CLOUD_", "CERTADMIN_", "DJANGO_"))
    }
    env = {
        **clean,
        "CERTADMIN_AUDIT_KEYS": keys,
        "CERTADMIN_AUDIT_KEY_ID": "active",
        "CERTADMIN_VAR_DIR": str(var_dir),
    }
    if production:
        env |= {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIproductionExample",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "not-a-real-secret",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "certadmin.example.com",
        }
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


WEAK_CONFIGURATION = ",".join(
    [
        "active:" + secrets.token_hex(32),
        "copy:" + base64.b64encode(DEMO_AUDIT_KEY).decode(),
        "zeros:" + "00" * 32,
        "aaaa:" + base64.b64encode(b"a" * 32).decode(),
        "text:" + b"our production audit key for 2026".hex(),
    ]
)


@pytest.mark.parametrize(
    "command", [("-c", "import certadmin.wsgi"), ("manage.py", "check", "--deploy")]
)
def test_production_refuses_to_boot_with_a_weak_key_even_when_it_is_not_the_active_one(
    command, tmp_path
):
    result = _boot(*command, production=True, keys=WEAK_CONFIGURATION, var_dir=tmp_path)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    for kid in ("copy", "zeros", "aaaa", "text"):
        assert f"audit key {kid!r}" in result.stderr
    assert "audit key 'active'" not in result.stderr
    assert "openssl rand -hex 32" in result.stderr
    for part in WEAK_CONFIGURATION.split(","):
        assert part.partition(":")[2] not in result.stderr
    assert "our production audit key" not in result.stderr


def test_the_demo_accepts_a_weak_key(tmp_path):
    result = _boot(
        "-c",
        "import certadmin.wsgi; print('started')",
        production=False,
        keys="active:" + "00" * 32,
        var_dir=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("started")
