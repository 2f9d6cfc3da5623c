"""``manage.py audit_redact EVENT_ID FIELD --by SUPERUSER --reason TEXT``: redact (blank) the
reason or CertSN of one audit event, as the named superuser; the redaction is itself an event."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from certadmin.audit.models import REDACTABLE_FIELDS
from certadmin.audit.services import (
    AuditRedactionError,
    AuditWriteError,
    RequestContext,
    audit_field_redact,
)


class Command(BaseCommand):
    help = (
        "Redact one text (reason or cert_sn) of one audit event of hash version 4. The chain "
        "still verifies; the redaction is recorded as an event with its own reason."
    )

    def add_arguments(self, parser):
        parser.add_argument("event_id", type=int, help="The event's row number.")
        parser.add_argument("field", choices=REDACTABLE_FIELDS, help="The text to redact.")
        parser.add_argument(
            "--by", required=True, metavar="USERNAME", help="The superuser who redacts."
        )
        parser.add_argument(
            "--reason", required=True, help="Why (recorded in the redaction event)."
        )

    def handle(self, **options):
        user = _user_named(options["by"])
        if user is None:
            raise CommandError(f"There is no user {options['by']!r}.")
        try:
            redaction = audit_field_redact(
                actor=user,
                event_id=options["event_id"],
                field=options["field"],
                reason=options["reason"],
                context=RequestContext(ip_address=None, user_agent="manage.py audit_redact"),
            )
        except AuditRedactionError as error:
            raise CommandError(str(error)) from None
        except AuditWriteError as error:
            raise CommandError(f"Nothing was redacted: {error}.") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{options['field']} of event {options['event_id']} redacted by event "
                f"{redaction.pk}"
            )
        )


def _user_named(username: str):
    model = get_user_model()
    return model._default_manager.filter(**{model.USERNAME_FIELD: username}).first()
