"""Suppressing findings: a person with the fleet-settings permission decides that findings of a
code, on one device or every device of a product, need no attention until an end date.

A suppression needs a reason (the audit trail's reason rule) and an end date, is recorded in the
audit trail before it takes effect (the suppression and its event commit together), ends by
itself at its end date, and can be withdrawn (audited too). "Expired" is never suppressed
(``codes.NEVER_SUPPRESSED``). Which findings a suppression covers is kept on the findings
(``Finding.suppressed_until``), so pages filter without a join: ``suppressions_apply``.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from certadmin.accounts.api_accounts import account_allowed
from certadmin.accounts.roles import MANAGE_FLEET
from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.services import RequestContext, audit_record
from certadmin.findings.codes import FINDING_CODES, NEVER_SUPPRESSED
from certadmin.findings.models import OPEN_Q, Finding, Suppression
from certadmin.findings.versions import findings_changed
from certadmin.iot.identity import DeviceRef

# The longest a suppression may last: it must come up again for a decision.
MAX_SUPPRESSION = timedelta(days=366)


class SuppressionRefused(Exception):
    """The suppression was not made or withdrawn; ``message`` says why (translated)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def suppression_active_q(now: datetime) -> Q:
    return Q(withdrawn_at__isnull=True, ends_at__gt=now)


def suppressions_apply(
    *, account: str, product_key: str, iot_instance_id: str, now: datetime | None = None
) -> None:
    """Mark the product's open findings with the end of the latest active suppression that
    covers each (None: none covers it). Called after every change of the product's findings or
    suppressions; an ended suppression simply stops counting (``suppressed_until`` past)."""
    now = now or timezone.now()
    scope = {"account": account, "product_key": product_key, "iot_instance_id": iot_instance_id}
    findings = Finding.objects.filter(OPEN_Q, **scope)
    with transaction.atomic():
        findings.filter(suppressed_until__isnull=False).update(suppressed_until=None)
        active = Suppression.objects.filter(suppression_active_q(now), **scope).exclude(
            code__in=NEVER_SUPPRESSED
        )
        for suppression in active.order_by("ends_at"):
            covered = findings.filter(code=suppression.code)
            if suppression.device_name:
                covered = covered.filter(device_name=suppression.device_name)
            if suppression.subject:
                covered = covered.filter(subject=suppression.subject)
            # Ascending end dates: the latest one covering a finding is written last.
            covered.update(suppressed_until=suppression.ends_at)
        findings_changed(**scope)


def _device(suppression: Suppression) -> DeviceRef:
    return DeviceRef(
        suppression.product_key,
        suppression.device_name,
        suppression.iot_instance_id,
        suppression.account,
    )


def _may_manage(actor) -> None:
    if not actor.has_perm(MANAGE_FLEET):
        raise SuppressionRefused(_("Only fleet managers may suppress findings."))


def suppression_create(
    *,
    actor,
    context: RequestContext,
    code: str,
    account: str,
    product_key: str,
    iot_instance_id: str = "",
    device_name: str = "",
    subject: str = "",
    reason: str,
    ends_at: datetime,
) -> Suppression:
    """Suppress ``code`` on one device (or, with no ``device_name``, every device of the
    product) until ``ends_at``, recorded in the audit trail first. Raises
    ``SuppressionRefused`` (an attempt to suppress "expired" is recorded as refused) and
    ``AuditWriteError`` (then nothing is suppressed). ``reason`` is already clean
    (``audit.reasons.clean_reason``, which the form applies)."""
    _may_manage(actor)
    now = timezone.now()
    device = DeviceRef(product_key, device_name, iot_instance_id, account)
    if code in NEVER_SUPPRESSED:
        audit_record(
            action=AuditAction.FINDING_SUPPRESS,
            outcome=AuditOutcome.REFUSED,
            actor=actor,
            context=context,
            device=device,
            reason=reason,
            detail=f"{code}: expired findings are never suppressed",
        )
        raise SuppressionRefused(_("Expired certificates cannot be suppressed: renew them."))
    if code not in FINDING_CODES:
        raise SuppressionRefused(_("There is no finding code %(code)s.") % {"code": code[:48]})
    if not account_allowed(user=actor, account=account):
        raise SuppressionRefused(_("Choose one of the accounts you may use."))
    if not reason:
        raise SuppressionRefused(_("Give a reason: it is recorded in the audit trail."))
    if ends_at <= now:
        raise SuppressionRefused(_("The end date must be in the future."))
    if ends_at > now + MAX_SUPPRESSION:
        raise SuppressionRefused(_("A suppression lasts at most a year: choose an earlier end."))
    created: list[Suppression] = []

    def keep(event: AuditEvent) -> None:
        created.append(
            Suppression.objects.create(
                code=code,
                account=account,
                product_key=product_key,
                iot_instance_id=iot_instance_id,
                device_name=device_name,
                subject=subject,
                reason=reason,
                ends_at=ends_at,
                created_at=now,
                created_by=actor,
                created_by_username=actor.get_username(),
            )
        )

    audit_record(
        action=AuditAction.FINDING_SUPPRESS,
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        context=context,
        device=device,
        reason=reason,
        detail=f"{code}{' ' + subject[:64] if subject else ''} until "
        f"{ends_at.date().isoformat()}: suppressed",
        then=keep,
    )
    suppressions_apply(account=account, product_key=product_key, iot_instance_id=iot_instance_id)
    return created[0]


def suppression_withdraw(*, actor, context: RequestContext, suppression: Suppression) -> None:
    """End ``suppression`` now (audited first). Raises ``SuppressionRefused`` and
    ``AuditWriteError``."""
    _may_manage(actor)
    if not account_allowed(user=actor, account=suppression.account):
        raise SuppressionRefused(_("Choose one of the accounts you may use."))
    now = timezone.now()
    if suppression.withdrawn_at is not None or suppression.ends_at <= now:
        raise SuppressionRefused(_("This suppression has already ended."))

    def withdraw(event: AuditEvent) -> None:
        Suppression.objects.filter(pk=suppression.pk).update(
            withdrawn_at=now, withdrawn_by_username=actor.get_username()
        )

    audit_record(
        action=AuditAction.FINDING_UNSUPPRESS,
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        context=context,
        device=_device(suppression),
        detail=f"{suppression.code}: suppression withdrawn",
        then=withdraw,
    )
    suppressions_apply(
        account=suppression.account,
        product_key=suppression.product_key,
        iot_instance_id=suppression.iot_instance_id,
    )
