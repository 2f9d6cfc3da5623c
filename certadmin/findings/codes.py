"""The findings' codes: the one table of what each code means and how severe it is.

A code is stable (scripts, notification routes and suppressions name it); its title and
description are for people and are translated. docs/fleet-watch.md lists the same table.
"""

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from certadmin.findings.severity import Severity


@dataclass(frozen=True)
class FindingCode:
    code: str
    title: Promise
    # The usual severity; a few codes set their own per finding (cert.expiring by its window,
    # chain.untrusted, cert.lint, ca.expiring, cert.valid_device_inactive).
    severity: Severity


CERT_EXPIRED = "cert.expired"
CERT_EXPIRING = "cert.expiring"
CERT_EXPIRED_DEVICE_ONLINE = "cert.expired_device_online"
CERT_VALID_DEVICE_INACTIVE = "cert.valid_device_inactive"
KEY_WEAK = "key.weak"
KEY_SHARED = "key.shared"
CHAIN_UNTRUSTED = "chain.untrusted"
CA_EXPIRING = "ca.expiring"
CERT_GENERATION_FAILED = "cert.generation_failed"
CERT_GENERATION_STUCK = "cert.generation_stuck"
CERT_TOO_OLD = "cert.too_old"
CERT_LINT = "cert.lint"
RECORD_STALE = "record.stale"

FINDING_CODES: dict[str, FindingCode] = {
    entry.code: entry
    for entry in (
        FindingCode(CERT_EXPIRED, _("Certificate expired"), Severity.CRITICAL),
        FindingCode(
            CERT_EXPIRED_DEVICE_ONLINE,
            _("Certificate expired while the device is online"),
            Severity.CRITICAL,
        ),
        FindingCode(CERT_EXPIRING, _("Certificate expiring"), Severity.LOW),
        FindingCode(
            CERT_VALID_DEVICE_INACTIVE,
            _("Valid certificate on a disabled or never-activated device"),
            Severity.LOW,
        ),
        FindingCode(KEY_WEAK, _("Weak key or signature"), Severity.HIGH),
        FindingCode(KEY_SHARED, _("Key shared by several devices"), Severity.HIGH),
        FindingCode(CHAIN_UNTRUSTED, _("Chain not trusted by the configured CA"), Severity.HIGH),
        FindingCode(CA_EXPIRING, _("CA certificate expiring"), Severity.HIGH),
        FindingCode(CERT_GENERATION_FAILED, _("Certificate generation failed"), Severity.HIGH),
        FindingCode(CERT_GENERATION_STUCK, _("Certificate still being generated"), Severity.MEDIUM),
        FindingCode(CERT_TOO_OLD, _("Certificate older than the maximum age"), Severity.LOW),
        FindingCode(CERT_LINT, _("RFC 5280 problem"), Severity.MEDIUM),
        FindingCode(RECORD_STALE, _("Record not re-checked in time"), Severity.LOW),
    )
}

# "Expired" is never suppressed: an expired certificate stops the device, whatever anyone
# decided. Its online variant is the same fact, worse.
NEVER_SUPPRESSED = frozenset({CERT_EXPIRED, CERT_EXPIRED_DEVICE_ONLINE})


def finding_title(code: str) -> str:
    """The code's title for people (translated), or the code itself when unknown."""
    entry = FINDING_CODES.get(code)
    return str(entry.title) if entry else code
