"""Writing to the audit trail: one hash-chained row per security event (see ``chain``), and the
record of each verification run.
"""

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext

from certadmin.audit.checkpoints import Checkpoint, checkpoint_event_detail
from certadmin.audit.hash_chain import (
    GENESIS_HASH,
    ChainReport,
    event_hash,
    field_digest,
    redaction_detail,
)
from certadmin.audit.models import (
    REDACTABLE_FIELDS,
    AuditAction,
    AuditEvent,
    AuditOutcome,
    ChainVerification,
)
from certadmin.audit.planner import audit_names_count
from certadmin.audit.reasons import clean_reason
from certadmin.http.client_address import client_address, ip_address_normalised
from certadmin.iot.identity import DeviceRef

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
    device: DeviceRef | None = None,
    cert_sn: str = "",
    certificate_sha256: str = "",
    key_fingerprint: str = "",
    reason: str = "",
    detail: str = "",
    platform_code: str = "",
    platform_request_id: str = "",
    then: Callable[[AuditEvent], None] | None = None,
) -> AuditEvent:
    """Append one event to the chain and commit it before returning.

    Runs in its own transaction: callers must not be inside ``transaction.atomic`` (the record
    has to be durable before, say, a private key leaves the server). Appends are serialized so
    the chain never forks: on PostgreSQL by a transaction-scoped advisory lock, on SQLite by the
    write lock that ``BEGIN IMMEDIATE`` takes (see settings). Raises ``AuditWriteError`` when the
    row cannot be written or committed; its message carries no event data. ``then(event)``
    runs in the same transaction after the append: what it raises rolls both back.
    ``device``: the device (or, with no DeviceName, the product) the event is about, with its
    instance and API account; None for an event about no device.
    """
    if not settings.AUDIT_KEYS:
        # Production with no CERTADMIN_AUDIT_KEYS (settings allow it so command-line lookups
        # run): an unsealed row must not be written, so the audited action does not happen.
        logger.warning("audit record refused: no audit key is configured")
        raise AuditWriteError("no audit key is configured (CERTADMIN_AUDIT_KEYS)")
    authenticated = actor is not None and actor.is_authenticated
    text = {
        "actor_username": actor.get_username() if authenticated else "",
        "product_key": device.product_key if device else "",
        "device_name": device.device_name if device else "",
        "iot_instance_id": device.iot_instance_id if device else "",
        "cert_sn": cert_sn,
        "certificate_sha256": certificate_sha256,
        "key_fingerprint": key_fingerprint,
        "reason": reason,
        "detail": detail,
        "user_agent": context.user_agent,
        "platform_code": platform_code,
        "platform_request_id": platform_request_id,
        "account": device.account if device else "",
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
            # Hash version 4: the chain covers these digests instead of the texts (keyed rows
            # only; an unkeyed one is what rows looked like before keys, in tests).
            for name in REDACTABLE_FIELDS if event.key_id else ():
                key = settings.AUDIT_KEYS[event.key_id]
                digest = field_digest(name=name, text=getattr(event, name), key=key)
                setattr(event, f"{name}_digest", digest)
            event.entry_hash = event_hash(event)
            event.save(force_insert=True)
            _check_linked(event=event, head_id=head_id)
            # The list's partial name filters look names up there (selectors).
            audit_names_count(event=event, connection=connection)
            if then is not None:
                then(event)
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


class AuditRedactionError(Exception):
    """A redaction that was not made; the message (translated) says why, for the person asking."""


class AuditRedactionDenied(AuditRedactionError):
    """The person asking may not redact (only superusers may); the attempt is recorded."""


def audit_field_redact(
    *,
    actor: AbstractBaseUser,
    event_id: int,
    field: str,
    reason: str,
    context: RequestContext,
) -> AuditEvent:
    """Redact (blank) the text ``field`` of event ``event_id``: append a FIELD_REDACT event by
    ``actor`` with their own ``reason``, then blank the text and mark it redacted by that
    event, in one transaction. The row still verifies: its hash covers the text's keyed digest
    (hash version 4), and the verifier accepts a blanked text only with its redaction event.

    Superusers only: anyone else's attempt is recorded as denied (``AuditRedactionDenied``).
    Raises ``AuditRedactionError`` for a field that cannot be redacted (unknown, empty, already
    redacted, or of a row older than version 4, whose hash covers the text itself) or an
    invalid reason, and ``AuditWriteError`` when nothing could be recorded.
    """
    target = AuditEvent.objects.filter(pk=event_id).first()
    # The redaction is about the event's device, exactly as that event names it.
    device = DeviceRef(
        **{
            name: getattr(target, name) if target is not None else ""
            for name in ("product_key", "device_name", "iot_instance_id", "account")
        }
    )
    if not (actor.is_authenticated and actor.is_active and actor.is_superuser):
        audit_record(
            action=AuditAction.FIELD_REDACT,
            outcome=AuditOutcome.DENIED,
            actor=actor,
            context=context,
            detail=f"not a superuser: redact {field or '-'} of event {event_id}",
            device=device,
        )
        raise AuditRedactionDenied(gettext("Only a superuser can redact audit events."))
    if field not in REDACTABLE_FIELDS:
        raise AuditRedactionError(
            gettext("Only the reason or the CertSN of an event can be redacted.")
        )
    if target is None:
        raise AuditRedactionError(gettext("There is no audit event #%(id)s.") % {"id": event_id})
    detail = redaction_detail(event_id=target.pk, field=field)
    _redactable_check(target, field)
    try:
        reason = clean_reason(reason)
    except ValidationError as error:
        raise AuditRedactionError(" ".join(error.messages)) from None

    def blank(redaction: AuditEvent) -> None:
        # The one UPDATE the database's triggers let through (see append_only), and only while
        # the text is there and unmarked: a concurrent redaction of it rolls this one back.
        table = connection.ops.quote_name(AuditEvent._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {field} = '', {field}_redacted_by = %s "  # noqa: S608
                f"WHERE id = %s AND {field} <> '' AND {field}_digest <> '' "
                f"AND {field}_redacted_by IS NULL",
                [redaction.pk, target.pk],
            )
            if cursor.rowcount != 1:
                raise AuditRedactionError(
                    gettext("Event #%(id)s changed meanwhile: nothing was redacted.")
                    % {"id": target.pk}
                )

    return audit_record(
        action=AuditAction.FIELD_REDACT,
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        context=context,
        reason=reason,
        detail=detail,
        then=blank,
        device=device,
    )


def _redactable_check(target: AuditEvent, field: str) -> None:
    """Raise ``AuditRedactionError`` unless ``field`` of ``target`` can be redacted now."""
    params = {"id": target.pk, "field": AuditEvent._meta.get_field(field).verbose_name}
    if getattr(target, f"{field}_redacted_by") is not None:
        raise AuditRedactionError(
            gettext("The %(field)s of event #%(id)s is already redacted (by event #%(by)s).")
            % {**params, "by": getattr(target, f"{field}_redacted_by")}
        )
    if not getattr(target, f"{field}_digest"):
        raise AuditRedactionError(
            gettext(
                "Event #%(id)s was written before the chain covered digests of its texts: its "
                "hash covers the %(field)s itself, so blanking it would break the chain. It "
                "cannot be redacted."
            )
            % params
        )
    if not getattr(target, field):
        raise AuditRedactionError(
            gettext("The %(field)s of event #%(id)s is empty: there is nothing to redact.") % params
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
