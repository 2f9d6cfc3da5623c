"""The custody report: for one period, who received which keys how, and what else custody saw.

It counts, among the events the auditor may read (``selectors.events_filtered``: their account
scope, and one account when they choose one), what ``custody_actions`` names: key releases by
person, API account, product and channel, and each ``CustodyMeasure`` (key requests that
released nothing, lookups, and what approvals and hand-overs record once they are listed there).

As a page, and as evidence: a ZIP of ``custody-report.csv`` (one row per count) and a
``manifest.json`` signed like the trail's exports (``evidence_export``), which ``manage.py
audit_export_verify`` checks. The export covers the events up to the chain's head when it was
made, and is itself an event (``custody_report``), recorded before the file is built.
"""

import csv
import hashlib
import io
import json
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db.models import Count, QuerySet
from django.utils import timezone

from certadmin.audit.custody_actions import (
    KEY_RELEASE_ACTIONS,
    KEY_RELEASE_CHANNELS,
    CustodyMeasure,
    measure_of,
    measures_counted,
    release_channel,
)
from certadmin.audit.evidence_export import (
    MANIFEST_NAME,
    REPORT_FORMAT,
    REPORT_NAME,
    manifest_sign,
)
from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.selectors import accounts_visible, chain_head, events_filtered
from certadmin.audit.services import RequestContext, audit_record
from certadmin.web.csv_safety import csv_text

CSV_FIELDS = ["measure", "channel", "user", "account", "product_key", "count"]
RELEASE_MEASURE = "key_release"


@dataclass(frozen=True)
class ReportPeriod:
    """Inclusive days in the local time zone; ``label`` names it (``2026-03``, ``2026-Q1``,
    ``2026-03-01..2026-03-15``)."""

    label: str
    date_from: date
    date_to: date


@dataclass(frozen=True)
class ReleaseCount:
    user: str
    account: str
    product_key: str
    channel: str
    count: int


@dataclass(frozen=True)
class MeasureCount:
    measure: CustodyMeasure
    user: str
    account: str
    product_key: str
    count: int


@dataclass(frozen=True)
class CustodyReport:
    period: ReportPeriod
    account: str
    releases: list[ReleaseCount]
    measures: list[MeasureCount]

    @property
    def release_total(self) -> int:
        return sum(r.count for r in self.releases)

    def releases_by(self, dimension: str) -> list[tuple[str, int]]:
        """Key releases counted by ``dimension`` ("user", "account", "product_key" or
        "channel"), most first."""
        counts: Counter[str] = Counter()
        for row in self.releases:
            counts[getattr(row, dimension)] += row.count
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    @property
    def releases_by_user(self) -> list[tuple[str, int]]:
        return self.releases_by("user")

    @property
    def releases_by_account(self) -> list[tuple[str, int]]:
        return self.releases_by("account")

    @property
    def releases_by_product(self) -> list[tuple[str, int]]:
        return self.releases_by("product_key")

    def channel_totals(self) -> list[tuple[str, str, int]]:
        """Every channel (code, label, releases), in the table's order, none left out."""
        counts = dict(self.releases_by("channel"))
        return [(c.code, str(c.label), counts.get(c.code, 0)) for c in KEY_RELEASE_CHANNELS]

    def measure_totals(self) -> list[tuple[CustodyMeasure, int]]:
        """Every counted measure with its total, in the table's order."""
        counts: Counter[str] = Counter()
        for row in self.measures:
            counts[row.measure.code] += row.count
        return [(m, counts.get(m.code, 0)) for m in measures_counted()]

    def csv_rows(self) -> list[tuple]:
        """The CSV's rows (``CSV_FIELDS``): every release count, then every measure's."""
        rows: list[tuple] = [
            (RELEASE_MEASURE, r.channel, r.user, r.account, r.product_key, r.count)
            for r in self.releases
        ]
        rows += [
            (m.measure.code, "", m.user, m.account, m.product_key, m.count) for m in self.measures
        ]
        return rows


def custody_report(
    *, viewer, period: ReportPeriod, account: str = "", up_to_id: int | None = None
) -> CustodyReport:
    """The report of the events ``viewer`` may read in ``period`` (of API account ``account``
    when given; up to event ``up_to_id`` when given)."""
    events = events_filtered(
        viewer=viewer, account=account, date_from=period.date_from, date_to=period.date_to
    )
    if up_to_id is not None:
        events = events.filter(id__lte=up_to_id)
    return CustodyReport(
        period=period,
        account=account,
        releases=_release_counts(events),
        measures=_measure_counts(events),
    )


_GROUPS = ("actor_username", "account", "product_key")


