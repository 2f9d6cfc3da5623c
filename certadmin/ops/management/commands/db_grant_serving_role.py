"""``manage.py db_grant_serving_role ROLE``: run as the tables' owner after every ``migrate``;
gives the serving role SELECT and INSERT on the audit trail and ordinary writes elsewhere
(docs/deployment.md, "Two database roles"). ``make serve`` runs it when
CERTADMIN_MIGRATE_DATABASE_URL is set."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from certadmin.ops.database_roles import (
    APP_PRIVILEGES,
    AUDIT_PRIVILEGES,
    SEQUENCE_PRIVILEGES,
    ServingRoleRefused,
    serving_role_grant,
)


class Command(BaseCommand):
    help = (
        "As the owner of certadmin's tables (PostgreSQL), grant the serving ROLE exactly what "
        "the dashboard and task workers need: SELECT and INSERT on the audit trail's tables, "
        "SELECT, INSERT, UPDATE and DELETE on the others, USAGE and SELECT on sequences. "
        "Idempotent; run it again after every migrate."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", help="The database role the dashboard and workers log in as.")
        parser.add_argument(
            "--database", default=DEFAULT_DB_ALIAS, help="The connection to grant on (as owner)."
        )

    def handle(self, **options):
        try:
            grant = serving_role_grant(
                connection=connections[options["database"]], role=options["role"]
            )
        except ServingRoleRefused as exc:
            raise CommandError(f"Nothing granted: {exc}.") from None
        self.stdout.write(
            f"{grant.role}: {AUDIT_PRIVILEGES} on {len(grant.audit_tables)} audit tables "
            f"({', '.join(grant.audit_tables)}); {APP_PRIVILEGES} on "
            f"{len(grant.app_tables)} other tables; {SEQUENCE_PRIVILEGES} on sequences "
            f"(schema {grant.schema})."
        )
