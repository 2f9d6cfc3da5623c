"""``manage.py querydevicecert``: one device's certificate status and decoded summary.

The private key that ``QueryDeviceCert`` returns is used only to check that it matches the
certificate; it is never printed, in either output mode.
"""

import contextlib
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.forms import ValidationError
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from certadmin.accounts.api_accounts import UnknownAccount, iot_account
from certadmin.certs.chain_check import check_chain
from certadmin.devices.forms import clean_device_name, clean_instance_id, clean_product_key
from certadmin.devices.inventory import (
    device_cert_decode,
    key_matches_certificate,
)
from certadmin.devices.platform import ca_certificates, describe_iot_error, iot_client
from certadmin.iot.accounts import IotAccount
from certadmin.iot.client import SIGNATURE_VERSIONS, IotClient
from certadmin.iot.errors import IotError
from certadmin.iot.results import CertStatus, DeviceCert
from certadmin.web.times import utc_text

EXIT_PLATFORM_ERROR = 1
EXIT_INVALID_INPUT = 2

STATUS_TEXT = {
    CertStatus.GENERATING: "being generated",
    CertStatus.FAILED: "generation failed",
    CertStatus.READY: "generated",
}


def _one_line(text: object) -> str:
    # Server-provided text may hold line breaks; the message must stay one line.
    return " ".join(str(text).split())


def _validated(option: str, value: str, clean) -> str:
    try:
        return clean(value)
    except ValidationError as error:
        raise CommandError(
            _one_line(f"invalid {option}: {' '.join(error.messages)}"),
            returncode=EXIT_INVALID_INPUT,
        ) from None


@contextlib.contextmanager
def _quiet_client_log(verbosity: int) -> Iterator[None]:
    # The client logs each call at INFO; on a terminal that would break the one-line error.
    logger = logging.getLogger("certadmin.iot")
    previous = logger.level
    if verbosity < 2:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _client(signature_version: str, account: IotAccount) -> IotClient:
    client = iot_client(account=account.name)
    if signature_version == client.signature_version:
        return client
    # Same endpoint, AccessKey and shared rate limiter as the dashboard; only the signing differs.
    return IotClient(
        endpoint=account.endpoint,
        access_key_id=account.access_key_id,
        access_key_secret=account.access_key_secret,
        security_token=account.security_token,
        region_id=account.region,
        signature_version=signature_version,
        rate_limiter=client.rate_limiter,
    )


@sensitive_variables("result")
def certificate_report(result: DeviceCert, now: datetime) -> dict[str, Any]:
    """The public facts of a QueryDeviceCert answer as plain values (never the private key)."""
    report: dict[str, Any] = {
        "product_key": result.product_key,
        "device_name": result.device_name,
        "iot_instance_id": result.iot_instance_id or "",
        "status": int(result.status),
        "status_text": STATUS_TEXT[result.status],
        "cert_sn": result.cert_sn,
        "request_id": result.request_id,
        "certificate": None,
        "decode_error": None,
        "key_matches_certificate": None,
    }
    if result.status != CertStatus.READY:
        return report
    decoded = device_cert_decode(result)
    if decoded is None or not decoded.ok:
        report["decode_error"] = (decoded.error if decoded else "") or "empty certificate"
        return report
    details = decoded.details
    validity = details.validity(now)
    chain = check_chain(decoded.certificate, list(ca_certificates()), now)
    report["certificate"] = {
        "subject": details.subject_text,
        "issuer": details.issuer_text,
        "serial_hex": details.serial_hex,
        "serial_decimal": details.serial_decimal,
        "not_before": utc_text(details.not_before),
        "not_after": utc_text(details.not_after),
        "validity": validity.state,
        "days_until_valid": validity.days_until_valid,
        "days_until_expiry": validity.days_until_expiry,
        "days_since_expiry": validity.days_since_expiry,
        "public_key_algorithm": details.public_key_algorithm,
        "public_key_size": details.public_key_size,
        "public_key_curve": details.public_key_curve,
        "signature_algorithm": details.signature_algorithm,
        "sha256_fingerprint": details.sha256_fingerprint,
        "sha1_fingerprint": details.sha1_fingerprint,
        "chain": chain.status,
        "chain_reason": chain.reason,
    }
    report["key_matches_certificate"] = key_matches_certificate(
        decoded.certificate, result.private_key
    )
    return report


def _validity_text(cert: dict[str, Any]) -> str:
    if cert["validity"] == "expired":
        return f"expired {cert['days_since_expiry']} day(s) ago"
    if cert["validity"] == "not_yet_valid":
        return f"not yet valid, starts in {cert['days_until_valid']} day(s)"
    days = cert["days_until_expiry"]
    if cert["validity"] == "expiring":
        return f"expiring soon, expires in {days} day(s)"
    return f"valid, expires in {days} day(s)"


