"""One person cannot hold every server thread: each platform call a person
waits for takes one of their ``LIVE_LOOKUPS_PER_USER`` slots; beyond them the page is
answered 429 at once, with ``Retry-After``, and every slot is given back however the call
ends. Slots live in Django's cache: run this file with ``REDIS_URL`` for the Redis cache."""

import os
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import ExitStack
from types import SimpleNamespace

import pytest
import requests
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.devices.live_lookups import (
    LIVE_LOOKUPS_BUSY,
    LiveLookupsBusy,
    live_lookup_slot,
)
from certadmin.emulator import DEMO_PRODUCT_KEY
from certadmin.jobs.models import Job
from tests.support.emulator import api_calls
from tests.support.key_material import reauth_now
from tests.support.pages import HTMX_HEADERS

PK = DEMO_PRODUCT_KEY
BUSY_TEXT = "lookups waiting for the IoT Platform"
LATENCY = 2.0


def device_url(name: str) -> str:
    return reverse("devices:device", args=[PK, name])


def slot_keys_held(user) -> list[str]:
    from django.conf import settings

    keys = [f"live-lookup:{user.pk}:{i}" for i in range(settings.LIVE_LOOKUPS_PER_USER)]
    return [key for key in keys if cache.get(key) is not None]


@pytest.fixture
def slots_taken():
    """``slots_taken(user)``: every one of ``user``'s slots held (as by lookups in flight)
    until the test ends."""
    from django.conf import settings

    with ExitStack() as stack:

        def take(user) -> None:
            for _ in range(settings.LIVE_LOOKUPS_PER_USER):
                stack.enter_context(live_lookup_slot(user=user))

        yield take


def _session(user, base_url: str) -> requests.Session:
    client = Client()
    client.force_login(user)
    session = requests.Session()
    session.cookies.update({name: morsel.value for name, morsel in client.cookies.items()})
    # The first page puts the CSRF secret in the session; later pages leave the session as it
    # is (the test database's one SQLite connection cannot take concurrent session writes).
    assert session.get(f"{base_url}/", timeout=30).status_code == 200
    return session


def _timed_get(session: requests.Session, url: str) -> tuple[int, float, requests.Response]:
    started = time.monotonic()
    response = session.get(url, timeout=30)
    return response.status_code, time.monotonic() - started, response


# --- Through a live server: real threads, a slow platform ----------------------------------------


def _certificate_refresh(n: int) -> str:
    return f"{device_url(f'sensor-{n:04d}')}?refresh=1"


def _live_device_list(n: int) -> str:
    # The demo product is not synced in the test database: each page asks QueryDevice.
    return f"{reverse('devices:list')}?product_key={PK}&page={n}"


