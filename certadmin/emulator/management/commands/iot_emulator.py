"""``manage.py iot_emulator``: serve the local IoT API emulator until SIGINT or SIGTERM."""

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from certadmin.emulator.faults import FAULT_KINDS
from certadmin.emulator.seed import seeded_staging_devices
from certadmin.emulator.server import start_emulator
from certadmin.emulator.store import DevicesFileError


def _rate(value: str) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(value)
    return rate


def _seconds(value: str) -> float:
    seconds = float(value)
    if seconds < 0:
        raise ValueError(value)
    return seconds


class Command(BaseCommand):
    help = (
        "Run the local Alibaba Cloud IoT API emulator (QueryDeviceCert, QueryDevice) with "
        "its seeded demo devices, until interrupted."
    )
    # The emulator must start even while the dashboard itself is misconfigured.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
        parser.add_argument(
            "--port", type=int, default=8001, help="port to bind; 0 picks a free one (8001)"
        )
        parser.add_argument(
            "--access-key-id", default=None, help="AccessKey ID to accept (the demo pair)"
        )
        parser.add_argument(
            "--access-key-secret", default=None, help="its secret (the demo pair's)"
        )
        parser.add_argument(
            "--devices", metavar="FILE", default=None, help="JSON file of extra devices"
        )
        parser.add_argument(
            "--write-ca",
            metavar="PATH",
            default=None,
            help="write the emulator's CA certificate (PEM, public) to PATH on start",
        )
        parser.add_argument(
            "--latency", type=_seconds, default=0.0, metavar="SECONDS", help="delay every answer"
        )
        parser.add_argument("--fault", choices=FAULT_KINDS, default=None, help="inject a fault")
        parser.add_argument(
            "--fault-rate",
            type=_rate,
            default=1.0,
            metavar="0..1",
            help="share of requests that get the fault (1)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        access_key_id = options["access_key_id"] or settings.DEMO_ACCESS_KEY_ID
        if options["access_key_secret"]:
            access_key_secret = options["access_key_secret"]
        elif access_key_id == settings.DEMO_ACCESS_KEY_ID:
            access_key_secret = settings.DEMO_ACCESS_KEY_SECRET
        else:
            raise CommandError("--access-key-secret is required with --access-key-id", returncode=2)
        try:
            emulator = start_emulator(
                access_key_id=access_key_id,
                access_key_secret=access_key_secret,
                host=options["host"],
                port=options["port"],
                devices_file=options["devices"],
                latency=options["latency"],
                fault=options["fault"],
                fault_rate=options["fault_rate"],
                log_requests=options["verbosity"] >= 2,
            )
        except DevicesFileError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {options['host']}:{options['port']}: {exc}"
            ) from exc

        if access_key_id == settings.DEMO_ACCESS_KEY_ID:
            # The demo's second account (settings' "staging"), with its own small product.
            emulator.add_account(
                settings.DEMO_STAGING_ACCESS_KEY_ID,
                settings.DEMO_STAGING_ACCESS_KEY_SECRET,
                devices=seeded_staging_devices(),
            )

        stopping = threading.Event()

        def request_stop(signum: int, frame: object) -> None:
            stopping.set()

        previous = {
            sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            if options["write_ca"]:
                try:
                    path = emulator.write_ca(options["write_ca"])
                except OSError as exc:
                    raise CommandError(f"cannot write the CA certificate: {exc}") from exc
                self.stdout.write(f"Emulator CA certificate written to {path}")
            self.stdout.write(f"IoT emulator listening on {emulator.url}")
            self.stdout.write(f"AccessKey ID: {access_key_id}")
            self.stdout.flush()
            while not stopping.wait(0.5):
                pass
        finally:
            emulator.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("IoT emulator stopped.")
        self.stdout.flush()
