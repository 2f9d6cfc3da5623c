"""Telling people about key custody events, through whatever channels another app provides.

The custody app shows what waits for each person on their dashboard by itself. A
notifications app (DingTalk, WeCom, email…) plugs in here in its ``AppConfig.ready``:
``custody_observer_add(send)``; ``send(event)`` is then called once per event, after the event
is committed to the audit trail. A ``CustodyEvent`` never carries a key, a passphrase or a
hand-over link's token: only who, which device and a link to the page where it waits.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# What happened (``CustodyEvent.kind``) and whom it is for.
REQUEST_MADE = "request_made"  # approvers: a request waits for them
REQUEST_APPROVED = "request_approved"  # the requester: usable now
REQUEST_REFUSED = "request_refused"  # the requester
BREAK_GLASS = "break_glass"  # auditors: a release waits for review
HANDOVER_MADE = "handover_made"  # the recipient: a link is on its way from the creator
HANDOVER_INTERCEPTION = "handover_interception"  # the creator: possible interception


@dataclass(frozen=True)
class CustodyEvent:
    kind: str
    # Usernames of the people to tell.
    recipients: tuple[str, ...]
    # Who caused it, and the device (``account/ProductKey/DeviceName``).
    actor: str
    device: str
    # The dashboard page that shows it (a path: the channel adds its own host).
    path: str
    # The request, break-glass release or hand-over it is about.
    object_id: int


_observers: list[Callable[[CustodyEvent], None]] = []


def custody_observer_add(observer: Callable[[CustodyEvent], None]) -> None:
    """Call ``observer(event)`` for every custody event from now on."""
    if observer not in _observers:
        _observers.append(observer)


def custody_observer_remove(observer: Callable[[CustodyEvent], None]) -> None:
    if observer in _observers:
        _observers.remove(observer)


def custody_event_announce(event: CustodyEvent) -> None:
    """Hand ``event`` to every observer. One that fails is logged and the rest still run: a
    channel that is down must not undo a decision already in the audit trail."""
    if not event.recipients:
        return
    for observer in list(_observers):
        try:
            observer(event)
        except Exception:
            logger.exception("a custody observer failed on %s %s", event.kind, event.object_id)
