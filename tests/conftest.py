"""Shared configuration and fixtures: the local IoT API emulator over real HTTP.

- The test session lets ``manage.py flush`` erase the audit trail (``AUDIT_FLUSH_ALLOWED``):
  pytest-django flushes the database after every transactional test.

- ``emulator``: the session's emulator (one per test run, demo AccessKey pair), with faults,
  flow-control quotas, the request log, the throttling counts and recorded STS tokens reset
  before and after each test. Devices added with ``add_device`` stay for the session: put
  them on a product of your own (the demo product's device list is checked by the
  emulator's tests).
- ``emulator_session``: the same emulator without the per-test reset.
- ``fresh_emulator``: a new emulator (own CA, own state) for one test.

People and their browsers (every password is ``tests.support.people.ROLE_PASSWORD``):

- ``make_user(role)`` and ``viewer``, ``custodian``, ``auditor``, ``superuser``: a new user each.
- ``client_for(user)``: pytest-django's ``client``, logged in as ``user``.
- ``viewer_client``, ``custodian_client``: a browser of their own (not ``client``), logged in,
  on the dashboard wired to the test emulator (``dashboard_iot``). ``custodian_client`` is not
  re-authenticated: key access asks for the password.
- ``custodian_client_reauthenticated``: ``custodian_client`` after confirming the password just
  now, so key access within the re-authentication window needs none.
- ``a_fresh_minute``: the clock set to the start of the next minute (and running on), for tests
  that read a value cached per minute twice and expect the cache; ``.shift(seconds)`` moves it.

Helpers that are not fixtures live in ``tests/support`` (``from tests.support.<module> import``).
"""

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client

from certadmin.emulator.server import RunningEmulator, start_emulator
from tests.support.iot_accounts import account_on
from tests.support.key_material import reauth_now
from tests.support.people import ROLE_PASSWORD

# The first Redis database of pytest-xdist's workers (gw0 has this one, gw1 and gw2 the next):
# clear of the 0 that a run without xdist uses.
XDIST_REDIS_DB_FIRST = 10


class QuickPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Django's PBKDF2 hasher at one iteration: its hashes carry their iteration count, so a
    server under test running the production hasher still checks them (and upgrades them on
    the first login), while the suite's user creations, logins and re-authentications stop
    costing half a second of CPU each."""

    iterations = 1


def pytest_configure(config: pytest.Config) -> None:
    # pytest-django has configured Django before conftests are configured.
    settings.PASSWORD_HASHERS = [f"{__name__}.QuickPBKDF2PasswordHasher"]
    settings.AUDIT_FLUSH_ALLOWED = True
    # Never the demo's var/audit-checkpoints: a checkpoint a demo run wrote names rows that the
    # test database does not have.
    settings.AUDIT_CHECKPOINT_DIR = tempfile.mkdtemp(prefix="certadmin-test-checkpoints-")
    # The quotas' schedule of this test run (and of the processes its tests start), not the
    # demo's var/ratelimit.
    settings.IOT_RATE_LIMIT_DIR = tempfile.mkdtemp(prefix="certadmin-test-ratelimit-")
    _xdist_worker_redis_own()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, the files holding a slow or browser test first, the order of the
    tests otherwise kept: `make test` hands whole files to its workers in collection order
    (``--no-loadscope-reorder``; pytest-xdist's own order, most tests first, leaves the long
    one-test files for last, where a single one keeps the run going while the other workers
    idle). A run in one process keeps pytest-django's order."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    long_files = {
        item.path
        for item in items
        if item.get_closest_marker("slow") or item.get_closest_marker("browser")
    }
    items.sort(key=lambda item: item.path not in long_files)


def pytest_unconfigure(config: pytest.Config) -> None:
    for directory in (settings.AUDIT_CHECKPOINT_DIR, settings.IOT_RATE_LIMIT_DIR):
        shutil.rmtree(directory, ignore_errors=True)


def _xdist_worker_redis_own() -> None:
    """Under pytest-xdist (`make test` runs three workers) each worker has its own Redis database,
    as pytest-django gives it its own test database: the quotas' schedules, caches and locks
    of one worker's tests are not the other's. The processes a test starts inherit it through
    the environment."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or not settings.REDIS_URL:
        return
    url = urlsplit(settings.REDIS_URL)
    own = urlunsplit(url._replace(path=f"/{XDIST_REDIS_DB_FIRST + int(worker.removeprefix('gw'))}"))
    os.environ["REDIS_URL"] = settings.REDIS_URL = own
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": own}}
    settings.CRONTASK = {**settings.CRONTASK, "REDIS_URL": own}


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the default language: a request with a language cookie leaves its
    language active on the thread (LocaleMiddleware activates it, nothing deactivates it)."""
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def a_fresh_minute() -> Iterator[time_machine.Traveller]:
    """The clock at the start of the next minute, running on: values cached per minute (the
    inventory pages, the custody counts) keep their key for the whole test, which a test that
    began at 59.9 s would not (a second read would miss the cache). The test may move the
    clock on with ``a_fresh_minute.shift(seconds)``."""
    with time_machine.travel((time.time() // 60 + 1) * 60, tick=True) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _custody_counts_forgotten():
    """Every test counts custody anew: the menu's counts are cached per user id and minute, and
    a test's writes roll back (so their forgetting, done on commit, never runs) while the next
    test may get the same user ids."""
    from certadmin.custody.selectors import custody_counts_forget

    custody_counts_forget()


@pytest.fixture(autouse=True)
def _permissions_forgotten():
    """Every test reads permissions anew (when they are kept in the cache, ``PERMISSIONS_CACHED``):
    they are kept per user id, and the next test may get the same user ids."""
    from certadmin.accounts.backends import permissions_forget

    permissions_forget()


def _start() -> RunningEmulator:
    return start_emulator(
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
    )


def _reset(emulator: RunningEmulator) -> None:
    emulator.set_fault(None)
    emulator.reset_quotas()
    emulator.set_listing_rules()
    emulator.reset_rate_limits()
    emulator.request_log.clear()
    emulator.throttled.clear()
    emulator.security_tokens.clear()


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[RunningEmulator]:
    """One emulator for the whole test session."""
    with _start() as running:
        yield running


@pytest.fixture
def emulator(emulator_session: RunningEmulator) -> Iterator[RunningEmulator]:
    """The session's emulator, with no faults, the platform's quotas (full) and listing rules,
    and an empty request log."""
    _reset(emulator_session)
    yield emulator_session
    _reset(emulator_session)


@pytest.fixture
def fresh_emulator() -> Iterator[RunningEmulator]:
    """A new emulator for one test, stopped afterwards."""
    with _start() as running:
        yield running


# --- People and the dashboard wired to the emulator ---------------------------------------------


@pytest.fixture
def make_user(db):
    """Create an active user in a role ("Viewer", "Key custodian", "Auditor", "Fleet manager",
    None for no role, "superuser" for a superuser). Every user's password is ``ROLE_PASSWORD``.

    The role groups are installed again first: a transactional test's flush removes the rows
    the data migration created."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from certadmin.accounts.roles import roles_install

    roles_install(group_model=Group, permission_model=Permission, content_type_model=ContentType)

    created = iter(range(1, 10_000))

    def make(role: str | None, username: str | None = None):
        user_model = get_user_model()
        name = username or f"{(role or 'norole').lower().replace(' ', '-')}-{next(created)}"
        user = user_model.objects.create_user(username=name, password=ROLE_PASSWORD)
        if role == "superuser":
            user.is_staff = user.is_superuser = True
            user.save()
        elif role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def viewer(make_user):
    return make_user("Viewer")


