"""``manage.py audit_verify``: check the whole audit chain and print its head hash."""

import re

from django.core.management.base import BaseCommand, CommandError

from certadmin.audit.services import chain_verification_record
from certadmin.audit.verification import chain_verify

HEX64 = re.compile(r"[0-9a-f]{64}")


class Command(BaseCommand):
    help = (
        "Verify every audit event's hash and its link to the one before; record the run and "
        "print the head hash to anchor elsewhere."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--expect-head",
            default="",
            metavar="HASH",
            help="A head hash printed by an earlier run: fail unless it is still in the chain.",
        )
        parser.add_argument("--batch-size", type=int, default=2000, help="Rows per query.")

    def handle(self, **options):
        expect_head = options["expect_head"].strip().lower()
        if expect_head and not HEX64.fullmatch(expect_head):
            raise CommandError("--expect-head takes a 64-character hex SHA-256 head hash.")
        report = chain_verify(batch_size=options["batch_size"], expect_head=expect_head)
        chain_verification_record(report=report)
        self.stdout.write(f"rows checked: {report.checked}")
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
        self.stdout.write(f"last good row: {report.head_id if report.head_id else '-'}")
        self.stdout.write(f"last good hash: {report.head_hash or '-'}")
        raise CommandError(f"audit chain BROKEN: {report.message}")
