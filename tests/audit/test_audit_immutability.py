"""Audit events and verification runs cannot be changed or removed: not by the model, the
queryset, the admin or SQL (REPLACE and upserts included)."""

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from certadmin.audit.hash_chain import event_hash
from certadmin.audit.models import AuditEvent, AuditImmutableError, ChainVerification
from certadmin.audit.services import chain_verification_record
from certadmin.audit.verification import chain_verify
from tests.support.audit_events import make_event, make_events, tamper

pytestmark = pytest.mark.django_db


def make_run(**overrides) -> ChainVerification:
    """A recorded verification run that found the chain broken."""
    make_events(2)
    tamper(
        "UPDATE audit_auditevent SET detail = 'x' WHERE id = (SELECT min(id) FROM audit_auditevent)"
    )
    return chain_verification_record(report=chain_verify())


def test_a_written_event_cannot_be_saved_again():
    event = make_event()
    event.reason = "rewritten"
    with pytest.raises(AuditImmutableError):
        event.save()
    fetched = AuditEvent.objects.get(pk=event.pk)
    with pytest.raises(AuditImmutableError):
        fetched.save(update_fields=["reason"])
    assert AuditEvent.objects.get(pk=event.pk).reason == "ticket OPS-1: rotate the gateway"


def test_an_event_cannot_be_deleted():
    event = make_event()
    with pytest.raises(AuditImmutableError):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_the_queryset_refuses_update_delete_and_bulk_writes():
    events = make_events(2)
    queryset = AuditEvent.objects.all()
    with pytest.raises(AuditImmutableError):
        queryset.update(reason="x")
    with pytest.raises(AuditImmutableError):
        queryset.delete()
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.filter(pk=events[0].pk).delete()
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.bulk_update(events, ["reason"])
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.bulk_create([AuditEvent()])
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.update_or_create(pk=events[0].pk, defaults={"reason": "x"})
    assert AuditEvent.objects.count() == 2


def _raw(sql: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)


def test_the_database_refuses_a_raw_update():
    make_event()
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("UPDATE audit_auditevent SET reason = 'rewritten'")
    assert AuditEvent.objects.get().reason == "ticket OPS-1: rotate the gateway"


def test_the_database_refuses_a_raw_delete():
    make_event()
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("DELETE FROM audit_auditevent")
    assert AuditEvent.objects.count() == 1


@pytest.mark.postgres
def test_postgresql_refuses_truncate():
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE triggers are PostgreSQL's")
    make_event()
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("TRUNCATE audit_auditevent")
    assert AuditEvent.objects.count() == 1


def test_flush_refuses_to_erase_audit_events_unless_allowed(settings):
    make_event()
    settings.AUDIT_FLUSH_ALLOWED = False
    with pytest.raises(CommandError, match="append-only"):
        call_command("flush", interactive=False, verbosity=0)
    assert AuditEvent.objects.count() == 1


def test_flush_erases_audit_events_when_the_operator_says_so(settings):
    make_event()
    settings.AUDIT_FLUSH_ALLOWED = False
    call_command("flush", interactive=False, verbosity=0, erase_audit_trail=True)
    assert AuditEvent.objects.count() == 0
    make_event()  # the triggers are back: the table is append-only again
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("DELETE FROM audit_auditevent")


# --- Admin ---------------------------------------------------------------------------------------


def test_admin_offers_superusers_no_add_change_or_delete(superuser, client_for):
    event = make_event()
    client = client_for(superuser)
    assert client.get("/admin/audit/auditevent/").status_code == 200
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    change = client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert change.status_code == 200
    assert b'name="_save"' not in change.content
    assert b"<textarea" not in change.content
    assert event.entry_hash.encode() in change.content
    posted = client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"reason": "rewritten"})
    assert posted.status_code == 403
    assert AuditEvent.objects.get().reason == "ticket OPS-1: rotate the gateway"


