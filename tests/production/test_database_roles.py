"""Two database roles on PostgreSQL: migrations run as the tables' owner, the dashboard and the
workers as a role that may only read and append to the audit trail.

A fresh database owned by a fresh non-superuser owner role is migrated by ``manage.py migrate``
run as that owner, then ``manage.py db_grant_serving_role`` (as the owner) gives a fresh
serving role its rights. Tests then speak to that database as one role or the other: Django's
default connection is swapped for one logged in as the role, so ``audit_record``, the ORM and
the deploy checks run as they would in a serving process."""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import StringIO

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.core import checks
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connections

from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.services import (
    RequestContext,
    audit_field_redact,
    audit_record,
    chain_verification_record,
)
from certadmin.audit.verification import chain_verify
from certadmin.devices.models import CertificateRecord
from certadmin.iot.identity import DeviceRef
from certadmin.jobs.models import Job, JobKind, JobState
from certadmin.jobs.tasks import job_work
from certadmin.ops.checks import database_serving_role_check
from tests.production.conftest import manage

IS_POSTGRESQL = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def postgresql_only(test):
    """Marked as the suite marks PostgreSQL tests, and skipped on SQLite."""
    skip = pytest.mark.skipif(
        not IS_POSTGRESQL, reason="database roles are PostgreSQL's: set DATABASE_URL"
    )
    return pytest.mark.postgres(skip(test))


CONTEXT = RequestContext(ip_address="192.0.2.7", user_agent="pytest")
# Every table of the audit app, by Django's registry: whatever the app adds is tested too.
AUDIT_TABLES = sorted(
    model._meta.db_table
    for model in apps.get_app_config("audit").get_models(include_auto_created=True)
    # The name lookup is counted up by audit_record (UPDATE granted), never deleted.
    if model._meta.db_table != "audit_auditname"
)
# What the serving role must not do to a trail table; {table} is filled in.
FORBIDDEN = {
    "update": "UPDATE {table} SET id = id",
    "delete": "DELETE FROM {table}",
    "truncate": "TRUNCATE {table}",
    "disable trigger": "ALTER TABLE {table} DISABLE TRIGGER USER",
    "drop trigger": "DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
    "rename": "ALTER TABLE {table} RENAME TO {table}_gone",
    "drop": "DROP TABLE {table}",
    "setval": "SELECT setval(pg_get_serial_sequence('{table}', 'id'), 1)",
    "add trigger": "CREATE TRIGGER {table}_mine BEFORE INSERT ON {table} "
    "FOR EACH ROW EXECUTE FUNCTION audit_auditevent_refuse()",
}


@dataclass(frozen=True)
class Role:
    name: str
    password: str


@dataclass(frozen=True)
class SplitDatabase:
    name: str
    owner: Role
    serving: Role
    admin: Role  # the suite's own role, a superuser


def _url(*, role: Role, database: str) -> str:
    base = connections["default"].settings_dict
    return (
        f"postgres://{role.name}:{role.password}@{base['HOST'] or 'localhost'}"
        f":{base['PORT'] or 5432}/{database}"
    )


def _admin_execute(*statements: str) -> None:
    """Run statements as the suite's superuser on the maintenance database (autocommit)."""
    import psycopg

    base = connections["default"].settings_dict
    with psycopg.connect(
        host=base["HOST"] or "localhost",
        port=base["PORT"] or 5432,
        user=base["USER"],
        password=base["PASSWORD"],
        dbname="postgres",
        autocommit=True,
    ) as admin:
        for statement in statements:
            admin.execute(statement)


