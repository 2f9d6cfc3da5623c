"""Audit events cannot be changed or removed: not by the model, the queryset, the admin or SQL."""

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from certadmin.audit.models import AuditEvent, AuditImmutableError

from .factories import make_event, make_events

pytestmark = pytest.mark.django_db


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
    for model_admin in (admin.site._registry[AuditEvent],):
        assert model_admin.has_view_permission(request)
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
        assert model_admin.get_actions(request) == {}
