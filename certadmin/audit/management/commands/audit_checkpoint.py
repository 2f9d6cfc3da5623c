"""``manage.py audit_checkpoint``: verify the chain, then write a signed checkpoint of its head
and record it in the trail.

Run it on a schedule, e.g. hourly from cron on the application host:

    17 * * * *  cd /srv/certadmin && .venv/bin/python manage.py audit_checkpoint --quiet-ok

The checkpoint directory (``CERTADMIN_AUDIT_CHECKPOINT_DIR``) should be one the database's
writers cannot change: a path on another host or an append-only / object-locked bucket mounted
here, copied off the host after each run. The checkpoint is signed with
``CERTADMIN_AUDIT_SIGNING_KEY`` (Ed25519): verifiers need only its public key.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from certadmin.audit.checkpoints import CheckpointError, checkpoint_sign, checkpoint_write
from certadmin.audit.models import ChainProblem
from certadmin.audit.services import (
    AuditWriteError,
    chain_checkpoint_record,
    chain_verification_record,
)
from certadmin.audit.verification import chain_verify


class Command(BaseCommand):
    help = (
        "Verify the audit chain, write a signed checkpoint of its head (hash, row count, "
        "time) to CERTADMIN_AUDIT_CHECKPOINT_DIR and record it in the trail. Refuses to sign a "
        "broken chain."
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
        signing_key = settings.AUDIT_SIGNING_KEY
        if signing_key is None:
            raise CommandError(
                "Set CERTADMIN_AUDIT_SIGNING_KEY: checkpoints are signed with it "
                "(`manage.py audit_signing_keygen` makes a key pair)."
            )
        report = chain_verify(batch_size=options["batch_size"], checkpoint_dir=directory)
        # An overdue checkpoint is the one finding a new checkpoint mends: it is kept in the
        # verification history (and the command fails, so cron reports it), and the
        # checkpoint is written all the same, or the trail would never pass again.
        overdue = report.problem == ChainProblem.CHECKPOINT_OVERDUE
        if not report.ok and not overdue:
            raise CommandError(f"audit chain BROKEN, no checkpoint written: {report.message}")
        if overdue:
            chain_verification_record(report=report)
        if report.head_id is None:
            if not options["quiet_ok"]:
                self.stdout.write("The audit trail is empty: nothing to checkpoint.")
            return
        checkpoint = checkpoint_sign(
            head_id=report.head_id,
            head_hash=report.head_hash,
            row_count=report.checked,
            created_at=timezone.now(),
            key=signing_key,
        )
        try:
            path = checkpoint_write(checkpoint=checkpoint, directory=Path(directory))
        except (CheckpointError, OSError) as exc:
            raise CommandError(f"checkpoint not written: {exc}") from None
        try:
            chain_checkpoint_record(checkpoint=checkpoint)
        except AuditWriteError as exc:
            # The file alone is still a valid checkpoint; only its record in the trail is missing.
            raise CommandError(f"checkpoint {path.name} written but not recorded: {exc}") from None
        if overdue:
            raise CommandError(f"checkpoint written: {path}, but it was overdue: {report.message}")
        if not options["quiet_ok"]:
            self.stdout.write(f"checkpoint written: {path}")
            self.stdout.write(f"head row: {report.head_id} rows: {report.checked}")
            self.stdout.write(f"head hash: {report.head_hash}")
