"""The texts of notifications: one finding, a summary of many, the daily digest, the test
message and key custody's events. Each is written in the route's language (the caller
activates it with ``translation.override``): English or Simplified Chinese. Plain text, one
"label: value" per line, so a chat bot and a mail reader show the same thing.

A finding's message names the device, ProductKey, API account, serial, SHA-256 fingerprint,
days left and a link to the certificate page (``CERTADMIN_BASE_URL``). Never key material: the
inventory holds none. A custody message names the people, the device, ProductKey, API account,
the request's (or release's, or hand-over's) number and a link to the page where it waits; never
a key, a passphrase, a link's token, nor a reason (the page shows it to those allowed).
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from certadmin.certs.details import expiry_days_left
from certadmin.custody import observers
from certadmin.devices.services import device_query
from certadmin.findings.codes import finding_title
from certadmin.findings.models import Finding
from certadmin.findings.severity import Severity
from certadmin.notifications.models import CustodyMessage

DIGEST_TOP = 10


@dataclass(frozen=True)
class Message:
    title: str
    body: str


@dataclass(frozen=True)
class CertificateFacts:
    """What the inventory says of the finding's certificate (empty when it has no record)."""

    serial: str = ""
    sha256_fingerprint: str = ""
    not_after: datetime | None = None


def absolute_url(path: str) -> str:
    """``path`` on the dashboard as people reach it (``CERTADMIN_BASE_URL``)."""
    return f"{settings.BASE_URL}{path}"


def _device_link(finding: Finding) -> str:
    if not finding.device_name:
        return absolute_url(reverse("findings:fleet") + "?" + urlencode({"code": finding.code}))
    path = reverse("devices:device", args=[finding.product_key, finding.device_name])
    return absolute_url(path + device_query(finding))


def _fleet_link(*, account: str, product_key: str) -> str:
    query = {k: v for k, v in {"account": account, "product_key": product_key}.items() if v}
    return absolute_url(reverse("findings:fleet") + ("?" + urlencode(query) if query else ""))


def _severity(value: int) -> str:
    return str(Severity(value).label)


def _days_left(not_after: datetime | None, now: datetime) -> str:
    if not_after is None:
        return "—"
    days = expiry_days_left(not_after=not_after, now=now)
    if not_after < now:
        return _("expired %(days)s days ago") % {"days": -days}
    return str(days)


def _device_text(finding: Finding) -> str:
    return finding.device_name or _("CA bundle")


def finding_message(
    finding: Finding, facts: CertificateFacts, *, escalated_from: int | None, now: datetime
) -> Message:
    """One finding, new (``escalated_from`` None) or escalated since it was last announced."""
    title = finding_title(finding.code)
    names = {
        "severity": _severity(finding.severity),
        "title": title,
        "device": _device_text(finding),
    }
    if escalated_from is None:
        heading = _("%(severity)s: %(title)s on %(device)s") % names
        severity = _severity(finding.severity)
    else:
        heading = _("Escalated to %(severity)s: %(title)s on %(device)s") % names
        severity = _("%(new)s (was %(old)s)") % {
            "new": _severity(finding.severity),
            "old": _severity(escalated_from),
        }
    lines = [
        (_("Finding"), f"{title} ({finding.code})"),
        (_("Severity"), severity),
        (_("Device"), _device_text(finding)),
        (_("ProductKey"), finding.product_key or "—"),
        (_("API account"), finding.account or "—"),
        (_("Serial"), facts.serial or "—"),
        (_("SHA-256 fingerprint"), facts.sha256_fingerprint or "—"),
        (_("Days left"), _days_left(finding.not_after or facts.not_after, now)),
        (_("Detail"), finding.detail or "—"),
        (_("Link"), _device_link(finding)),
    ]
    return Message(f"[certadmin] {heading}", _lines(lines))


