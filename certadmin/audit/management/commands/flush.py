"""Django's ``flush``, taught that the audit table refuses deletes.

The append-only triggers (see ``certadmin.audit.append_only``) make a plain flush fail; on
PostgreSQL even an empty audit table refuses ``TRUNCATE``, so the triggers are lifted for the
flush's own transaction. A flush that would erase audit events or verification runs is refused
unless the operator says so with ``--erase-audit-trail`` or the ``AUDIT_FLUSH_ALLOWED`` setting
is on: the test configuration turns it on, because test runners flush between transactional
tests and cannot pass an option.
"""

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands import flush
from django.db import connections

from certadmin.audit.append_only import TABLE, triggers_lifted
from certadmin.audit.models import AuditEvent, ChainVerification


class Command(flush.Command):
    help = flush.Command.help + " Refuses to erase audit events unless --erase-audit-trail."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--erase-audit-trail",
            action="store_true",
            help="Also erase the append-only audit trail (e.g. a throw-away demo database).",
        )

    def handle(self, **options):
        connection = connections[options["database"]]
        if TABLE not in connection.introspection.table_names():
            return super().handle(**options)
        if (
            not settings.AUDIT_FLUSH_ALLOWED
            and not options["erase_audit_trail"]
            and (
                AuditEvent.objects.using(connection.alias).exists()
                or ChainVerification.objects.using(connection.alias).exists()
            )
        ):
            raise CommandError(
                "The audit trail is append-only and this database holds audit records; "
                "flush refuses to erase them. Pass --erase-audit-trail if you really mean to."
            )
        with triggers_lifted(connection=connection):
            return super().handle(**options)
