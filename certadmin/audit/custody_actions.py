"""Which audit actions count as what in custody: the one table the key lookup and the custody
report read.

A key release is a successful event of one of ``KEY_RELEASE_CHANNELS``' actions; its channel is
the first entry whose action and detail match (a key bundle download stores its format as the
detail). Every other count of the custody report is a ``CustodyMeasure``: events of its
actions with one of its outcomes. A measure without actions is not shown: adding a new kind of
custody event (an approval, a hand-over) is listing its action here.
"""

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from certadmin.audit.models import AuditAction, AuditOutcome

KEY_REQUEST_ACTIONS = (AuditAction.KEY_REVEAL, AuditAction.KEY_DOWNLOAD)


@dataclass(frozen=True)
class ReleaseChannel:
    """How a key left the server: ``action`` with one of ``details`` (any detail when empty)."""

    code: str
    label: Promise
    action: str
    details: tuple[str, ...] = ()

    def matches(self, *, action: str, detail: str) -> bool:
        # A release's detail is its format, then what it came through after "; " (an approved
        # request, a break-glass ticket, a hand-over): the format decides the channel.
        fmt = detail.split(";", 1)[0].strip()
        return action == self.action and (not self.details or fmt in self.details)


KEY_RELEASE_CHANNELS: tuple[ReleaseChannel, ...] = (
    ReleaseChannel("reveal", _("Shown on the page"), AuditAction.KEY_REVEAL),
    ReleaseChannel("pkcs8", _("PKCS#8 PEM file"), AuditAction.KEY_DOWNLOAD, ("key",)),
    ReleaseChannel("pkcs12", _("PKCS#12 bundle"), AuditAction.KEY_DOWNLOAD, ("p12",)),
    ReleaseChannel("zip", _("ZIP bundle"), AuditAction.KEY_DOWNLOAD, ("zip", "zip-plain")),
    # A release whose detail no entry above names (a format added later).
    ReleaseChannel("other", _("Other key download"), AuditAction.KEY_DOWNLOAD),
    # Bulk ZIPs with keys: list their actions here.
)
KEY_RELEASE_ACTIONS = tuple(dict.fromkeys(channel.action for channel in KEY_RELEASE_CHANNELS))


def release_channel(*, action: str, detail: str) -> ReleaseChannel | None:
    """The channel of a successful event of ``action`` with ``detail``, or None when it is no
    key release."""
    return next((c for c in KEY_RELEASE_CHANNELS if c.matches(action=action, detail=detail)), None)


@dataclass(frozen=True)
class CustodyMeasure:
    """One count of the custody report: events of ``actions`` with one of ``outcomes``, and
    events of ``detail_actions`` whose detail contains ``detail_has`` (a key release marked
    break-glass or made through a hand-over has no action of its own)."""

    code: str
    label: Promise
    actions: tuple[str, ...]
    outcomes: tuple[str, ...] = (AuditOutcome.SUCCESS,)
    detail_actions: tuple[str, ...] = ()
    detail_has: str = ""

    def matches(self, *, action: str, outcome: str, detail: str) -> bool:
        if outcome not in self.outcomes:
            return False
        return action in self.actions or (
            action in self.detail_actions and self.detail_has in detail
        )


CUSTODY_MEASURES: tuple[CustodyMeasure, ...] = (
    # Two-person approval: requests, approvals, refusals, break-glass and its reviews.
    CustodyMeasure(
        "approval_requested", _("Key requests sent for approval"), (AuditAction.KEY_REQUEST,)
    ),
    CustodyMeasure("approval_granted", _("Approvals"), (AuditAction.KEY_REQUEST_APPROVE,)),
    CustodyMeasure("approval_refused", _("Approval refusals"), (AuditAction.KEY_REQUEST_REFUSE,)),
    CustodyMeasure(
        "approval_expired", _("Approvals expired unused"), (AuditAction.KEY_REQUEST_EXPIRE,)
    ),
    CustodyMeasure(
        "break_glass",
        _("Break-glass releases"),
        (),
        detail_actions=KEY_REQUEST_ACTIONS,
        detail_has="break-glass",
    ),
    CustodyMeasure(
        "break_glass_reviewed", _("Break-glass reviews"), (AuditAction.BREAK_GLASS_REVIEW,)
    ),
    # One-time hand-overs: a PKCS#12 link records its opening; a link that shows the key is
    # recorded as the reveal itself, "hand-over N from …".
    CustodyMeasure("handover_created", _("Hand-overs created"), (AuditAction.HANDOVER_CREATE,)),
    CustodyMeasure(
        "handover_used",
        _("Hand-overs used"),
        (AuditAction.HANDOVER_OPEN,),
        detail_actions=(AuditAction.KEY_REVEAL,),
        detail_has="hand-over ",
    ),
    CustodyMeasure(
        "handover_expired",
        _("Hand-overs expired"),
        (AuditAction.HANDOVER_EXPIRED,),
        (AuditOutcome.DENIED,),
    ),
    CustodyMeasure(
        "handover_reused",
        _("Hand-overs used again (possible interception)"),
        (AuditAction.HANDOVER_REUSE,),
        (AuditOutcome.DENIED,),
    ),
    # Key requests that released nothing.
    CustodyMeasure(
        "key_request_denied",
        _("Key requests denied"),
        KEY_REQUEST_ACTIONS,
        (AuditOutcome.DENIED,),
    ),
    CustodyMeasure(
        "key_request_refused",
        _("Key requests refused (bad input)"),
        KEY_REQUEST_ACTIONS,
        (AuditOutcome.REFUSED,),
    ),
    CustodyMeasure(
        "key_request_failed",
        _("Key requests failed"),
        KEY_REQUEST_ACTIONS,
        (AuditOutcome.FAILED,),
    ),
    # The auditors' own questions.
    CustodyMeasure("key_lookup", _("Key lookups"), (AuditAction.KEY_LOOKUP,)),
)


def measures_counted() -> tuple[CustodyMeasure, ...]:
    """The measures that count something: those with actions."""
    return tuple(m for m in CUSTODY_MEASURES if m.actions or m.detail_actions)


def measure_of(*, action: str, outcome: str, detail: str = "") -> CustodyMeasure | None:
    """The first counted measure an event of ``action``, ``outcome`` and ``detail`` belongs
    to."""
    return next(
        (m for m in measures_counted() if m.matches(action=action, outcome=outcome, detail=detail)),
        None,
    )
