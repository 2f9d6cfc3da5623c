"""``manage.py audit_export_verify FILE.zip``: check an audit trail export against its manifest
(the CSV's SHA-256, the manifest's HMAC under the audit key it names)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from certadmin.audit.exports import export_manifest_verify


class Command(BaseCommand):
    help = "Check that an audit export's events.csv and manifest.json are as certadmin wrote them."

    def add_arguments(self, parser):
        parser.add_argument("archive", help="The ZIP file downloaded from the audit trail.")

    def handle(self, **options):
        ok, why = export_manifest_verify(Path(options["archive"]).read_bytes())
        if not ok:
            raise CommandError(f"export NOT verified: {why}")
        self.stdout.write(
            self.style.SUCCESS("export verified: events.csv matches its signed manifest")
        )
