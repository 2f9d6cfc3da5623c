"""The fleet page's findings rows as it shows them, built in Python once per page (as
``devices.rows``, ``jobs.rows`` and ``audit.rows`` build theirs): a page of 50 findings spent
most of its time in ~30 template lookups per row."""

from collections.abc import Iterable
from datetime import datetime

from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from certadmin.audit.rows import PathFormat
from certadmin.devices.services import device_query
from certadmin.findings.codes import NEVER_SUPPRESSED
from certadmin.findings.models import Finding
from certadmin.findings.severity import Severity
from certadmin.web.times import LocalTimes


def finding_rows_html(
    findings: Iterable[Finding], *, now: datetime, may_suppress: bool, show_accounts: bool
) -> SafeString:
    """The ``<tr>`` of every finding of ``findings/fleet.html``'s table, in the active language
    and time zone; every stored value is escaped."""
    severities = {value: escape(str(label)) for value, label in Severity.choices}
    online = f' <span class="badge">{escape(gettext("online"))}</span>'
    gateway = f' <span class="badge">{escape(gettext("gateway"))}</span>'
    ca_bundle = escape(gettext("CA bundle"))
    closed = escape(gettext("closed"))
    suppressed_until = escape(gettext("suppressed until"))
    still_open = escape(gettext("open"))
    suppress = escape(gettext("Suppress"))
    device_path = PathFormat("devices:device", 2)
    suppress_path = reverse("findings:suppressions")
    times = LocalTimes()
    parts = []
    for finding in findings:
        severity = severities.get(finding.severity) or escape(finding.severity)
        if finding.device_name:
            url = device_path.path(finding.product_key, finding.device_name)
            account = f" · {escape(finding.account)}" if show_accounts else ""
            device = (
                f'<a href="{escape(url + device_query(finding) if url else url)}">'
                f"{escape(finding.device_name)}</a> "
                f'<span class="muted">{escape(finding.product_key)}{account}</span>'
                f"{online if finding.device_online else ''}"
                f"{gateway if finding.device_gateway else ''}"
            )
        else:
            device = ca_bundle
        detail = (
            f'<br><span class="muted break">{escape(finding.detail)}</span>'
            if finding.detail
            else ""
        )
        if finding.closed_at:
            state = f"{closed} {times.html(finding.closed_at)}"
        elif finding.suppressed_until and finding.suppressed_until > now:
            state = f"{suppressed_until} {times.html(finding.suppressed_until)}"
        else:
            state = still_open
        action = ""
        if may_suppress:
            link = ""
            if (
                not finding.closed_at
                and finding.code not in NEVER_SUPPRESSED
                and finding.product_key
            ):
                link = f'<a href="{suppress_path}?finding={finding.pk}">{suppress}</a>'
            action = f"<td>{link}</td>"
        parts.append(
            "<tr>"
            f'<td><span class="badge severity-{escape(finding.severity_name)}">{severity}</span>'
            "</td>"
            f"<td>{device}</td>"
            f"<td><code>{escape(finding.code)}</code> {escape(finding.title)}{detail}</td>"
            f"<td>{times.html(finding.first_seen)}</td>"
            f"<td>{times.html(finding.last_seen)}</td>"
            f"<td>{state}</td>"
            f"{action}"
            "</tr>"
        )
    return mark_safe("\n".join(parts))  # noqa: S308 (every value above is escaped)
