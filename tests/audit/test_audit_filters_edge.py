"""Dates at the edge of the calendar, and an export that fails part-way.

Every valid date works as a filter in every time zone; an export whose stream breaks after it
started ends as a broken download over a real HTTP server (gunicorn's own request handling), not
as a clean but short file.
"""

import logging
import socket
import threading
from collections.abc import Iterator

import pytest
import requests
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections

from certadmin.audit import evidence_export as audit_exports
from tests.support.audit_events import export_unpacked, make_events, tamper

# East and west of UTC: midnight of 0001-01-01 in Shanghai is before the first UTC instant.
EDGE_TIME_ZONES = ["Asia/Shanghai", "America/Los_Angeles"]


@pytest.fixture
def auditor_client(make_user, client_for):
    return client_for(make_user("Auditor"))


@pytest.mark.django_db
@pytest.mark.parametrize("time_zone", EDGE_TIME_ZONES)
@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("date_from=0001-01-01", 3),
        ("date_to=9999-12-31", 3),
        ("date_from=0001-01-01&date_to=9999-12-31", 3),
        ("date_from=9999-12-31", 0),
        ("date_to=0001-01-01", 0),
        ("date_from=0001-01-01&date_to=0001-01-01", 0),
        ("date_from=9999-12-31&date_to=9999-12-31", 0),
    ],
)
def test_the_first_and_last_days_of_the_calendar_filter_the_event_list(
    auditor_client, settings, time_zone, query, shown
):
    settings.TIME_ZONE = time_zone
    make_events(3)
    response = auditor_client.get(f"/audit/?{query}")
    assert response.status_code == 200
    assert len(response.context["events"]) == shown


@pytest.mark.django_db
@pytest.mark.parametrize("time_zone", EDGE_TIME_ZONES)
@pytest.mark.parametrize("query", ["date_from=0001-01-01", "date_to=9999-12-31"])
def test_the_export_with_an_edge_date_holds_every_row(auditor_client, settings, time_zone, query):
    settings.TIME_ZONE = time_zone
    events = make_events(3)
    response = auditor_client.get(f"/audit/export/?{query}")
    assert response.status_code == 200
    rows, manifest = export_unpacked(b"".join(response.streaming_content))
    assert len(rows) == manifest["rows"] == len(events)


@pytest.mark.django_db
def test_a_date_outside_the_calendar_is_a_form_error(auditor_client):
    response = auditor_client.get("/audit/export/?date_from=10000-01-01")
    assert response.status_code == 400
    assert response.context["form"].errors["date_from"]


# --- Over a real HTTP server ---------------------------------------------------------------------


@pytest.fixture
def gunicorn_url(transactional_db) -> Iterator[str]:
    """The project's WSGI application behind gunicorn's own sync-worker request handling.

    Production runs gunicorn; Django's test server ends every streamed body by closing the
    connection, so it cannot tell a client that a stream broke. The worker's ``handle`` is
    gunicorn's real code (parser, chunked writer, error path); only its accept loop is ours, in a
    thread, so the test's database (and an in-memory SQLite one) is shared as LiveServer does.
    """
    from gunicorn.config import Config
    from gunicorn.glogging import Logger
    from gunicorn.workers.sync import SyncWorker

    # gunicorn's Logger adds its default handlers to its loggers: they leave with the fixture,
    # so no later test finds a handler the project's logging never configured.
    gunicorn_loggers = [logging.getLogger(name) for name in ("gunicorn.error", "gunicorn.access")]
    saved_handlers = [list(log.handlers) for log in gunicorn_loggers]
    cfg = Config()
    worker = SyncWorker(0, 0, [], None, 30, cfg, Logger(cfg))
    worker.wsgi = WSGIHandler()
    shared = {
        conn.alias: conn
        for conn in connections.all(initialized_only=True)
        if conn.vendor == "sqlite" and conn.is_in_memory_db()
    }
    for conn in shared.values():
        conn.inc_thread_sharing()
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        for alias, conn in shared.items():
            connections[alias] = conn
        try:
            while not stop.is_set():
                try:
                    client, addr = listener.accept()
                except OSError:
                    return
                if stop.is_set():
                    client.close()
                    return
                worker.handle(listener, client, addr)
        finally:
            for conn in connections.all(initialized_only=True):
                if conn.alias not in shared:
                    conn.close()  # so the test database can be dropped

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        socket.create_connection(listener.getsockname()).close()  # wake the blocked accept()
        thread.join(timeout=5)
        listener.close()
        for conn in shared.values():
            conn.dec_thread_sharing()
        for log, handlers in zip(gunicorn_loggers, saved_handlers, strict=True):
            log.handlers[:] = handlers


def _session(client) -> requests.Session:
    session = requests.Session()
    session.cookies.update({name: morsel.value for name, morsel in client.cookies.items()})
    return session


def _break_row(event_id: int) -> None:
    """Store a time that cannot be read back: reading that row fails, as a corrupt row would.

    PostgreSQL holds years a Python datetime cannot; SQLite holds any text, and a month 13 is
    well-formed enough to be parsed and refused."""
    bad = "10000-01-01 00:00:00+00" if connection.vendor == "postgresql" else "2026-13-01 00:00:00"
    tamper("UPDATE audit_auditevent SET created_at = %s WHERE id = %s", [bad, event_id])


def test_an_edge_date_export_is_complete_over_http(gunicorn_url, auditor_client):
    events = make_events(3)
    response = _session(auditor_client).get(
        f"{gunicorn_url}/audit/export/?date_from=0001-01-01", timeout=30
    )
    assert response.status_code == 200
    rows, manifest = export_unpacked(response.content)
    assert len(rows) == manifest["rows"] == len(events)


def test_an_export_that_breaks_part_way_is_a_broken_download(
    gunicorn_url, auditor_client, monkeypatch
):
    monkeypatch.setattr(audit_exports, "EXPORT_BATCH", 2)
    events = make_events(6)
    _break_row(events[1].id)  # newest first: the third batch fails, after four rows were sent
    response = _session(auditor_client).get(
        f"{gunicorn_url}/audit/export/", stream=True, timeout=30
    )
    assert response.status_code == 200
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        b"".join(response.iter_content(chunk_size=None))


def test_an_export_whose_first_rows_cannot_be_read_is_a_server_error(gunicorn_url, auditor_client):
    events = make_events(2)
    _break_row(events[0].id)
    response = _session(auditor_client).get(f"{gunicorn_url}/audit/export/", timeout=30)
    assert response.status_code == 500
    assert "id," not in response.text
