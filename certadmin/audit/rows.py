"""The audit tables' rows as a page shows them, built in Python once per page.

A page of 50 events used to spend most of its time in the template: a translation lookup per
label per row (about a thousand a page), two URL reversals per row, then, with those prepared,
still some 30 variable lookups, filters and autoescapes per row. Here every label is translated
once per page, each row link is the one reversed URL with the row's names quoted into it, each
time is formatted once, and each row's ``<tr>`` is one string; the template places the header
and the rows. The columns are ``EVENT_COLUMNS``: a column more is one line there.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from django.conf import settings
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, gettext_lazy

from certadmin.audit.detail_text import KNOWN_DETAILS
from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.web.punctuation import label_join
from certadmin.web.times import LocalTimes

# What ``reverse`` leaves unquoted in a path (django.urls.resolvers).
_PATH_SAFE = "!$&'()*+,;=" + "/~:@"
_SLOT = "certadmin-slot"
_SLOT_ID = 918273645  # a number no real id path is reversed with, replaced by each row's id


@dataclass(slots=True)
class EventRow:
    """One event, what its row shows beyond the stored fields, and the row's HTML."""

    event: AuditEvent
    time: SafeString
    outcome_label: str
    action_label: str
    detail_shown: str
    user_url: str
    device_url: str
    html: str = ""  # safe: every cell escapes what it shows


@dataclass(frozen=True, slots=True)
class EventTable:
    """An audit table: its column headers (translated) and its rows."""

    headers: list[str]
    rows: list[EventRow]

    @property
    def body_html(self) -> SafeString:
        """Every row's ``<tr>``, one string: what the table body shows."""
        return mark_safe("".join(row.html for row in self.rows))  # noqa: S308 - rows are safe


class PathFormat:
    """One URL pattern, reversed once with placeholders; ``path(*names)`` is what ``reverse``
    gives for those names, or "" where it would find no match (an empty name, a "/")."""

    def __init__(self, view: str, arity: int) -> None:
        slots = [f"{_SLOT}{n}" for n in range(arity)]
        url = reverse(view, args=slots)
        self._parts: list[str] = []
        for slot in slots:
            head, _, url = url.partition(slot)
            self._parts.append(head)
        self._tail = url

    def path(self, *names: str) -> str:
        if not all(names) or any("/" in name for name in names):
            return ""
        quoted = (quote(name, safe=_PATH_SAFE) for name in names)
        return "".join(part + name for part, name in zip(self._parts, quoted, strict=True)) + (
            self._tail
        )


class PageText:
    """What every row of one page shares: labels translated once, link patterns reversed once."""

    def __init__(self, *, redact: bool = False) -> None:
        self.outcomes = {value: str(label) for value, label in AuditOutcome.choices}
        self.actions = {value: str(label) for value, label in AuditAction.choices}
        self.details = {text: gettext(text) for text in KNOWN_DETAILS}
        self.anonymous = escape(gettext("(anonymous)"))
        self.request_id = escape(gettext("RequestId"))
        self.user_path = PathFormat("audit:user", 1)
        self.device_path = PathFormat("audit:device", 2)
        self.redacted = gettext("Redacted (event #%(id)s)")
        # For a superuser, each row's number leads to the page that redacts its texts.
        self.redact_path: tuple[str, str] | None = None
        if redact:
            head, _, tail = reverse("audit:redact", args=[_SLOT_ID]).partition(str(_SLOT_ID))
            self.redact_path = (escape(head), escape(tail))
        # With several API accounts, each device says which one it belongs to.
        self.accounts = (
            {name: escape(account.display_name) for name, account in settings.IOT_ACCOUNTS.items()}
            if len(settings.IOT_ACCOUNTS) > 1
            else None
        )


# A cell's inner HTML, escaped, from the row and its page.
CellHtml = Callable[[EventRow, PageText], str]


@dataclass(frozen=True, slots=True)
class EventColumn:
    label: Promise
    cell: CellHtml
    css_class: str = ""


def _time(row: EventRow, page: PageText) -> str:
    return row.time


def _outcome(row: EventRow, page: PageText) -> str:
    outcome = escape(row.event.outcome)
    return (
        f'<span class="badge audit-outcome audit-outcome-{outcome}">'
        f"{escape(row.outcome_label)}</span>"
    )


def _action(row: EventRow, page: PageText) -> str:
    return escape(row.action_label)


def _user(row: EventRow, page: PageText) -> str:
    name = row.event.actor_username
    if row.user_url:
        return f'<a href="{escape(row.user_url)}">{escape(name)}</a>'
    return escape(name) if name else page.anonymous


