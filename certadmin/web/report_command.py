"""What the report commands share (``cert_expiry_report``, ``cert_findings``): their exit status
says what they found, 0 up to 2, so anything that keeps them from reporting — a bad argument,
an unreadable database, any other failure — is exit 3 with a one-line message, never
argparse's exit 2 or a traceback's exit 1, which a monitoring script would read as a finding."""

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

EXIT_NO_REPORT = 3


def one_line(text: object) -> str:
    return " ".join(str(text).split())


class ReportCommand(BaseCommand):
    # What the command reads, for the message when the database fails ("the inventory").
    reads = "the inventory"
    # Set by handle(): the exit status of the last report (for callers of call_command).
    exit_code: int = EXIT_NO_REPORT

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def error(message: str) -> None:
            if parser.called_from_command_line:
                parser.print_usage(sys.stderr)
                parser.exit(EXIT_NO_REPORT, f"{parser.prog}: error: {message}\n")
            raise CommandError(f"Error: {message}", returncode=EXIT_NO_REPORT)

        parser.error = error  # type: ignore[method-assign]
        return parser

    def run_from_argv(self, argv: list[str]) -> None:
        super().run_from_argv(argv)
        sys.exit(self.exit_code)

    def execute(self, *args: Any, **options: Any) -> str | None:
        # From the system checks' first connection to the last query.
        try:
            return super().execute(*args, **options)
        except CommandError:
            raise
        except DatabaseError as error:
            raise CommandError(
                one_line(f"{self.reads} could not be read: {type(error).__name__}: {error}"),
                returncode=EXIT_NO_REPORT,
            ) from None
        except Exception as error:
            raise CommandError(
                one_line(f"the report could not be made: {type(error).__name__}: {error}"),
                returncode=EXIT_NO_REPORT,
            ) from error
