"""Writing to the audit trail: one hash-chained row per security event (see ``chain``), and the
record of each verification run.
"""

import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from certadmin.audit.chain import GENESIS_HASH, ChainReport, event_hash
from certadmin.audit.checkpoints import Checkpoint, checkpoint_event_detail
from certadmin.audit.models import (
    AuditAction,
    AuditEvent,
    AuditOutcome,
    ChainVerification,
)
from certadmin.http.client_address import client_address, ip_address_normalised

logger = logging.getLogger(__name__)

# Arbitrary constant naming "the audit chain head" among PostgreSQL advisory locks.
CHAIN_LOCK_ID = 0x6175_6469_7463_6861  # "auditcha"
LOCK_TIMEOUT = "5s"


class AuditWriteError(Exception):
    """The audit record could not be written and committed; the audited action must not proceed."""


@dataclass(frozen=True)
class RequestContext:
    """Where a request came from, as recorded with each event."""

    ip_address: str | None
    user_agent: str


def request_context(request: HttpRequest) -> RequestContext:
    """The client address (behind the trusted proxies, normalised) and user agent (made
    storable) of a request."""
    return RequestContext(
        ip_address=client_address(request),
        user_agent=_clean_text("user_agent", request.META.get("HTTP_USER_AGENT", "")),
    )


def _clean_text(name: str, value: str) -> str:
    # PostgreSQL refuses NUL in text and over-long values: either would make the write fail and
    # the audited action fail closed over a cosmetic problem.
    value = str(value).replace("\x00", "\ufffd")
    max_length = AuditEvent._meta.get_field(name).max_length
    return value[:max_length] if max_length else value


def audit_record(
    *,
    action: AuditAction,
    outcome: AuditOutcome,
    actor: AbstractBaseUser | AnonymousUser | None,
    context: RequestContext,
    product_key: str = "",
    device_name: str = "",
    iot_instance_id: str = "",
    cert_sn: str = "",
    certificate_sha256: str = "",
    key_fingerprint: str = "",
    reason: str = "",
    detail: str = "",
    platform_code: str = "",
    platform_request_id: str = "",
    account: str = "",
) -> AuditEvent:
    """Append one event to the chain and commit it before returning.

    Runs in its own transaction: callers must not be inside ``transaction.atomic`` (the record
    has to be durable before, say, a private key leaves the server). Appends are serialized so
    the chain never forks: on PostgreSQL by a transaction-scoped advisory lock, on SQLite by the
    write lock that ``BEGIN IMMEDIATE`` takes (see settings). Raises ``AuditWriteError`` when the
    row cannot be written or committed; its message carries no event data.
    """
    if not settings.AUDIT_KEYS:
        # Production with no CERTADMIN_AUDIT_KEYS (settings allow it so command-line lookups
        # run): an unsealed row must not be written, so the audited action does not happen.
        logger.warning("audit record refused: no audit key is configured")
        raise AuditWriteError("no audit key is configured (CERTADMIN_AUDIT_KEYS)")
    authenticated = actor is not None and actor.is_authenticated
    text = {
        "actor_username": actor.get_username() if authenticated else "",
        "product_key": product_key,
        "device_name": device_name,
        "iot_instance_id": iot_instance_id,
        "cert_sn": cert_sn,
        "certificate_sha256": certificate_sha256,
        "key_fingerprint": key_fingerprint,
        "reason": reason,
        "detail": detail,
        "user_agent": context.user_agent,
        "platform_code": platform_code,
        "platform_request_id": platform_request_id,
        "account": account,
    }
    event = AuditEvent(
        actor_id=actor.pk if authenticated else None,
        action=AuditAction(action).value,
        outcome=AuditOutcome(outcome).value,
        ip_address=ip_address_normalised(context.ip_address or ""),
        **{name: _clean_text(name, value) for name, value in text.items()},
    )
    try:
        with transaction.atomic(durable=True):
            head_id, head_hash, head_time = _chain_head_locked()
            event.prev_hash = head_hash
            # Stamped under the lock, and never before the head's time (a clock stepped back
            # gives the head's time): times never go backwards along the chain, which lets the
            # auditor's date filters ask for an id range (selectors.events_filtered).
            now = timezone.now()
            event.created_at = now if head_time is None or now >= head_time else head_time
            event.key_id = settings.AUDIT_KEY_ID
            event.entry_hash = event_hash(event)
            event.save(force_insert=True)
            _check_linked(event=event, head_id=head_id)
    except RuntimeError as exc:
        # transaction.atomic(durable=True) inside a caller's transaction: the record would only
        # be committed with the caller's work, perhaps never.
        logger.warning("audit record refused: audit_record was called inside a transaction")
        raise AuditWriteError("audit_record must not be called inside a transaction") from exc
    except DatabaseError as exc:
        logger.warning(
            "audit record could not be written (%s; action=%s outcome=%s)",
            type(exc).__name__,
            event.action,
            event.outcome,
        )
        raise AuditWriteError("the audit record could not be written") from exc
    # Which event, not what it says: no reason, detail or actor text in a log line.
    logger.info(
        "audit event %s %s %s",
        event.pk,
        event.action,
        event.outcome,
        extra={
            "event": "audit",
            "audit_event_id": event.pk,
            "action": event.action,
            "outcome": event.outcome,
            "user_id": event.actor_id,
        },
    )
    return event