def summary_message(
    findings: list[Finding], *, route_name: str, account: str, product_key: str
) -> Message:
    """Findings beyond one dispatch's share of messages, announced together: how many of each
    severity and code, and where to see them."""
    heading = _("%(count)s more findings for route %(route)s") % {
        "count": len(findings),
        "route": route_name,
    }
    body = [_("More findings than one run sends one by one:"), ""]
    body += _counts(findings)
    body += ["", f"{_('Link')}: {_fleet_link(account=account, product_key=product_key)}"]
    return Message(f"[certadmin] {heading}", "\n".join(body))


def digest_message(
    findings: list[Finding],
    facts: dict[int, CertificateFacts],
    *,
    route_name: str,
    account: str,
    product_key: str,
    now: datetime,
) -> Message:
    """The daily digest: the route's open findings counted, and the riskiest ones."""
    heading = _("Daily digest for route %(route)s: %(count)s open findings") % {
        "route": route_name,
        "count": len(findings),
    }
    body = _counts(findings)
    body += ["", _("The riskiest:")]
    for finding in findings[:DIGEST_TOP]:
        fact = facts.get(finding.pk, CertificateFacts())
        days = _days_left(finding.not_after or fact.not_after, now)
        body.append(
            f"- {_severity(finding.severity)} · {finding_title(finding.code)} · "
            f"{finding.product_key or '—'}/{_device_text(finding)} · {_('Days left')}: {days}"
        )
    body += ["", f"{_('Link')}: {_fleet_link(account=account, product_key=product_key)}"]
    return Message(f"[certadmin] {heading}", "\n".join(body))


def route_test_message(*, route_name: str) -> Message:
    return Message(
        "[certadmin] " + _("Test message for route %(route)s") % {"route": route_name},
        _("certadmin sent this test message. If you can read it, the channel works.")
        + "\n\n"
        + f"{_('Link')}: {absolute_url(reverse('notifications:routes'))}",
    )


def custody_message(item: CustodyMessage) -> Message:
    """One custody event, for the account's channel: what happened, to whom it falls, where."""
    names = {"number": item.object_id, "device": item.device_name, "actor": item.actor}
    people = ", ".join(item.people_list) or "—"
    if item.kind == observers.REQUEST_MADE:
        heading = _("Key request %(number)s waits for approval: %(device)s") % names
        who = [(_("Requested by"), item.actor), (_("Approvers"), people)]
    elif item.kind in (observers.REQUEST_APPROVED, observers.REQUEST_REFUSED):
        if item.kind == observers.REQUEST_APPROVED:
            heading = _("Key request %(number)s approved: %(device)s") % names
        else:
            heading = _("Key request %(number)s refused: %(device)s") % names
        who = [(_("Requested by"), people), (_("Decided by"), item.actor)]
    elif item.kind == observers.BREAK_GLASS:
        heading = _("%(severity)s: break-glass by %(actor)s on %(device)s, review required") % {
            **names,
            "severity": _severity(Severity.HIGH),
        }
        who = [(_("Released by"), item.actor), (_("Auditors"), people)]
    else:  # observers.HANDOVER_INTERCEPTION
        heading = _("%(severity)s: possible interception of hand-over %(number)s on %(device)s") % {
            **names,
            "severity": _severity(Severity.HIGH),
        }
        who = [(_("Made by"), people), (_("Tried by"), item.actor)]
    lines = [
        (_("Number"), str(item.object_id)),
        *who,
        (_("Device"), item.device_name),
        (_("ProductKey"), item.product_key),
        (_("API account"), item.account),
        (_("Link"), absolute_url(item.path)),
    ]
    return Message(f"[certadmin] {heading}", _lines(lines))


def _counts(findings: list[Finding]) -> list[str]:
    by_severity = Counter(f.severity for f in findings)
    by_code = Counter(f.code for f in findings)
    lines = [
        f"{_('Severity')}: "
        + ", ".join(f"{_severity(s)} {n}" for s, n in sorted(by_severity.items(), reverse=True))
    ]
    lines += [f"- {finding_title(code)} ({code}): {n}" for code, n in by_code.most_common()]
    return lines


def _lines(pairs: list[tuple[str, str]]) -> str:
    return "\n".join(f"{label}: {value}" for label, value in pairs)
