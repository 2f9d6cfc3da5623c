"""``manage.py audit_verify``: check the whole audit chain (keyed hashes, links, and every signed
checkpoint in CERTADMIN_AUDIT_CHECKPOINT_DIR) and print its head hash.

The rows need the chain's HMAC keys (``CERTADMIN_AUDIT_KEYS``); the checkpoints only the public
signing keys (``CERTADMIN_AUDIT_PUBLIC_KEYS``). With a checkpoint directory, a checkpoint the
trail records that is gone from it, or one overdue (``CERTADMIN_AUDIT_CHECKPOINT_MAX_AGE``),
fails the run."""

import re
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from certadmin.audit.checkpoints import checkpoint_event_parse, checkpoints_read
from certadmin.audit.models import AuditEvent, ChainProblem
from certadmin.audit.services import chain_verification_record
from certadmin.audit.verification import DEFAULT_WORKERS, chain_verify

HEX64 = re.compile(r"[0-9a-f]{64}")


class Command(BaseCommand):
    help = (
        "Verify every audit event's keyed hash and its link to the one before, and the chain "
        "against every signed checkpoint; record the run and print the head hash."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--expect-head",
            default="",
            metavar="HASH",
            help="A head hash printed by an earlier run: fail unless it is still in the chain.",
        )
        parser.add_argument("--batch-size", type=int, default=10_000, help="Rows per query.")
        parser.add_argument(
            "--workers",
            type=int,
            default=DEFAULT_WORKERS,
            help=(
                "Processes that check a large trail side by side "
                f"(default: {DEFAULT_WORKERS}, one per core up to 4; 1: in this process only)."
            ),
        )
        parser.add_argument(
            "--checkpoint-dir", default="", help="Overrides CERTADMIN_AUDIT_CHECKPOINT_DIR."
        )

    def handle(self, **options):
        expect_head = options["expect_head"].strip().lower()
        if expect_head and not HEX64.fullmatch(expect_head):
            raise CommandError("--expect-head takes a 64-character hex SHA-256 head hash.")
        directory = options["checkpoint_dir"] or settings.AUDIT_CHECKPOINT_DIR
        if options["workers"] < 1:
            raise CommandError("--workers takes a whole number of at least 1.")
        report = chain_verify(
            batch_size=options["batch_size"],
            expect_head=expect_head,
            checkpoint_dir=directory,
            workers=options["workers"],
        )
        chain_verification_record(report=report)
        self.stdout.write(f"rows checked: {report.checked}")
        self.stdout.write(f"checkpoints checked: {report.checkpoints}")
        legacy = (
            sum(c.legacy for c in checkpoints_read(directory=Path(directory))[0])
            if directory
            else 0
        )
        if legacy:
            self.stdout.write(
                self.style.WARNING(
                    f"{legacy} of them are version 1 checkpoints, HMAC'd with an audit chain "
                    "key: they still have to match the chain, but anyone holding that key could "
                    "have written them, so they cover no row."
                )
            )
        if report.ok and report.checked and not report.checkpoints:
            self.stdout.write(
                self.style.WARNING(
                    "No signed checkpoint found: removing the newest rows cannot be detected. "
                    "Run `manage.py audit_checkpoint` on a schedule."
                )
            )
        if report.ok:
            self.stdout.write(f"head row: {report.head_id if report.head_id else '-'}")
            self.stdout.write(f"head hash: {report.head_hash or '-'}")
            if expect_head:
                self.stdout.write("expected head: present in the chain")
            self.stdout.write(
                "Anchor this value elsewhere: truncating the newest rows can only be "
                "detected against an anchor you kept."
            )
            self.stdout.write(self.style.SUCCESS("audit chain OK"))
            return
        if report.problem == ChainProblem.CHECKPOINT_ABSENT:
            detail = AuditEvent.objects.filter(id=report.first_broken_id).values_list(
                "detail", flat=True
            )
            recorded = checkpoint_event_parse(detail.first() or "")
            if recorded is not None:
                self.stdout.write(f"missing checkpoint: {Path(directory) / recorded.name}")
        self.stdout.write(f"last good row: {report.head_id if report.head_id else '-'}")
        self.stdout.write(f"last good hash: {report.head_hash or '-'}")
        raise CommandError(f"audit chain BROKEN: {report.message}")
