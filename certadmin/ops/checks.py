"""What serving needs and a command-line lookup does not: the web server's secrets.

Settings load with only the AccessKey pair configured, so ``manage.py querydevicecert`` runs as
the aliyun CLI would. These checks are tagged ``deploy``: ``manage.py check --deploy`` reports
them, ``make serve`` runs that before starting anything, and the WSGI application refuses to
start on any error (``serving_configuration_refuse``), so a misconfigured gunicorn fails loudly.
Messages name variables, never their values.
"""

import ipaddress

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from certadmin.audit.keys import audit_keys_weakness

SECRET_KEY_MIN_LENGTH = 50


@checks.register(checks.Tags.security, deploy=True)
def production_serving_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Errors for development values that must not serve production traffic."""
    if settings.DEMO_MODE:
        return []
    errors = []
    secret_key = settings.SECRET_KEY
    if secret_key == settings.DEV_SECRET_KEY or len(secret_key) < SECRET_KEY_MIN_LENGTH:
        errors.append(
            checks.Error(
                "DJANGO_SECRET_KEY must be set (50+ characters) in production.",
                id="certadmin.E001",
            )
        )
    if settings.DEBUG:
        errors.append(checks.Error("DJANGO_DEBUG must be off in production.", id="certadmin.E002"))
    if not settings.ALLOWED_HOSTS:
        errors.append(
            checks.Error("DJANGO_ALLOWED_HOSTS must be set in production.", id="certadmin.E003")
        )
    if not settings.AUDIT_KEYS or "demo" in settings.AUDIT_KEYS:
        errors.append(
            checks.Error(
                "CERTADMIN_AUDIT_KEYS must be set (not the demo key) in production.",
                hint="Key reveals and downloads are audited: without a key they cannot happen.",
                id="certadmin.E004",
            )
        )
    elif weakness := audit_keys_weakness(settings.AUDIT_KEYS):
        errors.append(
            checks.Error(
                f"CERTADMIN_AUDIT_KEYS holds a public or guessable key: {weakness}",
                hint="Anyone who knows an audit key can forge audit rows that verify.",
                id="certadmin.E004",
            )
        )
    for account in settings.IOT_ACCOUNTS.values():
        if not account.endpoint.startswith("https://"):
            # A warning, not a refusal: a staging host may talk to the emulator.
            errors.append(
                checks.Warning(
                    f"The endpoint of API account {account.name!r} is not HTTPS: its signed "
                    "requests and the private keys in the answers travel unencrypted.",
                    hint="Set CERTADMIN_IOT_ENDPOINT or CERTADMIN_ACCOUNT_<NAME>_ENDPOINT "
                    "to an https:// address (or leave it unset for the region's).",
                    id="certadmin.W001",
                )
            )
    for network in settings.METRICS_ALLOW:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            errors.append(
                checks.Error(
                    "CERTADMIN_METRICS_ALLOW must list networks such as 10.0.0.0/8 or 127.0.0.1.",
                    id="certadmin.E005",
                )
            )
            break
    return errors


def serving_configuration_refuse() -> None:
    """Raise ``ImproperlyConfigured`` naming every deploy-check error (none in demo mode)."""
    problems = [
        message
        for message in checks.run_checks(include_deployment_checks=True)
        if message.is_serious() and not message.is_silenced()
    ]
    if problems:
        raise ImproperlyConfigured(
            "certadmin refuses to serve: " + " ".join(str(problem.msg) for problem in problems)
        )