@pytest.fixture(scope="module")
def split(django_db_blocker) -> Iterator[SplitDatabase]:
    if not IS_POSTGRESQL:
        pytest.skip("database roles are PostgreSQL's: set DATABASE_URL")
    suffix = secrets.token_hex(4)
    owner = Role(f"certadmin_owner_{suffix}", secrets.token_hex(16))
    serving = Role(f"certadmin_serving_{suffix}", secrets.token_hex(16))
    base = connections["default"].settings_dict
    split = SplitDatabase(
        name=f"certadmin_roles_{suffix}",
        owner=owner,
        serving=serving,
        admin=Role(base["USER"], base["PASSWORD"]),
    )
    _admin_execute(
        f"CREATE ROLE {owner.name} LOGIN PASSWORD '{owner.password}'",
        f"CREATE ROLE {serving.name} LOGIN PASSWORD '{serving.password}'",
        f"CREATE DATABASE {split.name} OWNER {owner.name}",
    )
    try:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ALIBABA_CLOUD_", "CERTADMIN_", "DJANGO_"))
            and k not in ("DATABASE_URL", "REDIS_URL")
        }
        env["DATABASE_URL"] = _url(role=owner, database=split.name)
        # What `make serve` does with CERTADMIN_MIGRATE_DATABASE_URL set.
        manage("migrate", "--noinput", "-v", "0", env=env)
        manage("db_grant_serving_role", serving.name, "-v", "0", env=env)
        with django_db_blocker.unblock():
            yield split
    finally:
        _admin_execute(
            f"DROP DATABASE IF EXISTS {split.name} WITH (FORCE)",
            f"DROP ROLE IF EXISTS {serving.name}",
            f"DROP ROLE IF EXISTS {owner.name}",
        )


@contextmanager
def connected_as(split: SplitDatabase, role: Role) -> Iterator[None]:
    """Django's default connection, logged in as ``role`` on the split database."""
    original = connections["default"]
    wrapper = original.__class__(
        {
            **original.settings_dict,
            "NAME": split.name,
            "USER": role.name,
            "PASSWORD": role.password,
            "CONN_MAX_AGE": 0,
        },
        alias="default",
    )
    connections["default"] = wrapper
    try:
        yield
    finally:
        wrapper.close()
        connections["default"] = original


def _execute(statement: str) -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute(statement)


def _role_warnings() -> list[checks.CheckMessage]:
    """The deploy checks' warnings about the database role (as `check --deploy` runs them)."""
    return [
        message
        for message in checks.run_checks(include_deployment_checks=True)
        if message.id == "certadmin.W011"
    ]


@postgresql_only
def test_the_serving_role_appends_to_the_trail_and_the_chain_verifies(split):
    with connected_as(split, split.serving):
        before = AuditEvent.objects.count()
        event = audit_record(
            action=AuditAction.KEY_REVEAL,
            outcome=AuditOutcome.SUCCESS,
            actor=None,
            context=CONTEXT,
            device=DeviceRef("a1Roles0001", "gateway-01"),
            reason="Ticket OPS-11: two database roles",
        )
        report = chain_verify(checkpoint_dir="")
        chain_verification_record(report=report)
        assert AuditEvent.objects.count() == before + 2  # the reveal and the verification
        assert AuditEvent.objects.filter(pk=event.pk, device_name="gateway-01").exists()
    assert report.ok, report.problem
    assert report.head_id == event.pk


@postgresql_only
def test_the_serving_role_redacts_a_text_and_may_change_nothing_else(split):
    superuser = User(pk=1, username="root-redactor", is_superuser=True)
    with connected_as(split, split.serving):
        event = audit_record(
            action=AuditAction.KEY_REVEAL,
            outcome=AuditOutcome.SUCCESS,
            actor=None,
            context=CONTEXT,
            device=DeviceRef("a1Roles0001", "gateway-02"),
            reason="Ticket OPS-12: a reason that has to go",
        )
        audit_field_redact(
            actor=superuser,
            event_id=event.pk,
            field="reason",
            reason="Ticket OPS-13: personal data in a reason",
            context=CONTEXT,
        )
        assert AuditEvent.objects.get(pk=event.pk).reason == ""
        report = chain_verify(checkpoint_dir="")
        # The column grant covers the redactable texts only: another column is still refused
        # by the privilege, before any trigger.
        with pytest.raises(DatabaseError, match=r"permission denied"):
            _execute("UPDATE audit_auditevent SET detail = 'x' WHERE id > 0")
    assert report.ok, report.problem


@postgresql_only
@pytest.mark.parametrize("table", AUDIT_TABLES)
@pytest.mark.parametrize("what", FORBIDDEN)
def test_the_serving_role_cannot_change_or_remove_the_trail(split, table, what):
    with connected_as(split, split.serving):
        # The privilege refuses, not the append-only triggers ("append-only" would be theirs).
        with pytest.raises(DatabaseError, match=r"permission denied|must be owner"):
            _execute(FORBIDDEN[what].format(table=table))
        assert table in connections["default"].introspection.table_names()


