"""``manage.py cert_expiry_report``: the inventory's expiries for scripts and monitoring.

    manage.py cert_expiry_report [--within DAYS] [--product-key PK] [--instance ID]
                                 [--format text|csv|json]

Reads the inventory only (no API call): run ``cert_sync`` first for fresh data. Lists the
certificates that have expired, then those that expire within DAYS days (default 30), soonest
first, with the counts of every expiry state (``devices/expiry.py``). "Expire within DAYS days"
is the overview's and the metrics' notion: not expired yet, at most DAYS whole days left
(``expiry_within_q``); the expired ones are listed too, but counted as expired, never as
expiring. Exit status, for monitoring (Nagios-like):

- 0: nothing expired, nothing expires within DAYS;
- 1: something expires within DAYS (nothing expired);
- 2: something has expired;
- 3: the report could not be made (bad arguments, database unreachable…), reason on stderr.

Failed lookups, devices never checked and certificates not issued are in ``counts`` but do not
change the exit status.
"""

import csv
import json
from datetime import datetime

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.forms import ValidationError
from django.utils import timezone

from certadmin.certs.details import expiry_days_left
from certadmin.devices.expiry import (
    STATE_LABELS,
    WITHIN_DAYS_DEFAULT,
    expiry_counts,
    expiry_state_of,
    expiry_state_q,
    expiry_within_q,
)
from certadmin.devices.forms import clean_instance_id, clean_product_key
from certadmin.devices.inventory_csv import INVENTORY_CSV_HEADER, inventory_csv_rows
from certadmin.devices.models import LISTED_Q, CertificateRecord
from certadmin.web.csv_safety import LineBuffer
from certadmin.web.report_command import EXIT_NO_REPORT, ReportCommand, one_line
from certadmin.web.times import utc_text

EXIT_OK = 0
EXIT_EXPIRING = 1
EXIT_EXPIRED = 2
FORMATS = ("text", "csv", "json")
MAX_WITHIN_DAYS = 36_500


class Command(ReportCommand):
    help = (
        "Report the inventory's expired certificates and those that expire within DAYS (not "
        "expired yet, at most DAYS whole days left). Exit status: 0 none, 1 something expires "
        "within DAYS, 2 something has expired, 3 no report."
    )
    reads = "the inventory"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--within",
            type=int,
            default=WITHIN_DAYS_DEFAULT,
            metavar="DAYS",
            help=(
                "Also list certificates that expire within this many days: not expired yet, at "
                f"most DAYS whole days left (default {WITHIN_DAYS_DEFAULT}). Expired ones are "
                "always listed."
            ),
        )
        parser.add_argument("--product-key", default="", help="Only this product.")
        parser.add_argument(
            "--instance",
            default=None,
            help='Only this IotInstanceId ("" for the public instance); default: every instance.',
        )
        parser.add_argument(
            "--account",
            default=None,
            help="Only this API account (CERTADMIN_ACCOUNTS); default: every account.",
        )
        parser.add_argument("--format", default="text", choices=FORMATS)

    def handle(
        self,
        *args,
        within: int,
        product_key: str,
        instance: str | None,
        account: str | None,
        **options,
    ):
        self.exit_code = EXIT_NO_REPORT
        if not 0 <= within <= MAX_WITHIN_DAYS:
            raise CommandError(
                f"--within must be between 0 and {MAX_WITHIN_DAYS} days.",
                returncode=EXIT_NO_REPORT,
            )
        records = CertificateRecord.objects.filter(LISTED_Q)
        if account is not None:
            if account not in settings.IOT_ACCOUNTS:
                raise CommandError(
                    f"--account: no API account {account[:40]!r}.", returncode=EXIT_NO_REPORT
                )
            records = records.filter(account=account)
        try:
            if product_key:
                records = records.filter(product_key=clean_product_key(product_key.strip()))
            if instance is not None:
                records = records.filter(iot_instance_id=clean_instance_id(instance.strip()))
        except ValidationError as error:
            raise CommandError(
                one_line(" ".join(error.messages)), returncode=EXIT_NO_REPORT
            ) from None
        now = timezone.now()
        counts = expiry_counts(records, now=now)
        order = ("not_after", "product_key", "device_name", "iot_instance_id")
        expired = list(records.filter(expiry_state_q("expired", now=now)).order_by(*order))
        expiring = list(records.filter(expiry_within_q(within, now=now)).order_by(*order))
        output = {"text": self._text, "csv": self._csv, "json": self._json}[options["format"]]
        output(now=now, within=within, counts=counts, expired=expired, expiring=expiring)
        if expired:
            self.exit_code = EXIT_EXPIRED
        elif expiring:
            self.exit_code = EXIT_EXPIRING
        else:
            self.exit_code = EXIT_OK

    def _json(self, *, now, within, counts, expired, expiring) -> None:
        report = {
            "generated_at": utc_text(now),
            "within_days": within,
            "counts": counts,
            # Not expired yet, at most ``within_days`` days left: ``counts`` has the expired.
            "expiring_within_days": len(expiring),
            "devices": [
                {
                    "account": record.account,
                    "product_key": record.product_key,
                    "device_name": record.device_name,
                    "iot_instance_id": record.iot_instance_id,
                    "not_after": utc_text(record.not_after),
                    "days_left": expiry_days_left(not_after=record.not_after, now=now),
                    "state": expiry_state_of(record, now=now),
                }
                for record in [*expired, *expiring]
            ],
        }
        self.stdout.write(json.dumps(report, indent=2))

    def _csv(self, *, now, within, counts, expired, expiring) -> None:
        writer = csv.writer(LineBuffer())
        self.stdout.write(writer.writerow(INVENTORY_CSV_HEADER), ending="")
        for row in inventory_csv_rows([*expired, *expiring], now=now):
            self.stdout.write(writer.writerow(row), ending="")

    def _text(self, *, now: datetime, within: int, counts, expired, expiring) -> None:
        write = self.stdout.write
        write(f"Certificate expiry report, {utc_text(now)}")
        width = max(len(str(label)) for label in STATE_LABELS.values())
        for state, label in STATE_LABELS.items():
            write(f"  {label!s:<{width}}  {counts[state]:>7}  ({state})")
        write(f"Expire within {within} days (not expired yet): {len(expiring)}")
        write(f"Expired: {len(expired)}")
        devices = [*expired, *expiring]
        if not devices:
            write(f"Nothing expired or expiring within {within} days.")
            return
        write(f"\nExpired, then expiring within {within} days ({len(devices)}):")
        rows = [("not after (UTC)", "days left", "state", "product", "device", "instance")]
        rows += [
            (
                utc_text(record.not_after),
                str(expiry_days_left(not_after=record.not_after, now=now)),
                expiry_state_of(record, now=now),
                record.product_key,
                record.device_name,
                record.iot_instance_id or "-",
            )
            for record in devices
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        for row in rows:
            write(
                "  ".join(cell.ljust(size) for cell, size in zip(row, widths, strict=True)).rstrip()
            )