def _chain_head_locked() -> tuple[int | None, str, datetime | None]:
    """Serialize appenders, then read the current head: (id, entry_hash, created_at), or the
    genesis."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])
    head = AuditEvent.objects.order_by("-id").values_list("id", "entry_hash", "created_at").first()
    return head if head is not None else (None, GENESIS_HASH, None)


def _check_linked(*, event: AuditEvent, head_id: int | None) -> None:
    """Refuse (and roll back) if a row slipped in between the head we read and our row."""
    between = AuditEvent.objects.filter(id__lt=event.id)
    if head_id is not None:
        between = between.filter(id__gt=head_id)
    if between.exists():
        logger.warning("audit record refused: the chain head moved during the append")
        raise AuditWriteError("the audit chain head moved during the append")


def chain_verification_record(
    *,
    report: ChainReport,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    context: RequestContext | None = None,
) -> ChainVerification:
    """Keep the result of one verification run, and append it to the trail as an event (by the
    management command when ``actor`` is None).

    The run is kept even when its event cannot be written: a verification discloses nothing,
    and its finding must not be lost over a second problem (which is logged).
    """
    verification = ChainVerification.objects.create(
        checked_at=timezone.now(),
        run_by=actor.get_username() if actor is not None and actor.is_authenticated else "",
        # The report's fields are the model's, by name.
        **asdict(report),
    )
    # English, like every detail: the chain hashes the stored text.
    parts = [
        f"run {verification.pk}",
        "intact" if report.ok else f"broken ({report.problem})",
        f"{report.checked} rows",
        f"head {report.head_hash or '-'}",
    ]
    if report.expected_head:
        parts.append(f"anchor {report.expected_head}")
    if actor is None:
        parts.append("management command")
    try:
        audit_record(
            action=AuditAction.CHAIN_VERIFY,
            outcome=AuditOutcome.SUCCESS if report.ok else AuditOutcome.FAILED,
            actor=actor,
            context=context or RequestContext(ip_address=None, user_agent=""),
            detail="; ".join(parts),
        )
    except AuditWriteError:
        logger.error("the verification run %s could not be recorded as an event", verification.pk)
    return verification


def trail_export_record(
    *,
    actor: AbstractBaseUser,
    context: RequestContext,
    filters: dict,
    head_id: int | None,
    head_hash: str,
) -> AuditEvent:
    """Record that ``actor`` exported the events matching ``filters`` up to the given chain head.
    Raises ``AuditWriteError``: then there is no export (reading the trail is itself audited)."""
    given = ", ".join(
        f"{name}={'|'.join(value) if isinstance(value, list) else value}"
        for name, value in filters.items()
        if value
    )
    return audit_record(
        action=AuditAction.TRAIL_EXPORT,
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        context=context,
        detail=f"up to row {head_id or '-'} head {head_hash or '-'}; filters: {given or 'none'}",
    )


def chain_checkpoint_record(*, checkpoint: Checkpoint) -> AuditEvent:
    """Record in the trail that ``checkpoint`` was written (by ``audit_checkpoint``): the keyed
    chain then lists every checkpoint ever made, so one deleted from the directory is found.
    Raises ``AuditWriteError``."""
    return audit_record(
        action=AuditAction.CHAIN_CHECKPOINT,
        outcome=AuditOutcome.SUCCESS,
        actor=None,
        context=RequestContext(ip_address=None, user_agent=""),
        detail=checkpoint_event_detail(checkpoint),
    )