@postgresql_only
def test_the_serving_role_keeps_ordinary_writes(split):
    with connected_as(split, split.serving):
        session = SessionStore()
        session["seen"] = "gateway-01"
        session.create()
        session["seen"] = "gateway-02"
        session.save()
        assert SessionStore(session_key=session.session_key).load() == {"seen": "gateway-02"}
        session.delete()

        job = Job.objects.create(kind=JobKind.choices[0][0], product_key="a1Roles0001")
        job_work.enqueue(job.pk)  # a django_tasks_db row
        Job.objects.filter(pk=job.pk).update(state=JobState.CANCELLED)
        assert Job.objects.get(pk=job.pk).state == JobState.CANCELLED
        job.delete()

        record = CertificateRecord.objects.create(product_key="a1Roles0001", device_name="gw-1")
        CertificateRecord.objects.filter(pk=record.pk).update(cert_sn="12345")
        assert CertificateRecord.objects.get(pk=record.pk).cert_sn == "12345"
        record.delete()


@postgresql_only
def test_the_deploy_check_warns_when_serving_as_the_owner_and_not_after_the_split(split):
    with connected_as(split, split.owner):
        (warning,) = _role_warnings()
    assert split.owner.name in warning.msg
    assert all(table in warning.msg for table in AUDIT_TABLES)
    assert "owns" in warning.msg
    assert split.owner.password not in f"{warning.msg} {warning.hint}"
    with connected_as(split, split.admin):
        (warning,) = _role_warnings()
    assert "superuser" in warning.msg
    with connected_as(split, split.serving):
        assert _role_warnings() == []


@postgresql_only
def test_the_grant_takes_back_rights_given_by_hand_and_the_check_names_them(split):
    table = AUDIT_TABLES[-1]
    with connected_as(split, split.owner):
        _execute(f"GRANT ALL ON {table} TO {split.serving.name}")
    with connected_as(split, split.admin):
        _execute(f"GRANT {split.owner.name} TO {split.serving.name}")
    try:
        with connected_as(split, split.serving):
            warnings = [str(w.msg) for w in _role_warnings()]
        assert any(f"can act as '{split.owner.name}'" in w for w in warnings), warnings
        # A member of the owner's role is no serving role: the grant refuses it.
        with (
            connected_as(split, split.owner),
            pytest.raises(CommandError, match="owns or can act as the owner"),
        ):
            call_command("db_grant_serving_role", split.serving.name)
        with connected_as(split, split.admin):
            _execute(f"REVOKE {split.owner.name} FROM {split.serving.name}")
        with connected_as(split, split.serving):
            (warning,) = _role_warnings()
        assert table in warning.msg
        assert "UPDATE, DELETE, TRUNCATE, TRIGGER" in warning.msg
    finally:
        with connected_as(split, split.admin):
            _execute(f"REVOKE {split.owner.name} FROM {split.serving.name}")
        with connected_as(split, split.owner):
            call_command("db_grant_serving_role", split.serving.name, stdout=StringIO())
    with connected_as(split, split.serving):
        assert _role_warnings() == []
        with pytest.raises(DatabaseError, match="permission denied"):
            _execute(FORBIDDEN["delete"].format(table=table))


@postgresql_only
def test_the_grant_refuses_a_superuser_an_unknown_role_and_the_owner_itself(split):
    with connected_as(split, split.owner):
        with pytest.raises(CommandError, match="superuser"):
            call_command("db_grant_serving_role", split.admin.name)
        with pytest.raises(CommandError, match="no database role"):
            call_command("db_grant_serving_role", f"{split.serving.name}_nobody")
        with pytest.raises(CommandError, match="this connection logs in as"):
            call_command("db_grant_serving_role", split.owner.name)


@pytest.mark.skipif(IS_POSTGRESQL, reason="SQLite has no roles")
@pytest.mark.django_db
def test_on_sqlite_the_role_check_is_silent_and_the_grant_explains_why_it_cannot():
    assert database_serving_role_check() == []
    with pytest.raises(CommandError, match="need PostgreSQL"):
        call_command("db_grant_serving_role", "certadmin_app")
