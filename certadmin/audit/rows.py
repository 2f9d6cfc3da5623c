"""The audit tables' rows as a page shows them, prepared in Python once per page.

A page of 50 events used to spend most of its time in the template: a translation lookup per
label per row (about a thousand a page) and two URL reversals per row. Here every label is
translated once per page, each row link is the one reversed URL with the row's names quoted into
it, and each time is formatted once; the template only places the results.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from certadmin.audit.details import KNOWN_DETAILS
from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.templatetags.timestamps import timestamp_text

# What ``reverse`` leaves unquoted in a path (django.urls.resolvers).
_PATH_SAFE = "!$&'()*+,;=" + "/~:@"
_SLOT = "certadmin-slot"


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event and what its row shows beyond the stored fields."""

    event: AuditEvent
    time: SafeString
    outcome_label: str
    action_label: str
    detail_shown: str
    user_url: str
    device_url: str


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


def _details_translated() -> dict[str, str]:
    return {text: gettext(text) for text in KNOWN_DETAILS}


def _detail_shown(detail: str, translated: dict[str, str]) -> str:
    # As ``certadmin.audit.details.detail_display``, from this page's one lookup per text.
    shown = translated.get(detail)
    if shown is not None:
        return shown
    prefix, separator, rest = detail.partition(": ")
    if separator and rest in translated:
        return f"{prefix}: {translated[rest]}"
    return detail


def _time_html(event: AuditEvent) -> SafeString:
    # As the ``{% timestamp %}`` tag shows a time.
    machine = event.created_at.isoformat(timespec="seconds")
    return format_html('<time datetime="{}">{}</time>', machine, timestamp_text(event.created_at))


def event_rows(*, events: Iterable[AuditEvent]) -> list[EventRow]:
    """The rows of an audit table for ``events``, in the active language and time zone."""
    outcomes = {value: str(label) for value, label in AuditOutcome.choices}
    actions = {value: str(label) for value, label in AuditAction.choices}
    details = _details_translated()
    user_path = PathFormat("audit:user", 1)
    device_path = PathFormat("audit:device", 2)
    return [
        EventRow(
            event=event,
            time=_time_html(event),
            outcome_label=outcomes.get(event.outcome, event.outcome),
            action_label=actions.get(event.action, event.action),
            detail_shown=_detail_shown(event.detail, details),
            user_url=user_path.path(event.actor_username),
            device_url=device_path.path(event.product_key, event.device_name),
        )
        for event in events
    ]
