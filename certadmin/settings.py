"""Django settings for certadmin.

Everything comes from environment variables (docs/deployment.md, "Configuration"). With none
set the project runs the embedded demo: SQLite, the local IoT emulator and its demo AccessKey pair.
Demo mode ends as soon as a real AccessKey ID is configured; from then on the development
defaults (secret key, allowed hosts, debug, the demo audit key) are refused by serving: by
``manage.py check --deploy`` and by the WSGI application itself (certadmin/ops/checks.py), not by
every command. A command-line lookup needs only the AccessKey pair.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from certadmin.iot.accounts import AccountsConfigError, IotAccount, accounts_from_environment

PACKAGE_DIR = Path(__file__).resolve().parent
# templates/, static/ and locale/: next to the package in a checkout (and after `pip install -e
# .`), inside it when installed from a wheel (pyproject.toml puts them there).
BASE_DIR = PACKAGE_DIR if (PACKAGE_DIR / "templates").is_dir() else PACKAGE_DIR.parent


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _env_flag(name: str, default: bool = False) -> bool:
    value = _env(name)
    if not value:
        return default
    return value.lower() in {"1", "true", "yes", "on"}


# The instance's own files (the SQLite database, collected static files, the demo's emulator CA
# and audit checkpoints): var/ of the checkout, or of the working directory when installed.
VAR_DIR = Path(
    _env("CERTADMIN_VAR_DIR")
    or (Path.cwd() / "var" if BASE_DIR == PACKAGE_DIR else BASE_DIR / "var")
)


# --- Alibaba Cloud IoT Platform -------------------------------------------------------------
# The emulator's demo pair: public, documented in docs/, useless against the real cloud.
DEMO_ACCESS_KEY_ID = "LTAIdemoCertadmin0001"
DEMO_ACCESS_KEY_SECRET = "demo-secret-for-the-local-emulator-only"  # noqa: S105
DEMO_ENDPOINT = "http://127.0.0.1:8001"

# A second demo account on the same emulator, to show (and test) several accounts.
DEMO_STAGING_ACCESS_KEY_ID = "LTAIdemoCertadminStg1"
DEMO_STAGING_ACCESS_KEY_SECRET = "demo-staging-secret-for-the-local-emulator-only"  # noqa: S105

DEMO_MODE = not _env("ALIBABA_CLOUD_ACCESS_KEY_ID") and not _env("CERTADMIN_ACCOUNTS")

# The API accounts by name (certadmin/iot/accounts.py): CERTADMIN_ACCOUNTS and its
# CERTADMIN_ACCOUNT_<NAME>_* variables, else the single-account variables as account "default",
# else (demo) two accounts on the emulator.
_DEMO_IOT_ENDPOINT = _env("CERTADMIN_IOT_ENDPOINT") or DEMO_ENDPOINT
_DEMO_JOB_QPS = int(_env("CERTADMIN_JOB_QPS", "8"))
try:
    IOT_ACCOUNTS, IOT_DEFAULT_ACCOUNT = accounts_from_environment(
        os.environ,
        demo={
            "default": IotAccount(
                name="default",
                access_key_id=DEMO_ACCESS_KEY_ID,
                access_key_secret=DEMO_ACCESS_KEY_SECRET,
                endpoint=_DEMO_IOT_ENDPOINT,
                instance_id=_env("CERTADMIN_IOT_INSTANCE_ID"),
                job_qps=_DEMO_JOB_QPS,
                label="default",
            ),
            "staging": IotAccount(
                name="staging",
                access_key_id=DEMO_STAGING_ACCESS_KEY_ID,
                access_key_secret=DEMO_STAGING_ACCESS_KEY_SECRET,
                endpoint=_DEMO_IOT_ENDPOINT,
                job_qps=_DEMO_JOB_QPS,
                label="staging",
            ),
        },
    )
except AccountsConfigError as error:
    raise ImproperlyConfigured(str(error)) from None
# Where X.509 devices connect (mutual TLS); written into downloaded bundles as a hint.
IOT_MQTT_ENDPOINT = _env("CERTADMIN_MQTT_ENDPOINT", "x509.itls.cn-shanghai.aliyuncs.com:1883")
# PEM file of CA certificates that issue device certificates; used to verify chains.
# In demo mode the emulator's CA (written by `manage.py iot_emulator --write-ca`) is used.
IOT_CA_BUNDLE = _env("CERTADMIN_CA_BUNDLE") or (
    str(VAR_DIR / "emulator-ca.pem") if DEMO_MODE else ""
)
# How long a looked-up certificate is served from the inventory before the API is asked again.
INVENTORY_FRESH_SECONDS = int(_env("CERTADMIN_INVENTORY_FRESH_SECONDS", "300"))
# Inventory records last checked longer ago than this are marked stale in device tables.
INVENTORY_STALE_HOURS = int(_env("CERTADMIN_INVENTORY_STALE_HOURS", "24"))
# How long a revealed key stays visible in the page, and how recent a password entry must be.
KEY_REVEAL_VISIBLE_SECONDS = int(_env("CERTADMIN_KEY_VISIBLE_SECONDS", "60"))
REAUTH_MAX_AGE_SECONDS = int(_env("CERTADMIN_REAUTH_SECONDS", "300"))

# The local IoT API emulator is a development and test tool: its app (for `manage.py
# iot_emulator`) is installed in demo mode, or anywhere CERTADMIN_EMULATOR=1 asks for it.
EMULATOR_ENABLED = _env_flag("CERTADMIN_EMULATOR", default=DEMO_MODE)

# --- Django core ----------------------------------------------------------------------------
_DEV_SECRET_KEY = "django-insecure-certadmin-demo-only"  # noqa: S105
SECRET_KEY = _env("DJANGO_SECRET_KEY") or _DEV_SECRET_KEY
DEBUG = _env_flag("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = [h.strip() for h in _env("DJANGO_ALLOWED_HOSTS").split(",") if h.strip()]

if DEMO_MODE:
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]", "testserver"]
# In production the development secret key, DEBUG and empty ALLOWED_HOSTS are refused by the
# deploy checks (certadmin/ops/checks.py) that `make serve` and the WSGI application run.
DEV_SECRET_KEY = _DEV_SECRET_KEY

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "certadmin.accounts",
    "certadmin.devices",
    "certadmin.audit",
    "django_tasks_db",
    "certadmin.jobs",
    "certadmin.schedules",
    "crontask",
    "certadmin.findings",
    "certadmin.notifications",
    "certadmin.custody",
    "certadmin.ops",
]
if EMULATOR_ENABLED:
    INSTALLED_APPS.append("certadmin.emulator")

MIDDLEWARE = [
    # A request id for every log line of the request, then its latency and log line.
    "log_request_id.middleware.RequestIDMiddleware",
    "certadmin.ops.middleware.RequestObservationMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # A body in a charset other than UTF-8 is refused (400) before anything decodes it: the CSRF
    # check is the first to read the body, and the 400 page needs the session for its token.
    "certadmin.http.request_encoding.RequestEncodingMiddleware",
    "certadmin.http.oversize.OversizeRequestMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "certadmin.urls"
WSGI_APPLICATION = "certadmin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "libraries": {
                "timestamps": "certadmin.web.times",
            },
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "certadmin.accounts.context_processors.permissions",
                "certadmin.custody.context_processors.custody_waiting",
            ],
        },
    },
]

# Django's form templates, with each field group written in Python (``web.forms``): templates
# write only Django's spellings (``{{ form }}``, ``{{ field.as_field_group }}``).
FORM_RENDERER = "certadmin.web.forms.FormRenderer"

DATABASES = {
    "default": dj_database_url.parse(
        _env("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'certadmin.sqlite3'}",
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Audit writes take a write lock up front so concurrent appends queue instead of failing.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# `manage.py flush` refuses to erase audit events unless given --erase-audit-trail. Only the test
# configuration turns this on: test runners flush between tests and cannot pass the option.
AUDIT_FLUSH_ALLOWED = False

# --- Audit trail keys -------------------------------------------------------------------------
# The audit chain is sealed with HMAC-SHA-256 under a key that lives here, outside the database
# (see certadmin/audit/hmac_keys.py for the format). Rows carry the id of the key that sealed
# them, so rotation is: add a kid to CERTADMIN_AUDIT_KEYS, point CERTADMIN_AUDIT_KEY_ID at it,
# keep the old kid as long as its rows are in the trail. The demo key is public and refused in
# production.
from certadmin.audit.hmac_keys import DEMO_AUDIT_KEY, audit_keys_parse  # noqa: E402

_DEV_AUDIT_KEYS = "demo:" + DEMO_AUDIT_KEY.hex()
try:
    AUDIT_KEYS = audit_keys_parse(
        _env("CERTADMIN_AUDIT_KEYS") or (_DEV_AUDIT_KEYS if DEMO_MODE else "")
    )
except ValueError as exc:
    raise ImproperlyConfigured(f"CERTADMIN_AUDIT_KEYS: {exc}") from None
AUDIT_KEY_ID = _env("CERTADMIN_AUDIT_KEY_ID") or (
    next(iter(AUDIT_KEYS)) if len(AUDIT_KEYS) == 1 else ""
)
if AUDIT_KEYS and AUDIT_KEY_ID not in AUDIT_KEYS:
    raise ImproperlyConfigured("CERTADMIN_AUDIT_KEY_ID must name one of CERTADMIN_AUDIT_KEYS.")
# A public or guessable key (the demo key under another kid, zeros, a phrase) lets anyone forge
# rows that verify: production refuses to load (the deploy checks say it too).
from certadmin.audit.hmac_keys import audit_keys_weakness  # noqa: E402

if not DEMO_MODE and (_audit_keys_weak := audit_keys_weakness(AUDIT_KEYS)):
    raise ImproperlyConfigured(f"CERTADMIN_AUDIT_KEYS: {_audit_keys_weak}")
# Without keys (production, nothing configured) settings still load, so a command-line lookup
# runs; serving refuses to start (deploy checks) and an audit write fails closed.
# Signed checkpoints of the chain head: `manage.py audit_checkpoint` (run it from cron) writes
# one file per checkpoint here; `audit_verify` checks every one. Put it where the database's
# writers cannot change it. Empty: no checkpoints.
AUDIT_CHECKPOINT_DIR = _env("CERTADMIN_AUDIT_CHECKPOINT_DIR") or (
    str(VAR_DIR / "audit-checkpoints") if DEMO_MODE else ""
)
# Rows sealed without a key (hash version 1, before the chain was keyed) verify only up to this
# id, the last legacy row: configuration, so that whoever can write the database cannot move it.
# Unset: none (a trail begun keyed). Above it, and in a trail with no keyed row at all, an
# unkeyed row is a forgery (a rewrite of the chain without the key).
_unkeyed_up_to = _env("CERTADMIN_AUDIT_UNKEYED_UP_TO")
if _unkeyed_up_to and not (_unkeyed_up_to.isascii() and _unkeyed_up_to.isdecimal()):
    raise ImproperlyConfigured(
        "CERTADMIN_AUDIT_UNKEYED_UP_TO must be the id of the last unkeyed (legacy) audit row, "
        "a whole number such as 4711, or unset when the trail has no unkeyed rows."
    )
AUDIT_UNKEYED_UP_TO = int(_unkeyed_up_to) if _unkeyed_up_to and int(_unkeyed_up_to) else None
# Longest time a row may wait for a checkpoint (`audit_checkpoint` from cron): with a checkpoint
# directory, `audit_verify` fails when an older row is covered by none. Hours; 0 turns it off.
try:
    AUDIT_CHECKPOINT_MAX_AGE = timedelta(
        hours=float(_env("CERTADMIN_AUDIT_CHECKPOINT_MAX_AGE", "26"))
    )
    if AUDIT_CHECKPOINT_MAX_AGE.total_seconds() < 0:
        raise ValueError
except (ValueError, OverflowError):
    raise ImproperlyConfigured(
        "CERTADMIN_AUDIT_CHECKPOINT_MAX_AGE must be a number of hours (0: no limit)."
    ) from None
# Export manifests and checkpoints are signed with an Ed25519 key (certadmin/audit/signing.py):
# the private key only where they are made (the dashboard, audit_checkpoint), the public keys
# wherever they are checked (the signing key's own public half is trusted without listing it).
# The demo signing key is public, like the demo audit key, and refused in production; it is
# not trusted when public keys are configured, so a verifier in demo mode cannot be fooled by it.
from certadmin.audit.signing import audit_public_keys_parse, audit_signing_key_parse  # noqa: E402

DEV_AUDIT_SIGNING_KEY = "demo:" + b"certadmin public demo signer key".hex()
_signing_text = _env("CERTADMIN_AUDIT_SIGNING_KEY")
_public_text = _env("CERTADMIN_AUDIT_PUBLIC_KEYS")
if DEMO_MODE and not _signing_text and not _public_text:
    _signing_text = DEV_AUDIT_SIGNING_KEY
try:
    AUDIT_SIGNING_KEY = audit_signing_key_parse(_signing_text)
except ValueError as exc:
    raise ImproperlyConfigured(f"CERTADMIN_AUDIT_SIGNING_KEY: {exc}") from None
try:
    AUDIT_PUBLIC_KEYS = audit_public_keys_parse(_public_text, signing_key=AUDIT_SIGNING_KEY)
except ValueError as exc:
    raise ImproperlyConfigured(f"CERTADMIN_AUDIT_PUBLIC_KEYS: {exc}") from None
# --- end of audit trail keys ------------------------------------------------------------------

REDIS_URL = _env("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's, with one Redis client per connection pool (not one per operation).
            "BACKEND": "certadmin.ops.redis_cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "certadmin",
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cache"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SESSION_ENGINE = "django.contrib.sessions.backends.db"

# The API quotas' schedule when there is no Redis (and while Redis cannot be reached): small
# files under this directory, locked with flock, shared by every process of this host
# (certadmin/iot/ratelimit.py). It must be on a local filesystem. Processes on several hosts
# can share the quotas only through REDIS_URL (`manage.py check` warns: certadmin.W021).
IOT_RATE_LIMIT_DIR = Path(_env("CERTADMIN_RATE_LIMIT_DIR") or VAR_DIR / "ratelimit")

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "certadmin.accounts.backends.CachedPermissionsBackend",
]
# Each person's permissions kept in the cache between requests (certadmin/accounts/backends.py):
# only when every process shares the cache, so that a permission taken away is gone everywhere.
PERMISSIONS_CACHED = bool(REDIS_URL)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "devices:home"
LOGOUT_REDIRECT_URL = "login"

# Failed-login throttling: lock the username (and, separately, the address) after 5 failures.
AXES_FAILURE_LIMIT = int(_env("CERTADMIN_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_SENSITIVE_PARAMETERS = ["password", "passphrase"]

SESSION_COOKIE_AGE = 8 * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = _env("CERTADMIN_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# The demo serves static files straight from static/ and the apps (WhiteNoise finders);
# production serves the hashed, compressed copies `collectstatic` puts here.
STATIC_ROOT = None if DEMO_MODE else VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEMO_MODE
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEMO_MODE

# --- Background jobs (django.tasks on the django-tasks-db queue; see certadmin/jobs) --------
# Two queues, so that a long sync never holds up a short job someone is waiting for:
# - "sync": product syncs, and batch lookups of more than JOB_INTERACTIVE_MAX_ITEMS devices;
# - "interactive": the short jobs people wait for (batch lookups, chain verifications) and the
#   jobs' watchdogs, at a higher priority, so a worker that takes both takes these first.
# `make run` and `make serve` (and the Procfile) start workers that take only "interactive"
# (CERTADMIN_INTERACTIVE_WORKERS, at least 1) beside workers that take every queue
# (CERTADMIN_TASK_WORKERS): see docs/deployment.md, "Job workers". ("default" is Django's
# queue for any other task; the workers that take every queue run it.)
JOB_QUEUE_SYNC = "sync"
JOB_QUEUE_INTERACTIVE = "interactive"
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", JOB_QUEUE_INTERACTIVE, JOB_QUEUE_SYNC],
    }
}
# A batch lookup of more devices than this is a long job: it queues with the syncs (at the
# jobs' 8 lookups per second, 500 devices take about a minute).
JOB_INTERACTIVE_MAX_ITEMS = int(_env("CERTADMIN_JOB_INTERACTIVE_MAX_ITEMS", "500"))
# Of QueryDeviceCert's 10 QPS per account, what all jobs together may use: the rest stays free
# for people opening certificate pages.
JOB_QPS = int(_env("CERTADMIN_JOB_QPS", "8"))
# How many jobs one person may have running; the rest wait queued.
JOBS_PER_PERSON = int(_env("CERTADMIN_JOBS_PER_PERSON", "2"))
# How many task runs a job is enqueued as: that many workers can work on it at once.
JOB_RUNS = int(_env("CERTADMIN_JOB_RUNS", "2"))
# How many jobs may wait queued: per person, and in all (cron's jobs count in the total only).
# Starting one more is refused with a message, so nobody can fill the workers' queue.
JOBS_QUEUED_PER_PERSON = int(_env("CERTADMIN_JOBS_QUEUED_PER_PERSON", "10"))
JOBS_QUEUED_TOTAL = int(_env("CERTADMIN_JOBS_QUEUED_TOTAL", "200"))
# How long a worker's claim on an item lasts without renewal: after it, a killed worker's
# items are claimed again, and the job's watchdog enqueues a fresh run.
JOB_LEASE_SECONDS = float(_env("CERTADMIN_JOB_LEASE_SECONDS", "60"))
# --- end of background jobs -----------------------------------------------------------------

# --- Watching the fleet: sync schedules, freshness, metrics -------------------------------
# Each product's freshness bound, in days: an incremental sync looks every device up again
# within it (a daily one asks about a seventh of the unchanged devices), and a record not
# re-checked within it is stale (the schedules page, the `certadmin_records_stale` metric and
# the `record.stale` finding; devices/selectors.py `product_recheck_days` is the one rule).
# "7" for every product, or "7|a1BwAGV1234=3|staging:a1Other12345=14": the default, then
# [account:]ProductKey=days for the exceptions.


def _recheck_days_parse(text: str) -> tuple[int, dict[tuple[str, str], int]]:
    default, *entries = [part.strip() for part in (text or "7").split("|")]
    exceptions: dict[tuple[str, str], int] = {}
    try:
        days = int(default)
        for entry in filter(None, entries):
            product, _equals, value = entry.rpartition("=")
            account, _colon, product_key = product.rpartition(":")
            if not product_key.strip():
                raise ValueError(entry)
            exceptions[(account.strip() or IOT_DEFAULT_ACCOUNT, product_key.strip())] = int(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"CERTADMIN_SYNC_RECHECK_DAYS: {text!r} is not days[|[account:]ProductKey=days...]"
        ) from None
    if min([days, *exceptions.values()]) < 1:
        raise ImproperlyConfigured("CERTADMIN_SYNC_RECHECK_DAYS: a bound is at least 1 day")
    return days, exceptions


SYNC_RECHECK_DAYS, SYNC_RECHECK_DAYS_PER_PRODUCT = _recheck_days_parse(
    _env("CERTADMIN_SYNC_RECHECK_DAYS", "7")
)
# Sync schedules set in configuration (certadmin/schedules/cron.py has the format). They win
# over a schedule set in the dashboard for the same product, and the dashboard cannot change
# them.
from zoneinfo import ZoneInfo  # noqa: E402

from certadmin.schedules.cron import sync_schedules_parse  # noqa: E402

try:
    SYNC_SCHEDULES = sync_schedules_parse(
        _env("CERTADMIN_SYNC_SCHEDULES"),
        accounts={name: account.instance_id for name, account in IOT_ACCOUNTS.items()},
        timezone=ZoneInfo(_env("CERTADMIN_TIME_ZONE", "Asia/Shanghai")),
    )
except ValueError as error:
    raise ImproperlyConfigured(f"CERTADMIN_SYNC_SCHEDULES: {error}") from None
# The scheduler (`manage.py crontask`) looks for due schedules every minute; a number of
# seconds here makes it look that often instead (the tests use 1).
SCHEDULER_TICK_SECONDS = float(_env("CERTADMIN_SCHEDULER_TICK_SECONDS", "0"))
# django-crontask: with Redis, one lock lets only one scheduler run across hosts.
CRONTASK = {"REDIS_URL": _env("REDIS_URL") or None}
# Metrics per device (certadmin_certificate_expiry_timestamp_seconds): off by default (one
# series per device), and at most this many, the earliest expiries first.
METRICS_PER_DEVICE = _env_flag("CERTADMIN_METRICS_PER_DEVICE")
METRICS_PER_DEVICE_LIMIT = int(_env("CERTADMIN_METRICS_PER_DEVICE_LIMIT", "1000"))
# --- end of watching the fleet --------------------------------------------------------------
# --- Findings (certadmin/findings; docs/fleet-watch.md) ------------------------------------
# cert.expiring's windows in days: one finding per device, for the tightest window reached.
FINDINGS_EXPIRING_DAYS = sorted(
    {
        int(days)
        for days in _env("CERTADMIN_FINDINGS_EXPIRING_DAYS", "30,14,7,1").split(",")
        if days.strip()
    },
    reverse=True,
)
# ca.expiring: a CA certificate of the bundle expiring within this many days.
FINDINGS_CA_EXPIRING_DAYS = int(_env("CERTADMIN_FINDINGS_CA_EXPIRING_DAYS", "90"))
# cert.generation_stuck: a certificate still being generated (status 0) after this many hours.
FINDINGS_GENERATING_HOURS = float(_env("CERTADMIN_FINDINGS_GENERATING_HOURS", "24"))
# cert.too_old: a certificate issued (notBefore) longer ago than this many days; 0 turns it off.
FINDINGS_MAX_AGE_DAYS = int(_env("CERTADMIN_FINDINGS_MAX_AGE_DAYS", "1825"))
# record.stale: a record not looked up again within its product's SYNC_RECHECK_DAYS (above).
# cert.lint: also report pkilint's WARNING level (FATAL and ERROR always).
FINDINGS_LINT_WARNINGS = _env_flag("CERTADMIN_FINDINGS_LINT_WARNINGS", default=False)
# At most this many certificates not linted before are linted in one run (a few ms each); the
# rest wait for the next run, so a first run over a large inventory stays short.
FINDINGS_LINT_PER_RUN = int(_env("CERTADMIN_FINDINGS_LINT_PER_RUN", "20000"))
# When the daily run over every product starts (crontab, the server's time zone).
FINDINGS_DAILY_CRON = _env("CERTADMIN_FINDINGS_DAILY_CRON", "15 4 * * *")

# --- Notifications (certadmin/notifications; docs/fleet-watch.md) --------------------------
# The dashboard's address as people reach it: messages link to certificate pages with it.
BASE_URL = _env("CERTADMIN_BASE_URL", "http://127.0.0.1:8000" if DEMO_MODE else "").rstrip("/")
# Channels (apprise URLs, which hold tokens) from CERTADMIN_NOTIFY_CHANNEL_<NAME>; the demo adds
# its own inbox. Named *_SECRETS so Django's settings reports hide them.
from certadmin.notifications.configuration import (  # noqa: E402
    DEMO_CHANNEL,
    channels_from_environment,
    demo_inbox_url,
    demo_notify_key,
)

try:
    NOTIFY_CHANNEL_SECRETS = channels_from_environment(os.environ)
except ValueError as error:
    raise ImproperlyConfigured(str(error)) from None
if DEMO_MODE and BASE_URL:
    NOTIFY_CHANNEL_SECRETS.setdefault(
        DEMO_CHANNEL, demo_inbox_url(base_url=BASE_URL, secret_key=SECRET_KEY)
    )
# Fernet keys for the channels stored in the dashboard, comma-separated: the first encrypts,
# every one decrypts (add a new key first to rotate). None: channels come from the environment
# only. The demo derives one from its public secret key.
NOTIFY_KEYS = [key.strip() for key in _env("CERTADMIN_NOTIFY_KEYS").split(",") if key.strip()]
if DEMO_MODE and not NOTIFY_KEYS:
    NOTIFY_KEYS = [demo_notify_key(SECRET_KEY)]
# At most this many messages per route in one dispatch; the rest are announced in one summary.
NOTIFY_MESSAGES_PER_RUN = int(_env("CERTADMIN_NOTIFY_MESSAGES_PER_RUN", "20"))
# The longest one send may take (seconds).
NOTIFY_TIMEOUT_SECONDS = float(_env("CERTADMIN_NOTIFY_TIMEOUT_SECONDS", "20"))
# When each route's daily digest is sent (crontab, the server's time zone).
NOTIFY_DIGEST_CRON = _env("CERTADMIN_NOTIFY_DIGEST_CRON", "0 9 * * *")
# --- Key custody (certadmin/custody; docs/security-model.md#key-custody) -------------------
# How many people must approve a key release, per API account: "*:1", "default:2,staging:1"
# (certadmin/custody/rules.py). Unset: none, a key custodian releases keys alone.
from certadmin.custody.rules import key_approvals_parse  # noqa: E402

try:
    KEY_APPROVALS = key_approvals_parse(_env("CERTADMIN_KEY_APPROVALS"), accounts=set(IOT_ACCOUNTS))
except ValueError as error:
    raise ImproperlyConfigured(f"CERTADMIN_KEY_APPROVALS: {error}") from None
# A request waits this long for its approvals, and an approved one is usable this long after
# the approval that completed it.
KEY_APPROVAL_HOURS = float(_env("CERTADMIN_KEY_APPROVAL_HOURS", "4"))
# A hand-over link works once, within this many minutes of its making.
KEY_HANDOVER_MINUTES = float(_env("CERTADMIN_KEY_HANDOVER_MINUTES", "10"))

# --- Security headers -----------------------------------------------------------------------
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

if not DEMO_MODE:
    SECURE_SSL_REDIRECT = _env_flag("CERTADMIN_SSL_REDIRECT", default=True)
    # Probes and the Prometheus scraper talk to the process directly, often over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Logging: nothing sensitive is ever passed to a logger; request bodies are never logged. --
# To standard error, one line per event: JSON objects (CERTADMIN_LOG_FORMAT=json, the default in
# production) or plain text (the demo's default). Every line carries the request id (a job
# run's: job-<id>); certadmin/ops/logs.py writes the request, platform-call and job lines.
from certadmin.ops.log_format import log_format_from_environment  # noqa: E402

LOG_FORMAT = log_format_from_environment()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    # Every handler takes query strings out of everything a record carries (message, Django's
    # `request` attribute, exception text): no log line, in any format, holds one.
    "handlers": {
        "null": {"class": "logging.NullHandler"},
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "no_query_strings"],
        },
    },
    "root": {"handlers": ["console"], "level": _env("CERTADMIN_LOG_LEVEL", "INFO")},
    "filters": {
        "no_query_strings": {"()": "certadmin.http.access_log.QueryStringRedactingFilter"},
        "request_id": {"()": "log_request_id.filters.RequestIDFilter"},
    },
    "loggers": {
        "urllib3": {"level": "WARNING"},
        # apprise logs the URLs it sends to, and channel URLs hold tokens: none of its lines are
        # kept (certadmin/notifications/channels.py logs each send without the URL).
        "apprise": {"handlers": ["null"], "level": "CRITICAL", "propagate": False},
        "axes": {"level": "WARNING"},
        # The scheduler's tick runs every few seconds in the demo: a line per tick (APScheduler's
        # and the tasks framework's) would bury everything else. Warnings and errors still show;
        # jobs and findings log their own lines.
        "apscheduler": {"level": "WARNING"},
        "django.tasks": {"level": "WARNING"},
        # Django's defaults give these loggers handlers of their own (a console one when DEBUG,
        # mail to ADMINS): replaced, so their lines go through "console" like all others.
        "django": {"handlers": [], "level": "INFO"},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
# django-log-request-id: a fresh id per request (a client cannot choose it), sent back in
# X-Request-ID so a user can quote it; lines outside any request carry "-".
REQUEST_ID_RESPONSE_HEADER = "X-Request-ID"
NO_REQUEST_ID = "-"

# --- Metrics (Prometheus, at /metrics; certadmin/ops/metrics.py) ------------------------------
# A scrape must send "Authorization: Bearer <CERTADMIN_METRICS_TOKEN>" and/or come from one of
# the networks in CERTADMIN_METRICS_ALLOW (comma-separated, e.g. 10.0.0.0/8,127.0.0.1). With
# neither set, production refuses every scrape (the demo answers its own machine).
METRICS_TOKEN = _env("CERTADMIN_METRICS_TOKEN")
METRICS_ALLOW = [net.strip() for net in _env("CERTADMIN_METRICS_ALLOW").split(",") if net.strip()]

# --- Request hardening --------------------------------------------------------------------------
# One time budget, in seconds, for each IoT Platform call a page makes, retries included; a read
# timeout is not retried on a page (the call may have run and spent quota).
IOT_DEADLINE_SECONDS = float(_env("CERTADMIN_IOT_DEADLINE_SECONDS", "8"))
if not IOT_DEADLINE_SECONDS > 0:
    raise ImproperlyConfigured("CERTADMIN_IOT_DEADLINE_SECONDS must be a number of seconds > 0.")
# How many platform calls one person may have in flight at once (certadmin/devices/
# live_lookups.py): beyond it a page is answered 429 at once, so one person cannot hold every
# server thread against a slow platform. Counted in Redis (every process and host) when it is
# configured, else per process.
LIVE_LOOKUPS_PER_USER = int(_env("CERTADMIN_LIVE_LOOKUPS_PER_USER", "3"))
if LIVE_LOOKUPS_PER_USER < 1:
    raise ImproperlyConfigured("CERTADMIN_LIVE_LOOKUPS_PER_USER must be 1 or more.")
# A slot held by a process that died frees itself after this long: longer than the longest live
# lookup, a device-list scan of up to 20 pages, each within the deadline.
LIVE_LOOKUP_LEASE_SECONDS = 25 * IOT_DEADLINE_SECONDS

# Reverse proxies in front of the dashboard that append the client to X-Forwarded-For. With 0
# the header is ignored (anyone can send it). The login lockout and the audit trail's address
# both come from certadmin.http.client_address.
TRUSTED_PROXIES = int(_env("CERTADMIN_TRUSTED_PROXIES", "0"))
if TRUSTED_PROXIES < 0:
    raise ImproperlyConfigured("CERTADMIN_TRUSTED_PROXIES must be 0 or more.")
AXES_CLIENT_IP_CALLABLE = "certadmin.http.client_address.client_address"

# The CSRF secret lives in the session, so a token is only good for the session it was made for.
CSRF_USE_SESSIONS = True