def test_admin_permissions_are_read_only_even_for_superusers(superuser, rf):
    from django.contrib import admin

    request = rf.get("/admin/")
    request.user = superuser
    for model_admin in (admin.site._registry[AuditEvent], admin.site._registry[ChainVerification]):
        assert model_admin.has_view_permission(request)
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
        assert model_admin.get_actions(request) == {}


def test_admin_offers_superusers_no_way_to_change_a_verification_run(superuser, client_for):
    run = make_run()
    client = client_for(superuser)
    assert client.get("/admin/audit/chainverification/").status_code == 200
    assert client.get("/admin/audit/chainverification/add/").status_code == 403
    assert client.get(f"/admin/audit/chainverification/{run.pk}/delete/").status_code == 403
    posted = client.post(f"/admin/audit/chainverification/{run.pk}/change/", {"ok": "on"})
    assert posted.status_code == 403
    assert not ChainVerification.objects.get().ok


# --- SQLite's REPLACE path and PostgreSQL's upsert ----------------------------


def _columns(model) -> list[str]:
    return [field.column for field in model._meta.fields]


def _forged_copy(event: AuditEvent, **changes) -> tuple[list[str], list]:
    """The columns and values of ``event`` rewritten with ``changes`` and hashed again."""
    forged = AuditEvent.objects.get(pk=event.pk)
    for name, value in changes.items():
        setattr(forged, name, value)
    forged.entry_hash = event_hash(forged)
    columns = _columns(AuditEvent)
    return columns, [getattr(forged, field.attname) for field in AuditEvent._meta.fields]


def _insert(verb: str, table: str, columns: list[str], values: list, suffix: str = "") -> None:
    """Run ``<verb> <table> (columns) VALUES (...) <suffix>`` raw, in its own transaction."""
    marks = ", ".join(["%s"] * len(values))
    sql = f"{verb} {table} ({', '.join(columns)}) VALUES ({marks}) {suffix}"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, values)


def _sqlite_only():
    if connection.vendor != "sqlite":
        pytest.skip("REPLACE is SQLite's conflict clause")


@pytest.mark.parametrize("verb", ["INSERT OR REPLACE INTO", "REPLACE INTO"])
def test_sqlite_refuses_replace_rewriting_a_row_with_its_hash_recomputed(verb):
    _sqlite_only()
    events = make_events(3)
    columns, values = _forged_copy(events[-1], reason="nothing to see")
    with pytest.raises(DatabaseError, match="append-only"):
        _insert(verb, "audit_auditevent", columns, values)
    assert AuditEvent.objects.get(pk=events[-1].pk).reason == "ticket OPS-1: rotate the gateway"
    assert chain_verify().ok


@pytest.mark.parametrize("unique", ["prev_hash", "entry_hash"])
def test_sqlite_refuses_replace_that_evicts_a_row_through_another_unique_column(unique):
    """A new id with a stored prev_hash (or entry_hash) would make REPLACE delete that row."""
    _sqlite_only()
    events = make_events(3)
    columns, values = _forged_copy(events[1], reason="nothing to see")
    values[columns.index("id")] = events[-1].pk + 10
    if unique == "entry_hash":
        values[columns.index("prev_hash")] = "e" * 64
        values[columns.index("entry_hash")] = events[1].entry_hash
    with pytest.raises(DatabaseError, match="append-only"):
        _insert("REPLACE INTO", "audit_auditevent", columns, values)
    assert AuditEvent.objects.count() == 3
    assert chain_verify().ok


def test_sqlite_refuses_an_explicit_id_below_the_head():
    _sqlite_only()
    events = make_events(3)
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])  # leave a gap
    columns, values = _forged_copy(events[0], reason="slipped in", prev_hash=events[0].entry_hash)
    values[columns.index("id")] = events[1].pk
    with pytest.raises(DatabaseError, match="append-only"):
        _insert("INSERT INTO", "audit_auditevent", columns, values)


