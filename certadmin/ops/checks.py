"""What serving needs and a command-line lookup does not: the web server's secrets.

Settings load with only the AccessKey pair configured, so ``manage.py querydevicecert`` runs as
the aliyun CLI would. These checks are tagged ``deploy``: ``manage.py check --deploy`` reports
them, ``make serve`` runs that before starting anything, and the WSGI application refuses to
start on any error (``serving_configuration_refuse``), so a misconfigured gunicorn fails loudly.
Messages name variables, never their values.
"""

import ipaddress
import os
from pathlib import Path

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from certadmin.audit.hmac_keys import audit_keys_weakness
from certadmin.audit.signing import audit_signing_key_parse, public_key_bytes
from certadmin.ops.database_roles import serving_role_findings

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


_TWO_ROLES_HINT = (
    "Serve as a role that may only SELECT and INSERT on the trail and run migrations as the "
    'tables\' owner: docs/deployment.md, "Two database roles" (manage.py db_grant_serving_role).'
)


@checks.register(checks.Tags.security, deploy=True)
def database_serving_role_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Warnings when the role certadmin serves as can disable, rename or drop the audit trail
    (superuser, owner, member of the owner's role) or change its rows (UPDATE, DELETE, TRUNCATE,
    TRIGGER on it). PostgreSQL only: SQLite has no roles (its file's permissions are the
    analogue). Names roles and tables, never a password."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        return []
    was_open = connection.connection is not None
    try:
        findings = serving_role_findings(connection=connection)
    except DatabaseError as exc:
        return [
            checks.Warning(
                "Could not ask the database which rights its serving role has on the audit "
                f"trail ({type(exc).__name__}).",
                id="certadmin.W011",
            )
        ]
    finally:
        # Checked at boot by every gunicorn worker: do not keep a connection nobody asked for.
        if not was_open:
            connection.close()
    role = findings.role
    if findings.superuser:
        return [
            checks.Warning(
                f"certadmin serves as the database role {role!r}, a superuser: it can disable "
                "the audit trail's triggers, rewrite, rename or drop the trail.",
                hint=_TWO_ROLES_HINT,
                id="certadmin.W011",
            )
        ]
    warnings = []
    for owner in sorted(set(findings.owned.values())):
        tables = ", ".join(t for t, o in findings.owned.items() if o == owner)
        whose = "owns" if owner == role else f"can act as {owner!r}, the owner of"
        warnings.append(
            checks.Warning(
                f"certadmin serves as the database role {role!r}, which {whose} the audit "
                f"table(s) {tables}: it can disable their triggers, rename or drop them.",
                hint=_TWO_ROLES_HINT,
                id="certadmin.W011",
            )
        )
    for table, privileges in findings.excess.items():
        if table in findings.owned:
            continue
        warnings.append(
            checks.Warning(
                f"certadmin serves as the database role {role!r}, which holds "
                f"{', '.join(privileges)} on the audit table {table}: it should only SELECT "
                "and INSERT there.",
                hint="As the owner, run manage.py db_grant_serving_role " + role + ".",
                id="certadmin.W011",
            )
        )
    return warnings


@checks.register(checks.Tags.security, deploy=True)
def audit_signing_key_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """An error when production has no audit signing key, or the demo's (which is public)."""
    if settings.DEMO_MODE:
        return []
    key = settings.AUDIT_SIGNING_KEY
    demo = audit_signing_key_parse(settings.DEV_AUDIT_SIGNING_KEY)
    if key is None or public_key_bytes(key.public_key) == public_key_bytes(demo.public_key):
        return [
            checks.Error(
                "CERTADMIN_AUDIT_SIGNING_KEY must be set (not the demo key) in production.",
                hint="Audit exports and checkpoints are signed with it: "
                "`manage.py audit_signing_keygen` makes a key pair.",
                id="certadmin.E006",
            )
        ]
    return []


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


@checks.register()
def rate_limit_sharing_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Warnings when the API quotas cannot be shared by every process that calls the platform:
    without Redis they are shared through files on one host only (``IOT_RATE_LIMIT_DIR``), and
    not at all when that directory cannot be written."""
    warnings = []
    directory = Path(settings.IOT_RATE_LIMIT_DIR)
    if not settings.REDIS_URL:
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            usable = os.access(directory, os.W_OK | os.X_OK)
        except OSError:
            usable = False
        if not usable:
            warnings.append(
                checks.Warning(
                    "CERTADMIN_RATE_LIMIT_DIR cannot be written: each process keeps the API "
                    "quotas on its own, so two processes (a task worker and cert_sync --wait, "
                    "two gunicorn workers) can exceed them together.",
                    hint="Make the directory writable by every certadmin process, or set "
                    "REDIS_URL.",
                    id="certadmin.W022",
                )
            )
        if not settings.DEMO_MODE:
            warnings.append(
                checks.Warning(
                    "Without REDIS_URL the API quotas are shared only by the processes of this "
                    "host (through CERTADMIN_RATE_LIMIT_DIR): dashboards or task workers on "
                    "another host would each use the whole quota, and the platform would "
                    "refuse calls (Throttling.User).",
                    hint="Set REDIS_URL when certadmin runs on more than one host.",
                    id="certadmin.W021",
                )
            )
    return warnings