def _grouped(events: QuerySet[AuditEvent], *fields: str):
    return (
        events.order_by()
        .values_list(*fields, *_GROUPS)
        .annotate(n=Count("id"))
        .order_by(*fields, *_GROUPS)
    )


def _account(name: str) -> str:
    # Rows written before accounts were recorded are the default account's.
    return name or settings.IOT_DEFAULT_ACCOUNT


def _release_counts(events: QuerySet[AuditEvent]) -> list[ReleaseCount]:
    counts: Counter[tuple[str, str, str, str]] = Counter()
    releases = events.filter(action__in=KEY_RELEASE_ACTIONS, outcome=AuditOutcome.SUCCESS)
    for action, detail, user, account, product_key, n in _grouped(releases, "action", "detail"):
        channel = release_channel(action=action, detail=detail)
        if channel is not None:
            counts[(user, _account(account), product_key, channel.code)] += n
    return [ReleaseCount(*key, count=n) for key, n in sorted(counts.items())]


def _measure_counts(events: QuerySet[AuditEvent]) -> list[MeasureCount]:
    measured = measures_counted()
    actions = sorted({action for m in measured for action in (*m.actions, *m.detail_actions)})
    if not actions:
        return []
    counts: Counter[tuple[str, str, str, str]] = Counter()
    by_code = {measure.code: measure for measure in measured}
    for action, outcome, detail, user, account, product_key, n in _grouped(
        events.filter(action__in=actions), "action", "outcome", "detail"
    ):
        measure = measure_of(action=action, outcome=outcome, detail=detail)
        if measure is not None:
            counts[(measure.code, user, _account(account), product_key)] += n
    order = {measure.code: n for n, measure in enumerate(measured)}
    return [
        MeasureCount(by_code[code], user, account, product_key, n)
        for (code, user, account, product_key), n in sorted(
            counts.items(), key=lambda item: (order[item[0][0]], item[0])
        )
    ]


def custody_report_export(
    *, viewer, period: ReportPeriod, account: str, context: RequestContext
) -> tuple[str, bytes]:
    """The report as signed evidence: ``(file name, ZIP bytes)``. Records the export first
    (``AuditWriteError``: then no file); the report covers the chain up to its head then. Needs
    the ``AUDIT_SIGNING_KEY`` setting."""
    visible = accounts_visible(viewer=viewer)
    scope = "all" if visible is None else sorted(visible)
    head_id, head_hash = chain_head()
    event = audit_record(
        action=AuditAction.CUSTODY_REPORT,
        outcome=AuditOutcome.SUCCESS,
        actor=viewer,
        context=context,
        detail=(
            f"period {period.label} ({period.date_from.isoformat()} to "
            f"{period.date_to.isoformat()}); account {account or 'any'}; "
            f"up to row {head_id or '-'} head {head_hash or '-'}"
        ),
    )
    report = custody_report(viewer=viewer, period=period, account=account, up_to_id=head_id or 0)
    data = csv_report_text(report).encode()
    manifest = {
        "format": REPORT_FORMAT,
        "exported_at": timezone.localtime(event.created_at).isoformat(timespec="seconds"),
        "exported_by": viewer.get_username(),
        "time_zone": str(timezone.get_current_timezone()),
        "period": {
            "label": period.label,
            "from": period.date_from.isoformat(),
            "to": period.date_to.isoformat(),
        },
        "filters": {"account": account, "account_scope": scope},
        "counted": _counted(),
        "rows": len(report.csv_rows()),
        "chain_head": {"id": head_id, "hash": head_hash},
        "export_event_id": event.pk,
        "report_csv": {
            "name": REPORT_NAME,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        },
    }
    manifest = manifest_sign(manifest, signing_key=settings.AUDIT_SIGNING_KEY)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(REPORT_NAME, data)
        archive.writestr(MANIFEST_NAME, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return f"custody-report-{period.label}.zip", buffer.getvalue()


def _counted() -> dict:
    """What each measure of the CSV counts, as the manifest states it."""
    return {
        RELEASE_MEASURE: {
            channel.code: {"action": channel.action, "details": list(channel.details)}
            for channel in KEY_RELEASE_CHANNELS
        },
        **{
            measure.code: {
                "actions": list(measure.actions),
                "outcomes": list(measure.outcomes),
                "detail_actions": list(measure.detail_actions),
                "detail_has": measure.detail_has,
            }
            for measure in measures_counted()
        },
    }


def csv_report_text(report: CustodyReport) -> str:
    """The report's CSV: a header line, then ``CustodyReport.csv_rows``."""
    header = io.StringIO()
    csv.writer(header).writerow(CSV_FIELDS)
    rows = report.csv_rows()
    if not rows:
        return header.getvalue()
    return header.getvalue() + csv_text(list(zip(*rows, strict=True)))
