"""``manage.py cert_findings``: the open findings, for scripts and monitoring.

    manage.py cert_findings [--format text|csv|json] [--account NAME] [--product PK]
                            [--severity critical|high|medium|low|info] [--code CODE] [--run]

Reads the findings the last runs kept (``--run`` runs the checks first, over the products in
scope). Lists the open findings nobody suppressed, the riskiest first. Exit status, for
monitoring (Nagios-like, as ``cert_expiry_report``):

- 0: no open finding of severity medium or above;
- 1: an open finding of severity medium or high;
- 2: an open critical finding;
- 3: the report could not be made (bad arguments, database unreachable…), reason on stderr.

Suppressed findings are counted apart and do not change the exit status.
"""

import csv
import json

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.forms import ValidationError
from django.utils import timezone

from certadmin.devices.forms import clean_product_key
from certadmin.findings.codes import FINDING_CODES
from certadmin.findings.csv_rows import FINDINGS_CSV_HEADER, findings_csv_rows
from certadmin.findings.models import Finding
from certadmin.findings.runs import findings_run
from certadmin.findings.selectors import findings_filtered
from certadmin.findings.severity import SEVERITY_BY_NAME, SEVERITY_NAMES, Severity
from certadmin.web.csv_safety import LineBuffer
from certadmin.web.report_command import EXIT_NO_REPORT, ReportCommand, one_line
from certadmin.web.times import utc_text

EXIT_OK = 0
EXIT_WARNING = 1
EXIT_CRITICAL = 2
FORMATS = ("text", "csv", "json")


class Command(ReportCommand):
    help = (
        "List the open findings, riskiest first. Exit status: 0 nothing medium or worse, "
        "1 medium or high, 2 critical, 3 no report."
    )
    reads = "the findings"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", default="text", choices=FORMATS)
        parser.add_argument("--account", default="", help="Only this API account.")
        parser.add_argument("--product", default="", help="Only this ProductKey.")
        parser.add_argument(
            "--severity",
            default="",
            choices=["", *SEVERITY_BY_NAME],
            help="Only findings of this severity.",
        )
        parser.add_argument("--code", default="", help="Only this finding code.")
        parser.add_argument(
            "--run", action="store_true", help="Run the checks first (over the products in scope)."
        )

    def handle(self, *args, account: str, product: str, severity: str, code: str, **options):
        self.exit_code = EXIT_NO_REPORT
        if account and account not in settings.IOT_ACCOUNTS:
            raise CommandError(
                f"--account: no API account {account[:40]!r}.", returncode=EXIT_NO_REPORT
            )
        if code and code not in FINDING_CODES:
            raise CommandError(
                f"--code: no finding code {code[:48]!r} (see docs/fleet-watch.md).",
                returncode=EXIT_NO_REPORT,
            )
        try:
            product = clean_product_key(product.strip()) if product else ""
        except ValidationError as error:
            raise CommandError(
                one_line(" ".join(error.messages)), returncode=EXIT_NO_REPORT
            ) from None
        if options["run"]:
            findings_run(account=account or None, product_key=product or None)
        now = timezone.now()
        scope = {"now": now, "account": account, "product_key": product, "code": code}
        severities = [SEVERITY_BY_NAME[severity]] if severity else []
        everything = Finding.objects.all()
        findings = list(findings_filtered(everything, severities=severities, **scope))
        suppressed = findings_filtered(
            everything, severities=severities, state="suppressed", **scope
        ).count()
        {"text": self._text, "csv": self._csv, "json": self._json}[options["format"]](
            now=now, findings=findings, suppressed=suppressed
        )
        worst = max((finding.severity for finding in findings), default=0)
        if worst >= Severity.CRITICAL:
            self.exit_code = EXIT_CRITICAL
        elif worst >= Severity.MEDIUM:
            self.exit_code = EXIT_WARNING
        else:
            self.exit_code = EXIT_OK

    def _counts(self, findings) -> dict[str, int]:
        counts = dict.fromkeys(SEVERITY_BY_NAME, 0)
        for finding in findings:
            counts[SEVERITY_NAMES[finding.severity]] += 1
        return counts

    def _json(self, *, now, findings, suppressed) -> None:
        report = {
            "generated_at": utc_text(now),
            "counts": self._counts(findings),
            "suppressed": suppressed,
            "findings": [
                {
                    "severity": SEVERITY_NAMES[finding.severity],
                    "code": finding.code,
                    "account": finding.account,
                    "product_key": finding.product_key,
                    "iot_instance_id": finding.iot_instance_id,
                    "device_name": finding.device_name,
                    "subject": finding.subject,
                    "detail": finding.detail,
                    "online": finding.device_online,
                    "first_seen": utc_text(finding.first_seen),
                    "last_seen": utc_text(finding.last_seen),
                }
                for finding in findings
            ],
        }
        self.stdout.write(json.dumps(report, indent=2))

    def _csv(self, *, now, findings, suppressed) -> None:
        writer = csv.writer(LineBuffer())
        self.stdout.write(writer.writerow(FINDINGS_CSV_HEADER), ending="")
        for row in findings_csv_rows(findings, now=now):
            self.stdout.write(writer.writerow(row), ending="")

    def _text(self, *, now, findings, suppressed) -> None:
        write = self.stdout.write
        write(f"Open findings, {utc_text(now)}")
        for name, count in self._counts(findings).items():
            write(f"  {name:<8}  {count:>7}")
        write(f"  {'suppressed':<8}  {suppressed:>7}")
        if not findings:
            write("No open finding.")
            return
        rows = [("severity", "code", "product", "device", "first seen (UTC)", "detail")]
        rows += [
            (
                SEVERITY_NAMES[finding.severity],
                finding.code,
                finding.product_key or "-",
                finding.device_name or "-",
                utc_text(finding.first_seen),
                one_line(finding.detail),
            )
            for finding in findings
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        write("")
        for row in rows:
            write(
                "  ".join(cell.ljust(size) for cell, size in zip(row, widths, strict=True)).rstrip()
            )
