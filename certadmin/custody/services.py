"""Key custody: two-person approval with break-glass, and one-time hand-over links.

Every change is an audit event first: each row here is created or changed inside its event's
transaction (``audit_record``'s ``then``), so a change without its event cannot exist, and the
row that spends an approval or a link commits with the release event itself — exactly once,
and never without the key's record. A request's number and a hand-over's number are those of
the audit events that recorded their making.

No key is kept: a request or link names the device; the key is fetched from the platform when
it is used, through devices' ``key_release`` (fail closed, as every release).
"""

import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_variables

from certadmin.accounts.api_accounts import account_allowed
from certadmin.accounts.roles import APPROVE_KEY_RELEASE, REVEAL_PRIVATE_KEY, VIEW_AUDIT_TRAIL
from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.services import AuditWriteError, RequestContext, audit_record
from certadmin.custody import observers
from certadmin.custody.forms import KeyRequestForm
from certadmin.custody.models import BreakGlass, Delivery, HandOver, KeyApproval, KeyRequest, Notice
from certadmin.custody.rules import approvals_required
from certadmin.custody.selectors import custody_counts_forget
from certadmin.devices.downloads import DownloadFile, key_bundle_download
from certadmin.devices.key_release import RevealedKey, key_access_denied, key_reveal
from certadmin.iot.identity import DeviceRef

logger = logging.getLogger(__name__)


def _device_columns(device: DeviceRef) -> dict[str, str]:
    """The device columns every custody row carries (KeyDevice's fields)."""
    return {
        "account": device.account,
        "product_key": device.product_key,
        "device_name": device.device_name,
        "iot_instance_id": device.iot_instance_id,
    }


# The events no person causes (a request found past its time).
NO_REQUEST = RequestContext(ip_address=None, user_agent="")
# A PKCS#12 hand-over's second step: from the passphrase screen to the file.
DOWNLOAD_STEP = timedelta(minutes=5)
_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
INTERCEPTION_NOTICE = "interception"