def test_sqlite_refuses_replace_of_a_verification_run():
    _sqlite_only()
    run = make_run()
    columns = _columns(ChainVerification)
    values = [getattr(run, field.attname) for field in ChainVerification._meta.fields]
    values[columns.index("ok")] = True
    values[columns.index("problem")] = ""
    with pytest.raises(DatabaseError, match="append-only"):
        _insert("INSERT OR REPLACE INTO", "audit_chainverification", columns, values)
    assert not ChainVerification.objects.get().ok


@pytest.mark.postgres
@pytest.mark.parametrize("target", ["id", "prev_hash"])
def test_postgresql_refuses_an_upsert_that_rewrites_a_row(target):
    if connection.vendor != "postgresql":
        pytest.skip("ON CONFLICT DO UPDATE on PostgreSQL")
    events = make_events(2)
    columns, values = _forged_copy(events[-1], reason="nothing to see")
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != target)
    with pytest.raises(DatabaseError, match="append-only"):
        _insert(
            "INSERT INTO",
            "audit_auditevent",
            columns,
            values,
            f"ON CONFLICT ({target}) DO UPDATE SET {updates}",
        )
    assert AuditEvent.objects.get(pk=events[-1].pk).reason == "ticket OPS-1: rotate the gateway"


@pytest.mark.postgres
def test_postgresql_refuses_an_upsert_of_a_verification_run():
    if connection.vendor != "postgresql":
        pytest.skip("ON CONFLICT DO UPDATE on PostgreSQL")
    run = make_run()
    columns = _columns(ChainVerification)
    values = [getattr(run, field.attname) for field in ChainVerification._meta.fields]
    with pytest.raises(DatabaseError, match="append-only"):
        _insert(
            "INSERT INTO",
            "audit_chainverification",
            columns,
            values,
            "ON CONFLICT (id) DO UPDATE SET ok = true, problem = ''",
        )
    assert not ChainVerification.objects.get().ok


# --- The verification history -----------------------------------------------


def test_a_verification_run_cannot_be_changed_or_removed_through_the_orm():
    run = make_run()
    run.ok = True
    with pytest.raises(AuditImmutableError):
        run.save()
    with pytest.raises(AuditImmutableError):
        run.delete()
    runs = ChainVerification.objects.all()
    with pytest.raises(AuditImmutableError):
        runs.update(ok=True)
    with pytest.raises(AuditImmutableError):
        runs.filter(ok=False).delete()
    with pytest.raises(AuditImmutableError):
        ChainVerification.objects.bulk_update([run], ["ok"])
    with pytest.raises(AuditImmutableError):
        ChainVerification.objects.update_or_create(pk=run.pk, defaults={"ok": True})
    assert not ChainVerification.objects.get().ok


def test_the_database_refuses_to_turn_a_failed_run_into_a_passed_one():
    make_run()
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("UPDATE audit_chainverification SET ok = true, problem = ''")
    assert not ChainVerification.objects.get().ok


def test_the_database_refuses_to_delete_failed_runs():
    make_run()
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("DELETE FROM audit_chainverification WHERE ok = false")
    assert ChainVerification.objects.count() == 1


@pytest.mark.postgres
def test_postgresql_refuses_truncating_the_verification_history():
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE triggers are PostgreSQL's")
    make_run()
    # CASCADE: a plain TRUNCATE stops earlier, at the jobs that link to a run (a foreign key).
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("TRUNCATE audit_chainverification CASCADE")
    assert ChainVerification.objects.count() == 1


def test_flush_refuses_to_erase_verification_runs_unless_allowed(settings):
    make_run()
    settings.AUDIT_FLUSH_ALLOWED = False
    with pytest.raises(CommandError, match="append-only"):
        call_command("flush", interactive=False, verbosity=0)
    call_command("flush", interactive=False, verbosity=0, erase_audit_trail=True)
    assert ChainVerification.objects.count() == 0
    make_run()  # the triggers are back on both tables
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("DELETE FROM audit_chainverification")
