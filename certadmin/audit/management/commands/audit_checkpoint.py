"""``manage.py audit_checkpoint``: verify the chain, then write a signed checkpoint of its head.

Run it on a schedule, e.g. hourly from cron on the application host:

    17 * * * *  cd /srv/certadmin && .venv/bin/python manage.py audit_checkpoint --quiet-ok

The checkpoint directory (``CERTADMIN_AUDIT_CHECKPOINT_DIR``) should be one the database's
writers cannot change: a path on another host or an append-only / object-locked bucket mounted
here, copied off the host after each run.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from certadmin.audit.checkpoints import CheckpointError, checkpoint_sign, checkpoint_write
from certadmin.audit.verification import chain_verify


class Command(BaseCommand):
    help = (
        "Verify the audit chain and write a signed checkpoint of its head (hash, row count, "
        "time) to CERTADMIN_AUDIT_CHECKPOINT_DIR. Refuses to sign a broken chain."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoint-dir", default="", help="Overrides CERTADMIN_AUDIT_CHECKPOINT_DIR."
        )
        parser.add_argument("--batch-size", type=int, default=2000, help="Rows per query.")
        parser.add_argument(
            "--quiet-ok", action="store_true", help="Print nothing on success (for cron)."
        )

    def handle(self, **options):
        directory = options["checkpoint_dir"] or settings.AUDIT_CHECKPOINT_DIR
        if not directory:
            raise CommandError("Set CERTADMIN_AUDIT_CHECKPOINT_DIR (or pass --checkpoint-dir).")
        report = chain_verify(batch_size=options["batch_size"], checkpoint_dir=directory)
        if not report.ok:
            raise CommandError(f"audit chain BROKEN, no checkpoint written: {report.message}")
        if report.head_id is None:
            if not options["quiet_ok"]:
                self.stdout.write("The audit trail is empty: nothing to checkpoint.")
            return
        checkpoint = checkpoint_sign(
            head_id=report.head_id,
            head_hash=report.head_hash,
            row_count=report.checked,
            created_at=timezone.now(),
            key_id=settings.AUDIT_KEY_ID,
            key=settings.AUDIT_KEYS[settings.AUDIT_KEY_ID],
        )
        try:
            path = checkpoint_write(checkpoint=checkpoint, directory=Path(directory))
        except (CheckpointError, OSError) as exc:
            raise CommandError(f"checkpoint not written: {exc}") from None
        if not options["quiet_ok"]:
            self.stdout.write(f"checkpoint written: {path}")
            self.stdout.write(f"head row: {report.head_id} rows: {report.checked}")
            self.stdout.write(f"head hash: {report.head_hash}")