class CustodyRefused(Exception):
    """Not done; ``message`` says why (translated), ``status`` is the page's. Already audited
    where it was an attempt at a key."""

    def __init__(self, message: str, *, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class _Spent(Exception):
    # Raised inside an event's transaction when the row changed under it (used, decided or
    # expired by a concurrent request): rolls the event back.
    pass


@dataclass(frozen=True)
class KeyCustody:
    """What the device page shows of custody (templates/custody/key_custody.html)."""

    approvals_required: int
    request_form: KeyRequestForm | None


def key_custody_rule(*, user, device: DeviceRef) -> KeyCustody:
    """The custody rule for ``device``'s key (devices' ``key_custody_rule_use``)."""
    required = approvals_required(settings.KEY_APPROVALS, account=device.account)
    return KeyCustody(
        approvals_required=required, request_form=KeyRequestForm() if required else None
    )


def _device_text(device: DeviceRef) -> str:
    return f"{device.account}/{device.product_key}/{device.device_name}"


def _usernames(queryset, *, exclude) -> tuple[str, ...]:
    return tuple(
        queryset.exclude(pk=exclude.pk).order_by("username").values_list("username", flat=True)
    )


def _announce(kind: str, *, recipients, actor, device: DeviceRef, path: str, object_id: int):
    observers.custody_event_announce(
        observers.CustodyEvent(
            kind=kind,
            recipients=tuple(recipients),
            actor=actor.get_username(),
            device=_device_text(device),
            path=path,
            object_id=object_id,
        )
    )


def approvers_of(*, requester, account: str) -> tuple[str, ...]:
    """Whom to tell of ``requester``'s request for a key of ``account``: active approvers
    other than the requester who may use that API account (``account_allowed``)."""
    users = get_user_model().objects.with_perm(APPROVE_KEY_RELEASE, backend=_MODEL_BACKEND)
    users = users.exclude(pk=requester.pk).order_by("username")
    return tuple(u.get_username() for u in users if account_allowed(user=u, account=account))


# --- Requests and approvals ------------------------------------------------------------------


def key_request_create(
    *,
    actor,
    device: DeviceRef,
    action: str,
    reason: str,
    ticket: str,
    recipient=None,
    delivery: str = "",
    context: RequestContext,
) -> KeyRequest:
    """Ask the approvers for ``device``'s key, for ``action`` (one of ``KeyRequest.ACTIONS``).

    ``reason`` and ``ticket`` are clean (``KeyRequestForm``). Raises ``CustodyRefused`` and
    ``AuditWriteError`` (then there is no request)."""
    if not actor.has_perm(REVEAL_PRIVATE_KEY):
        raise CustodyRefused(gettext("You are not allowed to access private keys."), status=403)
    required = approvals_required(settings.KEY_APPROVALS, account=device.account)
    if not required:
        raise CustodyRefused(gettext("Keys of this account need no approval: use the key form."))
    if action == "handover":
        _recipient_check(actor=actor, recipient=recipient)
    now = timezone.now()
    created: list[KeyRequest] = []

    def keep(event: AuditEvent) -> None:
        created.append(
            KeyRequest.objects.create(
                id=event.pk,
                **_device_columns(device),
                requester=actor,
                action=action,
                recipient=recipient if action == "handover" else None,
                delivery=delivery if action == "handover" else "",
                reason=reason,
                ticket=ticket,
                approvals_required=required,
                created_at=now,
                expires_at=now + timedelta(hours=settings.KEY_APPROVAL_HOURS),
            )
        )

    what = action
    if action == "handover":
        what = f"handover to {recipient.get_username()} ({delivery})"
    audit_record(
        action=AuditAction.KEY_REQUEST,
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        context=context,
        device=device,
        reason=reason,
        detail=f"{what}; {required} approval(s) needed" + (f"; ticket {ticket}" if ticket else ""),
        then=keep,
    )
    request = created[0]
    _announce(
        observers.REQUEST_MADE,
        recipients=approvers_of(requester=actor, account=device.account),
        actor=actor,
        device=device,
        path=reverse("custody:request", args=[request.pk]),
        object_id=request.pk,
    )
    return request


def key_requests_expire() -> int:
    """Record every request past its time as expired (an event each); how many were."""
    now = timezone.now()
    count = 0
    waiting = (KeyRequest.State.PENDING, KeyRequest.State.APPROVED)
    for request in KeyRequest.objects.filter(state__in=waiting, expires_at__lte=now):

        def expire(event: AuditEvent, pk: int = request.pk) -> None:
            changed = KeyRequest.objects.filter(pk=pk, state__in=waiting).update(
                state=KeyRequest.State.EXPIRED, decided_at=now
            )
            transaction.on_commit(custody_counts_forget)
            if not changed:
                raise _Spent

        try:
            audit_record(
                action=AuditAction.KEY_REQUEST_EXPIRE,
                outcome=AuditOutcome.SUCCESS,
                actor=None,
                context=NO_REQUEST,
                device=request.device,
                detail=f"request {request.pk}: expired",
                then=expire,
            )
            count += 1
        except _Spent:
            continue  # expired by a concurrent page
        except AuditWriteError:
            # Still usable by no one (every use checks the time); recorded on a later try.
            logger.error("the expiry of a key request could not be recorded")
            break
    return count


def key_request_decide(
    *, actor, key_request: KeyRequest, approve: bool, reason: str, context: RequestContext
) -> KeyRequest:
    """Approve or refuse ``key_request`` as ``actor``. The requester can never decide on their
    own request, whatever their permissions (a superuser's included). One refusal ends the
    request; the last approval needed makes it usable for ``KEY_APPROVAL_HOURS``. Raises
    ``CustodyRefused`` (attempts at one's own request recorded as denied) and
    ``AuditWriteError``."""
    action = AuditAction.KEY_REQUEST_APPROVE if approve else AuditAction.KEY_REQUEST_REFUSE
    if not actor.has_perm(APPROVE_KEY_RELEASE) or not account_allowed(
        user=actor, account=key_request.account
    ):
        # An approver decides only on the API accounts they may use.
        raise CustodyRefused(gettext("You are not allowed to approve key requests."), status=403)
    label = f"request {key_request.pk}"
    if key_request.requester_id == actor.pk:
        audit_record(
            action=action,
            outcome=AuditOutcome.DENIED,
            actor=actor,
            context=context,
            device=key_request.device,
            reason=reason,
            detail=f"{label}: the requester cannot approve their own request",
        )
        raise CustodyRefused(
            gettext("You made this request: someone else must decide on it."), status=403
        )
    now = timezone.now()
    if key_request.state != KeyRequest.State.PENDING or key_request.expires_at <= now:
        raise CustodyRefused(gettext("This request is no longer waiting for a decision."))
    if key_request.decisions.filter(approver=actor).exists():
        raise CustodyRefused(gettext("You have already decided on this request."))
    approvals = key_request.decisions.filter(approved=True).count() + (1 if approve else 0)

    def decide(event: AuditEvent) -> None:
        locked = KeyRequest.objects.select_for_update().get(pk=key_request.pk)
        already = locked.decisions.filter(approved=True).count()
        if (
            locked.state != KeyRequest.State.PENDING
            or locked.expires_at <= now
            or already + (1 if approve else 0) != approvals
        ):
            raise _Spent
        KeyApproval.objects.create(
            request=locked,
            approver=actor,
            approver_username=actor.get_username(),
            approved=approve,
            reason=reason,
            decided_at=now,
        )
        if not approve:
            locked.state, locked.decided_at = KeyRequest.State.REFUSED, now
        elif approvals >= locked.approvals_required:
            locked.state, locked.decided_at = KeyRequest.State.APPROVED, now
            locked.expires_at = now + timedelta(hours=settings.KEY_APPROVAL_HOURS)
        locked.save(update_fields=["state", "decided_at", "expires_at"])

    try:
        audit_record(
            action=action,
            outcome=AuditOutcome.SUCCESS,
            actor=actor,
            context=context,
            device=key_request.device,
            reason=reason,
            detail=f"{label} ({approvals} of {key_request.approvals_required}): "
            + ("approved" if approve else "refused"),
            then=decide,
        )
    except _Spent:
        raise CustodyRefused(
            gettext("Someone else decided on this request at the same moment: look again.")
        ) from None
    key_request.refresh_from_db()
    if key_request.state in (KeyRequest.State.APPROVED, KeyRequest.State.REFUSED):
        _announce(
            observers.REQUEST_APPROVED if approve else observers.REQUEST_REFUSED,
            recipients=(key_request.requester.get_username(),),
            actor=actor,
            device=key_request.device,
            path=reverse("custody:request", args=[key_request.pk]),
            object_id=key_request.pk,
        )
    return key_request


def key_request_usable(*, actor, key_request: KeyRequest) -> bool:
    """True when ``actor`` may use ``key_request`` now: theirs, approved, unused, in time."""
    return (
        key_request.requester_id == actor.pk
        and key_request.state == KeyRequest.State.APPROVED
        and key_request.expires_at > timezone.now()
    )


def key_request_refuse_use(
    *, actor, key_request: KeyRequest, action: AuditAction, context: RequestContext
) -> CustodyRefused:
    """Record an attempt to use a request that is not usable (refused, expired, used, not
    approved yet, someone else's), and say why."""
    key_access_denied(
        actor=actor,
        device=key_request.device,
        context=context,
        action=action,
        why=f"request {key_request.pk}: not approved, already used or expired",
    )
    return CustodyRefused(
        gettext("This request cannot be used: it is not approved, or already used or expired."),
        status=403,
    )


def _spend_request(*, key_request: KeyRequest, actor):
    """The ``then`` that uses an approved request, once."""

    def spend(event: AuditEvent) -> None:
        changed = KeyRequest.objects.filter(
            pk=key_request.pk,
            requester=actor,
            state=KeyRequest.State.APPROVED,
            expires_at__gt=timezone.now(),
        ).update(state=KeyRequest.State.USED, used_at=timezone.now())
        transaction.on_commit(custody_counts_forget)
        if not changed:
            raise _Spent

    return spend


@sensitive_variables("passphrase")
def key_request_release(
    *, actor, key_request: KeyRequest, passphrase: str, context: RequestContext
) -> RevealedKey | DownloadFile:
    """Use an approved request: fetch the key and release it as the request said, the request
    spent in the release's own record. The caller has run ``key_access_authorize``. Raises
    ``CustodyRefused`` (a request used meanwhile: recorded), ``KeyReleaseError`` and
    ``AuditWriteError``."""
    note = f"request {key_request.pk}"
    spend = _spend_request(key_request=key_request, actor=actor)
    try:
        if key_request.action == "reveal":
            return key_reveal(
                actor=actor,
                device=key_request.device,
                reason=key_request.reason,
                context=context,
                note=note,
                then=spend,
            )
        return key_bundle_download(
            actor=actor,
            device=key_request.device,
            kind=key_request.action,
            reason=key_request.reason,
            passphrase=passphrase,
            context=context,
            note=note,
            then=spend,
        )
    except _Spent:
        action = (
            AuditAction.KEY_REVEAL if key_request.action == "reveal" else AuditAction.KEY_DOWNLOAD
        )
        raise key_request_refuse_use(
            actor=actor, key_request=key_request, action=action, context=context
        ) from None


# --- Break-glass -----------------------------------------------------------------------------


@sensitive_variables("passphrase")
def break_glass_release(
    *,
    actor,
    device: DeviceRef,
    kind: str,
    reason: str,
    ticket: str,
    passphrase: str,
    context: RequestContext,
) -> RevealedKey | DownloadFile:
    """Release a key without approvals where approvals are required, marked for review: the
    release's record says break-glass, and a ``BreakGlass`` row waits for an auditor. The
    caller has run ``key_access_authorize`` with ``BreakGlassForm``. Raises ``CustodyRefused``,
    ``KeyReleaseError`` and ``AuditWriteError``."""
    if not approvals_required(settings.KEY_APPROVALS, account=device.account):
        raise CustodyRefused(gettext("Keys of this account need no approval: use the key form."))
    now = timezone.now()
    marked: list[BreakGlass] = []

    def mark(event: AuditEvent) -> None:
        marked.append(
            BreakGlass.objects.create(
                event_id=event.pk,
                **_device_columns(device),
                actor=actor,
                actor_username=actor.get_username(),
                action=kind,
                reason=reason,
                ticket=ticket,
                created_at=now,
            )
        )

    note = f"break-glass, review required; ticket {ticket}"
    if kind == "reveal":
        released = key_reveal(
            actor=actor, device=device, reason=reason, context=context, note=note, then=mark
        )
    else:
        released = key_bundle_download(
            actor=actor,
            device=device,
            kind=kind,
            reason=reason,
            passphrase=passphrase,
            context=context,
            note=note,
            then=mark,
        )
    auditors = get_user_model().objects.with_perm(VIEW_AUDIT_TRAIL, backend=_MODEL_BACKEND)
    _announce(
        observers.BREAK_GLASS,
        recipients=_usernames(auditors, exclude=actor),
        actor=actor,
        device=device,
        path=reverse("custody:overview"),
        object_id=marked[0].event_id,
    )
    return released


def break_glass_review(
    *, actor, break_glass: BreakGlass, note: str, context: RequestContext
) -> BreakGlass:
    """An auditor's review of a break-glass release (recorded). Nobody reviews their own."""
    if not actor.has_perm(VIEW_AUDIT_TRAIL):
        raise CustodyRefused(gettext("Only auditors review break-glass releases."), status=403)
    if break_glass.actor_id == actor.pk:
        raise CustodyRefused(gettext("Another auditor must review your own break-glass release."))
    if break_glass.reviewed_at is not None:
        raise CustodyRefused(gettext("This release has already been reviewed."))
    now = timezone.now()

    def review(event: AuditEvent) -> None:
        changed = BreakGlass.objects.filter(pk=break_glass.pk, reviewed_at__isnull=True).update(
            reviewed_at=now,
            reviewed_by_username=actor.get_username(),
            review_note=note,
            review_event_id=event.pk,
        )
        transaction.on_commit(custody_counts_forget)
        if not changed:
            raise _Spent

    try:
        audit_record(
            action=AuditAction.BREAK_GLASS_REVIEW,
            outcome=AuditOutcome.SUCCESS,
            actor=actor,
            context=context,
            device=break_glass.device,
            reason=note,
            detail=f"break-glass {break_glass.event_id}: reviewed",
            then=review,
        )
    except _Spent:
        raise CustodyRefused(gettext("This release has already been reviewed.")) from None
    break_glass.refresh_from_db()
    return break_glass


# --- Hand-over links -------------------------------------------------------------------------


def _token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@sensitive_variables("token")
def handover_passphrase(token: str) -> str:
    """The PKCS#12 passphrase of a hand-over's download step, derived from its token (which is
    kept only as a hash) under the server's secret: shown once, never stored."""
    digest = salted_hmac("certadmin.custody.handover-passphrase", token, algorithm="sha256")
    text = base64.b32encode(digest.digest()[:15]).decode("ascii").lower()  # 120 bits
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def _recipient_check(*, actor, recipient) -> None:
    if recipient is None or not recipient.is_active:
        raise CustodyRefused(gettext("The recipient must be an active user."))
    if recipient.pk == actor.pk:
        raise CustodyRefused(gettext("A hand-over is for someone else: reveal the key yourself."))


@dataclass(frozen=True)
class HandOverMade:
    handover: HandOver
    token: str

    def __repr__(self) -> str:
        return f"HandOverMade({self.handover.pk})"


def handover_create(
    *,
    actor,
    device: DeviceRef,
    recipient,
    delivery: str,
    reason: str,
    ticket: str,
    context: RequestContext,
    key_request: KeyRequest | None = None,
) -> HandOverMade:
    """A one-time link that gives ``recipient`` the key of ``device`` (``delivery``: a PKCS#12
    file or the key on the page), within ``KEY_HANDOVER_MINUTES``. Where approvals are
    required, only through an approved hand-over ``key_request`` (spent here). The token is
    returned once and kept only as its SHA-256. The caller has run ``key_access_authorize``.
    Raises ``CustodyRefused`` and ``AuditWriteError``."""
    if not actor.has_perm(REVEAL_PRIVATE_KEY):
        raise CustodyRefused(gettext("You are not allowed to access private keys."), status=403)
    _recipient_check(actor=actor, recipient=recipient)
    if delivery not in Delivery.values:
        raise CustodyRefused(gettext("Choose what the link gives."))
    required = approvals_required(settings.KEY_APPROVALS, account=device.account)
    if required and key_request is None:
        raise CustodyRefused(
            gettext("Keys of this account need approval: request a hand-over first."), status=403
        )
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    expires = now + timedelta(minutes=settings.KEY_HANDOVER_MINUTES)
    spend = _spend_request(key_request=key_request, actor=actor) if key_request else None
    made: list[HandOver] = []

    def keep(event: AuditEvent) -> None:
        if spend is not None:
            spend(event)
        made.append(
            HandOver.objects.create(
                id=event.pk,
                **_device_columns(device),
                token_sha256=_token_sha256(token),
                creator=actor,
                creator_username=actor.get_username(),
                recipient=recipient,
                recipient_username=recipient.get_username(),
                delivery=delivery,
                reason=reason,
                ticket=ticket,
                request=key_request,
                created_at=now,
                expires_at=expires,
            )
        )

    detail = f"to {recipient.get_username()} ({delivery}), until {expires:%Y-%m-%d %H:%M:%S} UTC"
    if key_request is not None:
        detail += f"; request {key_request.pk}"
    if ticket:
        detail += f"; ticket {ticket}"
    try:
        audit_record(
            action=AuditAction.HANDOVER_CREATE,
            outcome=AuditOutcome.SUCCESS,
            actor=actor,
            context=context,
            device=device,
            reason=reason,
            detail=detail,
            then=keep,
        )
    except _Spent:
        raise key_request_refuse_use(
            actor=actor,
            key_request=key_request,
            action=AuditAction.HANDOVER_CREATE,
            context=context,
        ) from None
    handover = made[0]
    _announce(
        observers.HANDOVER_MADE,
        recipients=(recipient.get_username(),),
        actor=actor,
        device=device,
        path=reverse("custody:overview"),
        object_id=handover.pk,
    )
    return HandOverMade(handover=handover, token=token)


@sensitive_variables("token")
def handover_find(token: str) -> HandOver | None:
    """The hand-over whose link carries ``token``, or None."""
    if not token or len(token) > 100:
        return None
    return HandOver.objects.filter(token_sha256=_token_sha256(token)).first()


def _interception(*, handover: HandOver, actor, why: str, context: RequestContext) -> None:
    """A link used twice, or by someone else: recorded, and the creator told (dashboard and
    observers)."""
    try:
        audit_record(
            action=AuditAction.HANDOVER_REUSE,
            outcome=AuditOutcome.DENIED,
            actor=actor,
            context=context,
            device=handover.device,
            detail=f"hand-over {handover.pk}: {why}",
        )
    except AuditWriteError:
        logger.error("a refused hand-over could not be recorded")
    Notice.objects.create(
        user=handover.creator,
        handover=handover,
        text=INTERCEPTION_NOTICE,
        created_at=timezone.now(),
    )
    _announce(
        observers.HANDOVER_INTERCEPTION,
        recipients=(handover.creator_username,),
        actor=actor,
        device=handover.device,
        path=reverse("custody:overview"),
        object_id=handover.pk,
    )


def handover_admit(*, actor, handover: HandOver, context: RequestContext) -> None:
    """Let ``actor`` go on with ``handover``'s link, or raise ``CustodyRefused`` (recorded): a
    link already opened, or opened by someone other than its recipient, is a possible
    interception (the creator is told); an expired one is refused."""
    if handover.opened_at is not None:
        _interception(
            handover=handover,
            actor=actor,
            why="used before: possible interception",
            context=context,
        )
        raise CustodyRefused(
            gettext("This link has already been used. Its maker has been told."), status=410
        )
    if handover.recipient_id != actor.pk:
        _interception(
            handover=handover,
            actor=actor,
            why="made for another person: possible interception",
            context=context,
        )
        raise CustodyRefused(
            gettext("This link was made for someone else. Its maker has been told."), status=403
        )
    if handover.expires_at <= timezone.now():
        key_access_denied(
            actor=actor,
            device=handover.device,
            context=context,
            action=AuditAction.HANDOVER_EXPIRED,
            why=f"hand-over {handover.pk}: expired",
        )
        raise CustodyRefused(
            gettext("This link has expired. Ask %(name)s for a new one.")
            % {"name": handover.creator_username},
            status=410,
        )


def _open_once(*, handover: HandOver, **changes):
    """The ``then`` that opens the link, once and in time."""

    def open_link(event: AuditEvent) -> None:
        now = timezone.now()
        changed = HandOver.objects.filter(
            pk=handover.pk, opened_at__isnull=True, expires_at__gt=now
        ).update(opened_at=now, **changes)
        transaction.on_commit(custody_counts_forget)
        if not changed:
            raise _Spent

    return open_link


@dataclass(frozen=True)
class DownloadStep:
    """The passphrase screen of a PKCS#12 hand-over: the passphrase, shown once, and the token
    that takes the recipient to the file."""

    token: str
    passphrase: str

    def __repr__(self) -> str:
        return "DownloadStep()"


def handover_open(
    *, actor, handover: HandOver, context: RequestContext
) -> RevealedKey | DownloadStep:
    """Use the link: the key on the page (released now), or the passphrase screen of a PKCS#12
    file (the file is the next step, ``handover_download``). The caller has run
    ``handover_admit`` and re-authenticated ``actor``. A second use raises ``CustodyRefused``
    (an interception: recorded, creator told); also ``KeyReleaseError``, ``AuditWriteError``.
    """
    try:
        if handover.delivery == Delivery.REVEAL:
            return key_reveal(
                actor=actor,
                device=handover.device,
                reason=handover.reason,
                context=context,
                note=f"hand-over {handover.pk} from {handover.creator_username}",
                then=_open_once(handover=handover),
            )
        token = secrets.token_urlsafe(32)
        audit_record(
            action=AuditAction.HANDOVER_OPEN,
            outcome=AuditOutcome.SUCCESS,
            actor=actor,
            context=context,
            device=handover.device,
            detail=f"hand-over {handover.pk}: opened",
            then=_open_once(
                handover=handover,
                download_sha256=_token_sha256(token),
                download_expires_at=timezone.now() + DOWNLOAD_STEP,
            ),
        )
        return DownloadStep(token=token, passphrase=handover_passphrase(token))
    except _Spent:
        handover.refresh_from_db()
        handover_admit(actor=actor, handover=handover, context=context)
        raise CustodyRefused(gettext("This link has already been used."), status=410) from None


@sensitive_variables("token")
def handover_download(*, actor, token: str, context: RequestContext) -> DownloadFile:
    """The PKCS#12 file of an opened hand-over, once, under the passphrase its screen showed.
    Raises ``CustodyRefused`` (recorded; a second download is an interception),
    ``KeyReleaseError`` and ``AuditWriteError``."""
    handover = (
        HandOver.objects.filter(download_sha256=_token_sha256(token)).first()
        if token and len(token) <= 100
        else None
    )
    if handover is None:
        raise CustodyRefused(gettext("This download is not known."), status=404)
    now = timezone.now()
    if handover.downloaded_at is not None or handover.recipient_id != actor.pk:
        why = (
            "used before: possible interception"
            if handover.downloaded_at is not None
            else "made for another person: possible interception"
        )
        _interception(handover=handover, actor=actor, why=why, context=context)
        raise CustodyRefused(
            gettext("This download has already been used. Its maker has been told."), status=410
        )
    if handover.download_expires_at is None or handover.download_expires_at <= now:
        key_access_denied(
            actor=actor,
            device=handover.device,
            context=context,
            action=AuditAction.HANDOVER_EXPIRED,
            why=f"hand-over {handover.pk}: expired",
        )
        raise CustodyRefused(gettext("This download has expired."), status=410)

    def downloaded(event: AuditEvent) -> None:
        changed = HandOver.objects.filter(pk=handover.pk, downloaded_at__isnull=True).update(
            downloaded_at=timezone.now()
        )
        transaction.on_commit(custody_counts_forget)
        if not changed:
            raise _Spent

    try:
        return key_bundle_download(
            actor=actor,
            device=handover.device,
            kind="p12",
            reason=handover.reason,
            passphrase=handover_passphrase(token),
            context=context,
            note=f"hand-over {handover.pk} from {handover.creator_username}",
            then=downloaded,
        )
    except _Spent:
        _interception(
            handover=handover,
            actor=actor,
            why="used before: possible interception",
            context=context,
        )
        raise CustodyRefused(gettext("This download has already been used."), status=410) from None


def notice_dismiss(*, user, notice_id: int) -> None:
    Notice.objects.filter(pk=notice_id, user=user, dismissed_at__isnull=True).update(
        dismissed_at=timezone.now()
    )
    transaction.on_commit(custody_counts_forget)
