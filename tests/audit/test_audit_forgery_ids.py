"""Ids are the database's own, positive and increasing, and the verifier walks every row
whatever its id: a row the dashboard shows is a row the verifier checks.

The attacker writes to the database as the application's role and holds no audit key."""

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from certadmin.audit.append_only import TABLE, VERIFICATION_TABLE, triggers_lifted
from certadmin.audit.models import AuditEvent, ChainProblem, ChainVerification
from certadmin.audit.verification import chain_verify
from tests.audit.forged_rows import forged_row, id_check_lifted, row_insert, rows_below_one_removed
from tests.support.audit_events import make_event, make_events, tamper

BIGINT_MAX = 2**63 - 1


def _appends_go_on(events: list[AuditEvent]) -> None:
    """An audited action is still recorded, after the head, and the chain is intact."""
    appended = make_event(detail="after the refused insert")
    assert appended.id > events[-1].id
    assert appended.id < 2**40  # numbered as before, not after a forged huge id
    assert AuditEvent.objects.filter(id__lte=0).count() == 0
    assert chain_verify().ok


# --- the database refuses ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("row_id", [-7, 0, -1, -(2**63)])
def test_the_database_refuses_a_raw_insert_with_an_id_below_1(row_id):
    events = make_events(3)
    with pytest.raises(DatabaseError):
        row_insert(forged_row(row_id=row_id))
    assert not AuditEvent.objects.filter(id=row_id).exists()
    _appends_go_on(events)


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["head", "below the head", "next", "far above", "bigint max"])
def test_the_database_refuses_a_raw_insert_that_names_its_id(where):
    events = make_events(3)
    head = events[-1].id
    row_id = {
        "head": head,
        "below the head": events[0].id,
        "next": head + 1,
        "far above": head + 10_000,
        "bigint max": BIGINT_MAX,
    }[where]
    with pytest.raises(DatabaseError, match="append-only"):
        row_insert(forged_row(row_id=row_id))
    assert AuditEvent.objects.count() == 3
    _appends_go_on(events)


@pytest.mark.django_db
def test_the_database_refuses_an_id_in_a_gap_between_stored_rows():
    events = make_events(4)
    tamper(f"DELETE FROM {TABLE} WHERE id = %s", [events[1].id])  # noqa: S608
    with pytest.raises(DatabaseError, match="append-only"):
        row_insert(forged_row(row_id=events[1].id, prev_hash=events[0].entry_hash))
    assert not AuditEvent.objects.filter(id=events[1].id).exists()
    assert make_event().id > events[-1].id


@pytest.mark.django_db
@pytest.mark.parametrize("row_id", [-7, 0, -1])
def test_the_check_constraint_alone_refuses_an_id_below_1(row_id):
    """Even without the triggers (SQLite applies CHECK to its INTEGER PRIMARY KEY, -1 too)."""
    events = make_events(2)
    with pytest.raises(DatabaseError), triggers_lifted(connection=connection):
        row_insert(forged_row(row_id=row_id))
    assert not AuditEvent.objects.filter(id=row_id).exists()
    _appends_go_on(events)


@pytest.mark.django_db
@pytest.mark.parametrize("row_id", [-7, 0, -1])
def test_the_triggers_alone_refuse_an_id_below_1(row_id):
    """Even without the CHECK constraint: on SQLite, -1 is what a BEFORE INSERT trigger sees
    for an id still to be assigned, and the AFTER INSERT trigger sees the id stored."""
    events = make_events(2)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA ignore_check_constraints = ON")
        else:
            cursor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT audit_event_id_positive")
        try:
            with pytest.raises(DatabaseError, match="append-only"):
                row_insert(forged_row(row_id=row_id))
        finally:
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA ignore_check_constraints = OFF")
        # PostgreSQL: the constraint comes back when the test's transaction rolls back.
    assert not AuditEvent.objects.filter(id=row_id).exists()
    assert make_event().id > events[-1].id