def report_text(report: dict[str, Any]) -> list[str]:
    """The report as aligned "label: value" lines."""
    rows = [
        ("Device", f"{report['product_key']} / {report['device_name']}"),
        ("IotInstanceId", report["iot_instance_id"] or "(public instance)"),
        ("Status", f"{report['status']} ({report['status_text']})"),
        ("CertSN", report["cert_sn"] or "-"),
        ("RequestId", report["request_id"] or "-"),
    ]
    cert = report["certificate"]
    if report["decode_error"]:
        rows.append(("Certificate", f"could not be decoded: {report['decode_error']}"))
    elif cert:
        key = cert["public_key_algorithm"]
        if cert["public_key_size"]:
            key += f" {cert['public_key_size']} bits"
        if cert["public_key_curve"]:
            key += f", curve {cert['public_key_curve']}"
        matches = {True: "yes", False: "no", None: "not checked (no readable key)"}
        rows += [
            ("Subject", cert["subject"]),
            ("Issuer", cert["issuer"]),
            ("Serial (hex)", cert["serial_hex"]),
            ("Serial (decimal)", cert["serial_decimal"]),
            ("Not before", cert["not_before"]),
            ("Not after", cert["not_after"]),
            ("Validity", _validity_text(cert)),
            ("Public key", key),
            ("Signature algorithm", cert["signature_algorithm"]),
            ("SHA-256 fingerprint", cert["sha256_fingerprint"]),
            ("SHA-1 fingerprint", cert["sha1_fingerprint"]),
            ("Chain", f"{cert['chain']} ({cert['chain_reason']})"),
            ("Key matches certificate", matches[report["key_matches_certificate"]]),
        ]
    width = max(len(label) for label, _ in rows) + 1
    # Certificate fields are attacker-influenced: keep each on its own line.
    return [f"{label + ':':<{width}} {_one_line(value)}" for label, value in rows]


class Command(BaseCommand):
    help = (
        "Ask the configured IoT endpoint (QueryDeviceCert) for one device's certificate and "
        "print its status and decoded summary. The private key is never printed: it is only "
        "checked against the certificate. Exit status: 0 when the platform answered (also for "
        "status 0/1, and for a certificate that cannot be decoded, which is reported as "
        '"Certificate: could not be decoded: <reason>"); 1 when the platform or the network '
        "refused (the message names the Code and RequestId); 2 for invalid input. "
        "--verbosity 2 also shows the API client's log lines."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--product-key", required=True, help="the device's ProductKey")
        parser.add_argument("--device-name", required=True, help="the device's DeviceName")
        parser.add_argument(
            "--instance-id",
            default=None,
            help="IotInstanceId, for enterprise instances (default: the account's)",
        )
        parser.add_argument(
            "--account",
            default="",
            help="the API account to ask with (CERTADMIN_ACCOUNTS; default: the default account)",
        )
        parser.add_argument(
            "--json", action="store_true", help="print one JSON object instead of text"
        )
        parser.add_argument(
            "--signature-version",
            choices=SIGNATURE_VERSIONS,
            default="v3",
            help="v3 (ACS3-HMAC-SHA256, default) or v1 (HMAC-SHA1, older SDKs)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # The command's own output says what happened: the per-call log lines a server writes
        # would only repeat it on stderr (``-v 2`` shows them).
        quiet = options["verbosity"] < 2
        loggers = [logging.getLogger(n) for n in ("certadmin.platform", "certadmin.iot.client")]
        levels = [logger.level for logger in loggers]
        try:
            if quiet:
                for logger in loggers:
                    logger.setLevel(logging.WARNING)
            self._look_up(**options)
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)

    def _look_up(self, **options: Any) -> None:
        product_key = _validated("--product-key", options["product_key"], clean_product_key)
        device_name = _validated("--device-name", options["device_name"], clean_device_name)
        try:
            account = iot_account(options["account"])
        except UnknownAccount:
            raise CommandError(
                _one_line(
                    f"--account: no API account {options['account']!r} "
                    f"(configured: {', '.join(settings.IOT_ACCOUNTS)})"
                ),
                returncode=EXIT_INVALID_INPUT,
            ) from None
        instance = options["instance_id"]
        if instance is None:
            instance = account.instance_id
        instance = _validated("--instance-id", instance, clean_instance_id)
        try:
            client = _client(options["signature_version"], account)
            with _quiet_client_log(options["verbosity"]):
                result = client.query_device_cert(
                    product_key=product_key,
                    device_name=device_name,
                    iot_instance_id=instance or None,
                )
        except IotError as error:
            explanation = describe_iot_error(
                error, product_key=product_key, device_name=device_name
            )
            raise CommandError(
                _one_line(
                    f"QueryDeviceCert failed: Code {error.code}, "
                    f"RequestId {error.request_id or '-'}: {explanation}"
                ),
                returncode=EXIT_PLATFORM_ERROR,
            ) from None
        except ValueError as error:  # an unusable endpoint or AccessKey setting
            raise CommandError(
                _one_line(f"IoT client settings: {error}"), returncode=EXIT_PLATFORM_ERROR
            ) from None

        report = certificate_report(result, timezone.now())
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, ensure_ascii=False))
        else:
            self.stdout.write("\n".join(report_text(report)))