PAGES = {
    "certificate-refresh": (_certificate_refresh, "QueryDeviceCert"),
    "live-device-list": (_live_device_list, "QueryDevice"),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("page", PAGES)
def test_one_person_beyond_the_cap_is_refused_at_once_while_others_and_healthz_are_served(
    live_server, dashboard_iot, make_user, settings, page
):
    from django.db import connection

    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        # The live server's threads share the test's one in-memory SQLite connection: requests
        # at once break it. test_threads_beyond_the_cap_are_refused_at_once covers SQLite.
        pytest.skip("concurrent requests need a server database (DATABASE_URL=postgres://…)")
    url, action = PAGES[page]
    settings.LIVE_LOOKUPS_PER_USER = 3
    alice, bob = make_user("Viewer"), make_user("Viewer")
    alices, bobs = _session(alice, live_server.url), _session(bob, live_server.url)
    dashboard_iot.set_fault(None, latency=LATENCY)
    dashboard_iot.request_log.clear()
    results: dict[str, list] = {"alice": [], "bob": []}
    lock = threading.Lock()

    def get(who: str, session: requests.Session, path: str) -> None:
        answer = _timed_get(session, f"{live_server.url}{path}")
        with lock:
            results[who].append(answer)

    threads = [
        threading.Thread(target=get, args=("alice", alices, url(n)))
        for n in range(1, settings.LIVE_LOOKUPS_PER_USER + 2)
    ]
    threads.append(threading.Thread(target=get, args=("bob", bobs, url(1))))
    for thread in threads:
        thread.start()
    time.sleep(LATENCY / 4)
    health_status, health_elapsed, _ = _timed_get(requests.Session(), f"{live_server.url}/healthz")
    for thread in threads:
        thread.join(timeout=30)

    assert (health_status, health_elapsed < 1.0) == (200, True)
    statuses = sorted(status for status, _, _ in results["alice"])
    assert statuses == [200, 200, 200, 429]
    [(_, refused_after, refused)] = [r for r in results["alice"] if r[0] == 429]
    assert refused_after < LATENCY / 2  # at once, not after the platform's answer
    assert refused.headers["Retry-After"] == "8"
    assert BUSY_TEXT in refused.text
    assert all(elapsed >= LATENCY for status, elapsed, _ in results["alice"] if status == 200)
    assert [status for status, _, _ in results["bob"]] == [200]
    # Four calls reached the platform: three of Alice's, Bob's.
    assert api_calls(dashboard_iot, action) == 4

    # Every slot came back: Alice can look up again.
    assert slot_keys_held(alice) == []
    dashboard_iot.set_fault(None)
    assert _timed_get(alices, f"{live_server.url}{url(2)}")[0] == 200


def test_threads_beyond_the_cap_are_refused_at_once_and_others_are_not(dashboard_iot, settings):
    from certadmin.devices.services import device_list

    settings.LIVE_LOOKUPS_PER_USER = 3
    alice = SimpleNamespace(pk=990_010, is_authenticated=True)
    bob = SimpleNamespace(pk=990_011, is_authenticated=True)
    dashboard_iot.set_fault(None, latency=LATENCY)
    outcomes: list[tuple[str, str, float]] = []
    lock = threading.Lock()

    def look(who: str, person, page: int) -> None:
        started = time.monotonic()
        try:
            device_list(product_key=PK, page=page, user=person)
            outcome = "listed"
        except LiveLookupsBusy:
            outcome = "busy"
        with lock:
            outcomes.append((who, outcome, time.monotonic() - started))

    threads = [threading.Thread(target=look, args=("alice", alice, n)) for n in range(1, 5)]
    threads.append(threading.Thread(target=look, args=("bob", bob, 1)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted((who, outcome) for who, outcome, _ in outcomes) == [
        ("alice", "busy"),
        ("alice", "listed"),
        ("alice", "listed"),
        ("alice", "listed"),
        ("bob", "listed"),
    ]
    assert all(elapsed < LATENCY / 2 for _, outcome, elapsed in outcomes if outcome == "busy")
    assert api_calls(dashboard_iot, "QueryDevice") == 4
    assert slot_keys_held(alice) == slot_keys_held(bob) == []


# --- Slots come back whatever happens -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["5xx", "drop", "timeout"])
def test_a_failed_or_timed_out_lookup_gives_its_slot_back(
    dashboard_iot, viewer, client_for, settings, fault
):
    settings.LIVE_LOOKUPS_PER_USER = 1
    if fault == "timeout":
        settings.IOT_DEADLINE_SECONDS = 0.5
        dashboard_iot.set_fault(None, latency=5.0)
    else:
        dashboard_iot.set_fault(fault)
    browser = client_for(viewer)

    statuses = [browser.get(device_url("thermo-001") + "?refresh=1").status_code for _ in range(3)]

    assert statuses == [502, 502, 502]
    assert slot_keys_held(viewer) == []
    dashboard_iot.set_fault(None)
    assert browser.get(device_url("thermo-001") + "?refresh=1").status_code == 200


def test_a_slot_is_given_back_when_the_body_raises():
    person = SimpleNamespace(pk=990_001, is_authenticated=True)
    for _ in range(5):
        with pytest.raises(ZeroDivisionError), live_lookup_slot(user=person):
            1 / 0  # noqa: B018
    with live_lookup_slot(user=person):
        pass
    assert slot_keys_held(person) == []


def test_the_cap_is_per_person_and_nobody_takes_no_slot(settings):
    settings.LIVE_LOOKUPS_PER_USER = 2
    alice = SimpleNamespace(pk=990_002, is_authenticated=True)
    bob = SimpleNamespace(pk=990_003, is_authenticated=True)
    with live_lookup_slot(user=alice), live_lookup_slot(user=alice):
        with pytest.raises(LiveLookupsBusy) as busy, live_lookup_slot(user=alice):
            pass
        assert (busy.value.code, busy.value.limit, busy.value.is_throttled) == (
            LIVE_LOOKUPS_BUSY,
            2,
            True,
        )
        with live_lookup_slot(user=bob), live_lookup_slot(user=None):
            pass
    with live_lookup_slot(user=alice):
        pass


def test_a_slot_never_given_back_expires_after_its_lease(settings):
    settings.LIVE_LOOKUPS_PER_USER = 1
    settings.LIVE_LOOKUP_LEASE_SECONDS = 1
    person = SimpleNamespace(pk=990_004, is_authenticated=True)
    # Entered and never left: as in a process killed during its lookup.
    held = live_lookup_slot(user=person)
    held.__enter__()
    with pytest.raises(LiveLookupsBusy), live_lookup_slot(user=person):
        pass
    time.sleep(1.5)
    with live_lookup_slot(user=person):
        pass
    assert held  # kept until here: a context left unreferenced is closed, giving its slot back


def test_an_unreachable_redis_lets_lookups_through_and_says_so(settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    settings.LIVE_LOOKUPS_PER_USER = 1
    person = SimpleNamespace(pk=990_020, is_authenticated=True)

    with live_lookup_slot(user=person), live_lookup_slot(user=person):
        pass

    assert "live lookup slots unavailable (ConnectionError): not capped" in caplog.text


def test_a_slot_held_by_another_process_counts_and_frees_itself_when_that_process_dies(
    settings, tmp_path
):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL): without it each process counts its own slots")
    settings.LIVE_LOOKUPS_PER_USER = 1
    pk = 990_000 + os.getpid() % 1000
    holder = textwrap.dedent(
        f"""
        import os, signal, types, django
        django.setup()
        from certadmin.devices.live_lookups import live_lookup_slot
        with live_lookup_slot(user=types.SimpleNamespace(pk={pk}, is_authenticated=True)):
            print("holding", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "certadmin.settings",
        "CERTADMIN_LIVE_LOOKUPS_PER_USER": "1",
        # A lease of 25 deadlines: 2 s.
        "CERTADMIN_IOT_DEADLINE_SECONDS": "0.08",
    }
    died = subprocess.run(
        [sys.executable, "-c", holder], env=env, capture_output=True, text=True, timeout=60
    )
    assert died.stdout.strip() == "holding", died.stderr
    assert died.returncode == -9

    person = SimpleNamespace(pk=pk, is_authenticated=True)
    with pytest.raises(LiveLookupsBusy), live_lookup_slot(user=person):
        pass
    time.sleep(2.5)
    with live_lookup_slot(user=person):
        pass


# --- Every page that asks the platform for a person ----------------------------------------------


@pytest.mark.django_db
def test_a_certificate_page_beyond_the_cap_asks_nothing_and_says_when_to_come_back(
    dashboard_iot, viewer, client_for, slots_taken
):
    slots_taken(viewer)
    browser = client_for(viewer)

    response = browser.get(device_url("thermo-001") + "?refresh=1")
    partial = browser.get(device_url("thermo-001") + "?refresh=1", headers=HTMX_HEADERS)

    for answer in (response, partial):
        assert answer.status_code == 429
        assert answer["Retry-After"] == "8"
        assert BUSY_TEXT in answer.content.decode()
    assert api_calls(dashboard_iot) == 0


@pytest.mark.django_db
def test_a_page_the_inventory_serves_takes_no_slot(dashboard_iot, viewer, client_for, slots_taken):
    browser = client_for(viewer)
    assert browser.get(device_url("thermo-001")).status_code == 200
    slots_taken(viewer)

    assert browser.get(device_url("thermo-001")).status_code == 200
    assert api_calls(dashboard_iot) == 1


@pytest.mark.django_db
def test_a_live_device_list_beyond_the_cap_is_refused(
    dashboard_iot, viewer, client_for, slots_taken
):
    slots_taken(viewer)

    response = client_for(viewer).get(
        reverse("devices:list"), {"product_key": PK, "name": "thermo"}
    )

    assert response.status_code == 429
    assert response["Retry-After"] == "8"
    assert BUSY_TEXT in response.content.decode()
    assert api_calls(dashboard_iot, "QueryDevice") == 0


@pytest.mark.django_db
def test_a_certificate_download_beyond_the_cap_is_refused(
    dashboard_iot, viewer, client_for, slots_taken
):
    slots_taken(viewer)

    response = client_for(viewer).get(
        reverse("devices:certificate-download", args=[PK, "thermo-001", "pem"])
    )

    assert response.status_code == 429
    assert "Content-Disposition" not in response
    assert BUSY_TEXT in response.content.decode()


@pytest.mark.django_db
def test_a_key_reveal_beyond_the_cap_is_refused_and_recorded_as_failed(
    dashboard_iot, custodian, client_for, slots_taken
):
    browser = client_for(custodian)
    reauth_now(browser)
    slots_taken(custodian)

    response = browser.post(
        reverse("devices:key", args=[PK, "thermo-001"]),
        {"action": "reveal", "reason": "Ticket OPS-4711: replacement gateway"},
    )

    assert response.status_code == 429
    assert response["Retry-After"] == "8"
    body = response.content.decode()
    assert BUSY_TEXT in body
    assert "PRIVATE KEY" not in body
    assert api_calls(dashboard_iot) == 0
    event = AuditEvent.objects.get()
    assert (event.action, event.outcome, event.platform_code) == (
        AuditAction.KEY_REVEAL,
        AuditOutcome.FAILED,
        LIVE_LOOKUPS_BUSY,
    )


@pytest.mark.django_db
def test_starting_a_sync_beyond_the_cap_is_refused(dashboard_iot, viewer, client_for, slots_taken):
    slots_taken(viewer)

    response = client_for(viewer).post(reverse("jobs:product-sync"), {"product_key": PK})

    assert response.status_code == 429
    assert BUSY_TEXT in response.content.decode()
    assert not Job.objects.exists()