@pytest.mark.django_db
@pytest.mark.parametrize("row_id", [-1, 0, 5])
def test_the_database_refuses_a_verification_run_with_a_named_id(row_id):
    make_events(1)
    call_command("audit_verify")
    run = ChainVerification.objects.get()
    row = {field.column: getattr(run, field.attname) for field in ChainVerification._meta.fields}
    row.update(id=row_id if row_id < 1 else run.id + row_id, ok=True)
    with pytest.raises(DatabaseError):
        row_insert(row, table=VERIFICATION_TABLE)
    assert ChainVerification.objects.count() == 1
    call_command("audit_verify")  # runs are still recorded
    assert ChainVerification.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_postgresql_refuses_an_id_drawn_earlier_below_the_head():
    """An id the attacker's session drew from the sequence itself, kept, and used once the
    trail had moved past it."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's sequence")
    import psycopg

    events = make_events(2)
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        autocommit=True,
    ) as attacker:
        sequence = f"pg_get_serial_sequence('{TABLE}', 'id')"
        (drawn,) = attacker.execute(f"SELECT nextval({sequence})").fetchone()
        later = make_events(2)
        assert later[0].id > drawn
        row = forged_row(row_id=drawn)
        marks = ", ".join(["%s"] * len(row))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            attacker.execute(
                f"INSERT INTO {TABLE} ({', '.join(row)}) VALUES ({marks})",  # noqa: S608
                list(row.values()),
            )
    assert not AuditEvent.objects.filter(id=drawn).exists()
    _appends_go_on(events + later)


# --- the triggers are there after migrating --------------------------------------------------


def _triggers() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        return {name for (name,) in cursor.fetchall()}


def _expected_triggers() -> set[str]:
    if connection.vendor == "sqlite":
        names = ("no_update", "no_delete", "no_named_id", "no_id_below")
        replace = {f"{TABLE}_no_replace"}  # the events' other unique columns
    else:
        names = ("no_update_delete", "no_truncate", "no_named_id")
        replace = set()
    return replace | {f"{table}_{name}" for table in (TABLE, VERIFICATION_TABLE) for name in names}


@pytest.mark.django_db
def test_every_trigger_is_installed_by_the_migrations():
    assert _expected_triggers() <= _triggers()


@pytest.mark.django_db(transaction=True)
def test_migrating_to_positive_ids_keeps_the_rows_and_the_triggers():
    """SQLite rebuilds a table to add a CHECK constraint, which drops its triggers: the
    migration installs them again (and again when it is reversed)."""
    events = make_events(3)
    executor = MigrationExecutor(connection)
    executor.migrate([("audit", "0013_checkpoint_action_and_problems")])
    assert _expected_triggers() <= _triggers()
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert _expected_triggers() <= _triggers()
    assert list(AuditEvent.objects.order_by("id").values_list("entry_hash", flat=True)) == [
        event.entry_hash for event in events
    ]
    with pytest.raises(DatabaseError):
        row_insert(forged_row(row_id=-1))
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {TABLE}")  # noqa: S608
    assert chain_verify().ok


# --- a row below 1 that got in anyway is found -----------------------------------------------


@pytest.fixture
def below_one():
    """Insert a row with an id below 1 as the table's owner could (constraint and triggers
    lifted)."""

    def insert(row_id: int, **changes) -> None:
        # Linked to nothing: a row linked to the head would take the next append's place.
        changes.setdefault("prev_hash", "e" * 64)
        with id_check_lifted():
            row_insert(forged_row(row_id=row_id, **changes))

    yield insert
    if connection.vendor == "postgresql":
        rows_below_one_removed()


@pytest.mark.django_db
@pytest.mark.parametrize("row_id", [-7, 0, -1])
def test_a_row_below_1_is_found_and_named(below_one, row_id):
    make_events(3)
    below_one(row_id)
    report = chain_verify()
    assert not report.ok
    assert (report.problem, report.first_broken_id, report.checked) == (
        ChainProblem.ID_NOT_POSITIVE,
        row_id,
        1,
    )
    assert f"Row {row_id} has an id below 1" in report.message
    with pytest.raises(CommandError, match=f"Row {row_id} has an id below 1") as failed:
        call_command("audit_verify")
    assert failed.value.returncode != 0
    assert ChainVerification.objects.get().problem == ChainProblem.ID_NOT_POSITIVE
    with pytest.raises(CommandError, match="no checkpoint written"):
        call_command("audit_checkpoint")
    # The append after it (the run's own event) went through.
    assert AuditEvent.objects.order_by("-id").first().detail.startswith("run ")


@pytest.mark.django_db
def test_a_row_below_1_is_named_as_such_whatever_else_is_wrong_with_it(below_one):
    """An unkeyed row with a right plain hash, linked to nothing: the id is what is named."""
    make_events(2)
    below_one(0, key_id="", prev_hash="f" * 64)
    report = chain_verify()
    assert (report.problem, report.first_broken_id) == (ChainProblem.ID_NOT_POSITIVE, 0)


@pytest.mark.django_db
def test_the_chain_page_names_the_row_below_1_that_the_lists_show(below_one, auditor, client_for):
    events = make_events(2)
    below_one(-7)
    client = client_for(auditor)
    device = reverse("audit:device", args=[events[0].product_key, events[0].device_name])
    for url in (reverse("audit:events"), device):
        assert "mallory" in client.get(url).content.decode()
    with pytest.raises(CommandError):
        call_command("audit_verify")
    html = client.get(reverse("audit:chain")).content.decode()
    assert "Row -7 has an id below 1" in html