def _device(row: EventRow, page: PageText) -> str:
    event = row.event
    if row.device_url:
        shown = (
            f'<a class="audit-token" href="{escape(row.device_url)}">'
            f"{escape(event.product_key)}/{escape(event.device_name)}</a>"
        )
    elif event.device_name:
        shown = f"{escape(event.product_key)}/{escape(event.device_name)}"
    else:
        shown = escape(event.product_key)
    if event.iot_instance_id:
        shown += f'<br><span class="muted audit-token">{escape(event.iot_instance_id)}</span>'
    if page.accounts is not None and event.account:
        label = page.accounts.get(event.account) or escape(event.account)
        shown += f'<br><span class="badge audit-account">{label}</span>'
    return shown


def _reason(row: EventRow, page: PageText) -> str:
    redacted_by = row.event.reason_redacted_by
    if redacted_by is not None:
        shown = escape(page.redacted % {"id": redacted_by})
        return f'<span class="muted audit-redacted">{shown}</span>'
    return escape(row.event.reason)


def _detail(row: EventRow, page: PageText) -> str:
    event = row.event
    shown = escape(row.detail_shown)
    if event.platform_code:
        shown += f" <code>{escape(event.platform_code)}</code>"
    if event.platform_request_id:
        shown += (
            f'<br><span class="muted audit-token">{page.request_id} '
            f"{escape(event.platform_request_id)}</span>"
        )
    return shown


def _ip_address(row: EventRow, page: PageText) -> str:
    return escape(row.event.ip_address or "")


def _row_id(row: EventRow, page: PageText) -> str:
    if page.redact_path is not None:
        head, tail = page.redact_path
        return f'<a href="{head}{row.event.id}{tail}">{row.event.id}</a>'
    return str(row.event.id)


def _hash(row: EventRow, page: PageText) -> str:
    entry_hash = escape(row.event.entry_hash)
    return f'<code class="audit-hash" title="{entry_hash}">{entry_hash[:12]}…</code>'


# The first column heads its row (``<th scope="row">``).
EVENT_COLUMNS: tuple[EventColumn, ...] = (
    EventColumn(gettext_lazy("Time"), _time),
    EventColumn(gettext_lazy("Outcome"), _outcome),
    EventColumn(gettext_lazy("Action"), _action),
    EventColumn(gettext_lazy("User"), _user),
    EventColumn(gettext_lazy("Device"), _device),
    EventColumn(gettext_lazy("Reason"), _reason, "audit-reason"),
    EventColumn(gettext_lazy("Detail"), _detail, "audit-detail"),
    EventColumn(gettext_lazy("IP address"), _ip_address),
    EventColumn(gettext_lazy("Row"), _row_id),
    EventColumn(gettext_lazy("Hash"), _hash),
)


def _detail_shown(detail: str, translated: dict[str, str]) -> str:
    # As ``certadmin.audit.detail_text.detail_display``, from this page's one lookup per text.
    shown = translated.get(detail)
    if shown is not None:
        return shown
    prefix, separator, rest = detail.partition(": ")
    if separator and rest in translated:
        return label_join(label=prefix, text=translated[rest])
    return detail


def _cell_openers(headers: list[str]) -> list[str]:
    """Each column's opening tag, its translated label in place."""
    openers = []
    for n, (column, label) in enumerate(zip(EVENT_COLUMNS, headers, strict=True)):
        tag = '<th scope="row"' if n == 0 else "<td"
        css = f' class="{column.css_class}"' if column.css_class else ""
        openers.append(f'{tag} data-label="{escape(label)}"{css}>')
    return openers


def event_table(*, events: Iterable[AuditEvent], redact: bool = False) -> EventTable:
    """An audit table of ``events``, in the active language and time zone; with ``redact``
    (for a superuser), each row number links to the page that redacts the event's texts."""
    page = PageText(redact=redact)
    times = LocalTimes()
    headers = [str(column.label) for column in EVENT_COLUMNS]
    cells = [
        (opener, column.cell, "</th>" if n == 0 else "</td>")
        for n, (opener, column) in enumerate(
            zip(_cell_openers(headers), EVENT_COLUMNS, strict=True)
        )
    ]
    rows = []
    for event in events:
        row = EventRow(
            event=event,
            time=times.html(event.created_at),
            outcome_label=page.outcomes.get(event.outcome, event.outcome),
            action_label=page.actions.get(event.action, event.action),
            detail_shown=_detail_shown(event.detail, page.details),
            user_url=page.user_path.path(event.actor_username),
            device_url=page.device_path.path(event.product_key, event.device_name),
        )
        row.html = mark_safe(  # noqa: S308 - every cell escapes what it shows
            "<tr>"
            + "".join(opener + cell(row, page) + closer for opener, cell, closer in cells)
            + "</tr>\n"
        )
        rows.append(row)
    return EventTable(headers=headers, rows=rows)


def event_rows(*, events: Iterable[AuditEvent]) -> list[EventRow]:
    """The rows of an audit table for ``events`` (``event_table``'s rows)."""
    return event_table(events=events).rows
