"""``manage.py audit_export_verify FILE.zip``: check an audit trail export, or a custody report,
against its manifest (exactly its two members, the manifest's Ed25519 signature under a trusted
public key, the CSV's SHA-256 and row count). Needs only ``CERTADMIN_AUDIT_PUBLIC_KEYS``: no
audit chain key, no private key."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from certadmin.audit.evidence_export import export_manifest_verify


class Command(BaseCommand):
    help = (
        "Check that an audit export's events.csv (or a custody report's custody-report.csv) and "
        "manifest.json are as certadmin wrote them, with the public keys in "
        "CERTADMIN_AUDIT_PUBLIC_KEYS."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", help="The ZIP file downloaded from the audit trail.")

    def handle(self, **options):
        try:
            archive = Path(options["archive"]).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {options['archive']}: {exc.strerror}") from None
        ok, why = export_manifest_verify(archive)
        if not ok:
            raise CommandError(f"export NOT verified: {why}")
        self.stdout.write(
            self.style.SUCCESS("export verified: the CSV matches its signed manifest")
        )
