"""``manage.py audit_signing_keygen [--key-id KID]``: make an Ed25519 key pair for signing audit
exports and checkpoints, printed as the two environment lines that configure it."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from certadmin.audit.signing import signing_key_pair_generate


class Command(BaseCommand):
    help = (
        "Print a new Ed25519 key pair for audit exports and checkpoints as "
        "CERTADMIN_AUDIT_SIGNING_KEY and CERTADMIN_AUDIT_PUBLIC_KEYS lines."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--key-id",
            default="",
            help="The key id of the pair (default: sign-YYYYMMDD, today). A new one to rotate.",
        )

    def handle(self, **options):
        key_id = options["key_id"] or f"sign-{timezone.localdate():%Y%m%d}"
        try:
            private, public = signing_key_pair_generate(key_id=key_id)
        except ValueError as exc:
            raise CommandError(f"--key-id: {exc}") from None
        # The lines on stdout (to redirect into an environment file), the advice on stderr.
        self.stdout.write(f"CERTADMIN_AUDIT_SIGNING_KEY={private}")
        self.stdout.write(f"CERTADMIN_AUDIT_PUBLIC_KEYS={public}")
        self.stderr.write(
            "Set the first line only where exports and checkpoints are made (the dashboard and "
            "audit_checkpoint hosts), and keep it secret. Give the second to every verifier; "
            "when rotating, append it to the public keys already listed there.",
            style_func=lambda text: text,
        )