@pytest.fixture
def custodian(make_user):
    return make_user("Key custodian")


@pytest.fixture
def auditor(make_user):
    return make_user("Auditor")


@pytest.fixture
def fleet_manager(make_user):
    return make_user("Fleet manager")


@pytest.fixture
def fleet_manager_client(dashboard_iot, fleet_manager):
    """A browser of its own, logged in as ``fleet_manager``, on the dashboard wired to the
    test emulator."""
    browser = Client()
    browser.force_login(fleet_manager)
    return browser


@pytest.fixture
def superuser(make_user):
    return make_user("superuser")


@pytest.fixture
def client_for(client):
    """``client_for(user)``: Django's test client, logged in as ``user``."""

    def log_in(user):
        client.force_login(user)
        return client

    return log_in


@pytest.fixture
def viewer_client(dashboard_iot, viewer):
    """A browser of its own (not ``client``), logged in as ``viewer``, on the dashboard wired to
    the test emulator."""
    browser = Client()
    browser.force_login(viewer)
    return browser


@pytest.fixture
def custodian_client(dashboard_iot, custodian):
    """A browser of its own, logged in as ``custodian`` but not re-authenticated: key access
    still asks for the password (send ``password=ROLE_PASSWORD``)."""
    browser = Client()
    browser.force_login(custodian)
    return browser


@pytest.fixture
def custodian_client_reauthenticated(custodian_client):
    """``custodian_client`` that has just confirmed the password: key access inside the
    re-authentication window needs no password."""
    reauth_now(custodian_client)
    return custodian_client


@pytest.fixture
def dashboard_iot(emulator, settings, tmp_path):
    """Point the dashboard at the test emulator: its endpoint, demo pair and CA bundle. The
    demo's ``staging`` account points at it too (the emulator serves it: ``staging_iot``)."""
    from django.core.cache import cache

    ca_file = tmp_path / "emulator-ca.pem"
    ca_file.write_text(emulator.ca_certificate_pem, encoding="utf-8")
    settings.IOT_DEFAULT_ACCOUNT = "default"
    settings.IOT_ACCOUNTS = {
        name: account
        for name, account in settings.IOT_ACCOUNTS.items()
        if name in ("default", "staging")
    }
    account_on(
        settings,
        "default",
        endpoint=emulator.url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
    )
    account_on(
        settings,
        "staging",
        endpoint=emulator.url,
        access_key_id=settings.DEMO_STAGING_ACCESS_KEY_ID,
        access_key_secret=settings.DEMO_STAGING_ACCESS_KEY_SECRET,
    )
    settings.IOT_CA_BUNDLE = str(ca_file)
    cache.clear()
    yield emulator
    cache.clear()


@pytest.fixture
def staging_iot(dashboard_iot):
    """The emulator serving the second account (``staging``: its own AccessKey pair, quota
    and products, ``seeded_staging_devices``) besides the first."""
    from django.conf import settings

    from certadmin.emulator.seed import seeded_staging_devices

    dashboard_iot.add_account(
        settings.DEMO_STAGING_ACCESS_KEY_ID,
        settings.DEMO_STAGING_ACCESS_KEY_SECRET,
        devices=seeded_staging_devices(),
    )
    return dashboard_iot


@pytest.fixture
def staging_for_a_group(staging_iot, settings, db):
    """The second account (``staging_iot``) usable only by the members of the group "Staging
    team" (made here, without members)."""
    from django.contrib.auth.models import Group

    Group.objects.get_or_create(name="Staging team")
    account_on(settings, "staging", groups=("Staging team",))
    return staging_iot
