"""The audit trail: one append-only, hash-chained table of security events, and the equally
append-only history of its verification.

Rows are appended only by ``certadmin.audit.services.audit_record``, which links each row to the
one before it. Nothing here can change or remove a row of either table: the model, its queryset
and (see ``append_only``) database triggers all refuse.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from certadmin.accounts.roles import model_permissions
from certadmin.audit.detail_text import detail_display

# The free-text fields the chain covers through a keyed digest (hash version 4), so that one of
# them can be redacted without breaking the chain: each has a ``<name>_digest`` and a
# ``<name>_redacted_by`` column (see ``certadmin.audit.hash_chain`` and ``redaction``).
REDACTABLE_FIELDS = ("reason", "cert_sn")


class AuditImmutableError(Exception):
    """Raised on any attempt to change or remove audit events through the ORM."""


class AppendOnlyQuerySet(models.QuerySet):
    """Read-only in bulk: bulk writes would bypass the hash chain or rewrite history."""

    def update(self, **kwargs):
        raise AuditImmutableError("audit records cannot be updated")

    def delete(self):
        raise AuditImmutableError("audit records cannot be deleted")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AuditImmutableError("audit records cannot be updated")

    def bulk_create(self, objs, *args, **kwargs):
        raise AuditImmutableError("audit records are appended one at a time")

    def update_or_create(self, defaults=None, create_defaults=None, **kwargs):
        raise AuditImmutableError("audit records cannot be updated")


class AppendOnlyModel(models.Model):
    """A row is written once (``save`` of a new row) and never changed or removed."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise AuditImmutableError("audit records cannot be changed once written")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditImmutableError("audit records cannot be deleted")


class AuditAction(models.TextChoices):
    KEY_REVEAL = "key_reveal", _("Private key reveal")
    KEY_DOWNLOAD = "key_download", _("Key bundle download")
    CERT_DOWNLOAD = "cert_download", _("Certificate download")
    CERT_EXPORT = "cert_export", _("Bulk certificate export")
    TRAIL_EXPORT = "trail_export", _("Audit trail export")
    CHAIN_VERIFY = "chain_verify", _("Audit chain verification")
    FIELD_REDACT = "field_redact", _("Audit field redaction")
    CHAIN_CHECKPOINT = "chain_checkpoint", _("Audit chain checkpoint")
    SCHEDULE_SET = "schedule_set", _("Sync schedule set")
    SCHEDULE_DELETE = "schedule_delete", _("Sync schedule removal")
    FINDING_SUPPRESS = "finding_suppress", _("Finding suppression")
    FINDING_UNSUPPRESS = "finding_unsuppress", _("Finding suppression withdrawn")
    KEY_LOOKUP = "key_lookup", _("Key lookup")
    CUSTODY_REPORT = "custody_report", _("Custody report export")
    NOTIFICATION_ROUTE_SET = "notification_route_set", _("Notification route set")
    NOTIFICATION_ROUTE_DELETE = "notification_route_delete", _("Notification route removal")
    NOTIFICATION_CHANNEL_SET = "notification_channel_set", _("Notification channel set")
    NOTIFICATION_CHANNEL_DELETE = "notification_channel_delete", _("Notification channel removal")
    NOTIFICATION_SEND = "notification_send", _("Notification sent")
    NOTIFICATION_TEST = "notification_test", _("Notification test message")
    KEY_REQUEST = "key_request", _("Key release request")
    KEY_REQUEST_APPROVE = "key_request_approve", _("Key release approval")
    KEY_REQUEST_REFUSE = "key_request_refuse", _("Key release refusal")
    KEY_REQUEST_EXPIRE = "key_request_expire", _("Key release request expiry")
    BREAK_GLASS_REVIEW = "break_glass_review", _("Break-glass review")
    HANDOVER_CREATE = "handover_create", _("Key hand-over link made")
    HANDOVER_OPEN = "handover_open", _("Key hand-over link opened")
    HANDOVER_REUSE = "handover_reuse", _("Key hand-over link used again or by another person")
    HANDOVER_EXPIRED = "handover_expired", _("Key hand-over link used after it expired")


class AuditOutcome(models.TextChoices):
    """How an attempt ended. A person's slip (bad input: no reason, an unusable passphrase) is
    REFUSED; a request the policy does not allow (no permission, a missing or wrong password) is
    DENIED; an allowed request that the platform or the audit store let down is FAILED."""

    SUCCESS = "success", _("Success")
    REFUSED = "refused", _("Refused (bad input)")
    DENIED = "denied", _("Denied")
    FAILED = "failed", _("Failed")


class AuditEvent(AppendOnlyModel):
    """One security event. Rows are written once and never changed or removed."""

    created_at = models.DateTimeField(_("time"), db_index=True)
    # Who, as they were at the time: no foreign key, so later user changes leave this intact.
    actor_id = models.BigIntegerField(_("user id"), null=True, blank=True)
    actor_username = models.CharField(_("username"), max_length=150, blank=True, db_index=True)
    action = models.CharField(_("action"), max_length=32, choices=AuditAction.choices)
    outcome = models.CharField(_("outcome"), max_length=16, choices=AuditOutcome.choices)
    product_key = models.CharField(_("ProductKey"), max_length=64, blank=True)
    device_name = models.CharField(_("DeviceName"), max_length=64, blank=True)
    iot_instance_id = models.CharField(_("IotInstanceId"), max_length=128, blank=True)
    cert_sn = models.CharField(_("CertSN"), max_length=128, blank=True)
    certificate_sha256 = models.CharField(_("certificate SHA-256"), max_length=95, blank=True)
    # Identifies the key without revealing it: SHA-256 of its SubjectPublicKeyInfo.
    key_fingerprint = models.CharField(_("key fingerprint"), max_length=95, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    detail = models.CharField(_("detail"), max_length=255, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True)
    platform_code = models.CharField(_("platform Code"), max_length=128, blank=True)
    platform_request_id = models.CharField(_("platform RequestId"), max_length=128, blank=True)
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    # Which audit key sealed the row (HMAC-SHA-256); empty for rows written before the chain was
    # keyed (plain SHA-256). The key itself is never stored: see ``certadmin.audit.hmac_keys``.
    key_id = models.CharField(_("key id"), max_length=32, blank=True, default="")
    # The named API account (CERTADMIN_ACCOUNTS) the event concerns; empty for events that
    # concern none (logins, audit-trail work) and for rows written before accounts existed.
    account = models.CharField(_("API account"), max_length=32, blank=True, default="")
    # Hash version 4: the HMAC-SHA-256 of the reason and of the CertSN under the row's audit key
    # (``chain.field_digest``). The chain covers these instead of the texts, so a text can be
    # redacted (blanked) while the row still verifies. Empty in older rows, whose hash covers
    # the texts themselves.
    reason_digest = models.CharField(_("reason digest"), max_length=64, blank=True, default="")
    cert_sn_digest = models.CharField(_("CertSN digest"), max_length=64, blank=True, default="")
    # The FIELD_REDACT event that blanked the text (the only change the database allows to a
    # row: see ``append_only``). Not covered by the hash; the verifier checks each against the
    # redaction event it names.
    reason_redacted_by = models.BigIntegerField(_("reason redacted by"), null=True, blank=True)
    cert_sn_redacted_by = models.BigIntegerField(_("CertSN redacted by"), null=True, blank=True)
    entry_hash = models.CharField(_("hash"), max_length=64, unique=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["product_key", "device_name", "-id"], name="audit_device_idx"),
            # The auditor's filter form may name a DeviceName without its ProductKey.
            models.Index(fields=["device_name", "-id"], name="audit_device_name_idx"),
            models.Index(fields=["action", "outcome", "-id"], name="audit_action_idx"),
            # Newest first within one action, or one product's outcome, without a sort of
            # every match (SQLite, which keeps no statistics, otherwise sorts them all).
            models.Index(fields=["action", "-id"], name="audit_action_id_idx"),
            models.Index(
                fields=["product_key", "outcome", "-id"], name="audit_product_outcome_idx"
            ),
            # "Who has seen this key?" (``key_lookup``): the events naming a key pair or a
            # certificate, among millions that name none.
            models.Index(
                fields=["key_fingerprint"],
                condition=~models.Q(key_fingerprint=""),
                name="audit_key_fingerprint_idx",
            ),
            models.Index(
                fields=["certificate_sha256"],
                condition=~models.Q(certificate_sha256=""),
                name="audit_certificate_sha256_idx",
            ),
            # One device's or one user's events of some actions, and one product's events,
            # newest first without sorting the matches (issue 24).
            models.Index(fields=["device_name", "action", "-id"], name="audit_device_action_idx"),
            models.Index(fields=["actor_username", "action", "-id"], name="audit_user_action_idx"),
            models.Index(fields=["product_key", "-id"], name="audit_product_id_idx"),
        ]
        default_permissions = ("view",)
        permissions = model_permissions("audit", "auditevent")
        constraints = [
            # A chain cannot fork: no two rows may follow the same row.
            models.UniqueConstraint(fields=["prev_hash"], name="audit_prev_hash_unique"),
            # The verifier walks the chain by id: an id the database did not assign (below 1,
            # or not above every stored id: see ``append_only``) is refused.
            models.CheckConstraint(condition=models.Q(id__gt=0), name="audit_event_id_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.outcome} {self.actor_username}"

    @property
    def detail_shown(self) -> str:
        """The detail in the active language (the stored text stays English)."""
        return detail_display(self.detail)


class ChainProblem(models.TextChoices):
    """Why a verification run found the chain broken."""

    EDITED = "edited", _("A row was edited")
    UNLINKED = "unlinked", _("A row does not follow the row before it")
    FIRST_UNLINKED = "first_unlinked", _("The first row does not start the chain")
    ANCHOR_MISSING = "anchor_missing", _("The anchored hash is not in the chain")
    KEY_UNKNOWN = "key_unknown", _("A row is sealed with a key not configured here")
    UNKEYED = "unkeyed", _("An unkeyed row follows keyed rows")
    UNKEYED_NOT_LEGACY = "unkeyed_not_legacy", _("An unkeyed row is not a legacy row")
    NO_KEYED_ROW = "no_keyed_row", _("No row is sealed with an audit key")
    ID_NOT_POSITIVE = "id_not_positive", _("A row has an id below 1")
    CHECKPOINT_INVALID = "checkpoint_invalid", _("A checkpoint is malformed or forged")
    CHECKPOINT_MISMATCH = "checkpoint_mismatch", _("The chain differs from a signed checkpoint")
    CHECKPOINT_MISSING_ROW = "checkpoint_missing_row", _("A checkpointed row is gone")
    REDACTION_UNRECORDED = (
        "redaction_unrecorded",
        _("A field was blanked without a recorded redaction"),
    )
    CHECKPOINT_ABSENT = "checkpoint_absent", _("A recorded checkpoint is missing")
    CHECKPOINT_OVERDUE = "checkpoint_overdue", _("A checkpoint is overdue")


class AuditName(models.Model):
    """Each DeviceName and username the trail names, once, with how many events name it
    (``audit_record`` counts each event in its transaction). The list's partial, any-case name
    filters look here first: a substring can use no index of a million events, but once it is
    a few whole names their indexes answer (``selectors.events_filtered``). Not part of the
    chain: derived from the events, and counted again from them by
    ``planner.audit_names_refresh``."""

    field = models.CharField(max_length=32)  # the AuditEvent column: device_name, actor_username
    name = models.CharField(max_length=150)
    # How many events name it: whether sorting all of a few names' events is cheap.
    events = models.BigIntegerField(default=0)

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["field", "name"], name="audit_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.field}={self.name}"


class ChainVerification(AppendOnlyModel):
    """One run of the chain verifier: when, by whom, and what it found. Append-only too: a failed
    run must not be turned into a passed one, nor removed."""

    checked_at = models.DateTimeField(_("checked at"), db_index=True)
    # Empty for the management command.
    run_by = models.CharField(_("run by"), max_length=150, blank=True)
    ok = models.BooleanField(_("chain intact"))
    checked = models.PositiveBigIntegerField(_("rows checked"))
    head_id = models.BigIntegerField(_("head row"), null=True, blank=True)
    head_hash = models.CharField(_("head hash"), max_length=64, blank=True)
    expected_head = models.CharField(_("expected head (anchor)"), max_length=64, blank=True)
    problem = models.CharField(
        _("problem"), max_length=32, choices=ChainProblem.choices, blank=True
    )
    first_broken_id = models.BigIntegerField(_("first broken row"), null=True, blank=True)
    previous_id = models.BigIntegerField(_("row before it"), null=True, blank=True)
    checkpoints = models.PositiveIntegerField(_("checkpoints checked"), default=0)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("chain verification")
        verbose_name_plural = _("chain verifications")
        ordering = ["-id"]
        default_permissions = ("view",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(id__gt=0), name="audit_verification_id_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {'ok' if self.ok else 'broken'} {self.checked_at:%Y-%m-%d %H:%M:%S}"

    @property
    def problem_message(self) -> str:
        return chain_problem_message(
            problem=self.problem,
            first_broken_id=self.first_broken_id,
            previous_id=self.previous_id,
        )


def chain_problem_message(
    *, problem: str, first_broken_id: int | None, previous_id: int | None
) -> str:
    """A sentence, in the active language, saying what a verifier found and what it means."""
    params = {"id": first_broken_id, "previous": previous_id}
    if problem == ChainProblem.EDITED:
        return _("Row %(id)s was edited: its stored hash does not match its content.") % params
    if problem == ChainProblem.UNLINKED:
        return (
            _(
                "Row %(id)s does not follow row %(previous)s: "
                "a row was deleted, inserted or reordered."
            )
            % params
        )
    if problem == ChainProblem.FIRST_UNLINKED:
        return (
            _(
                "Row %(id)s is the first row but does not start the chain: "
                "earlier rows were deleted."
            )
            % params
        )
    if problem == ChainProblem.KEY_UNKNOWN:
        return (
            _(
                "Row %(id)s is sealed with an audit key that is not configured here, "
                "so it cannot be verified."
            )
            % params
        )
    if problem == ChainProblem.UNKEYED:
        return (
            _(
                "Row %(id)s is not sealed with an audit key although earlier rows are: "
                "it was not written by certadmin."
            )
            % params
        )
    if problem == ChainProblem.UNKEYED_NOT_LEGACY:
        return (
            _(
                "Row %(id)s is not sealed with an audit key and is not one of the legacy rows "
                "that CERTADMIN_AUDIT_UNKEYED_UP_TO allows: it was not written by certadmin "
                "(the chain was rewritten without the key)."
            )
            % params
        )
    if problem == ChainProblem.NO_KEYED_ROW:
        return str(
            _(
                "No row is sealed with an audit key: the keyed rows were removed or the chain "
                "was rewritten without the key. (A trail of legacy rows only verifies once "
                "certadmin has recorded an event under the key.)"
            )
        )
    if problem == ChainProblem.ID_NOT_POSITIVE:
        return (
            _(
                "Row %(id)s has an id below 1: the database never assigns such an id, so the "
                "row was inserted by hand, not written by certadmin."
            )
            % params
        )
    if problem == ChainProblem.REDACTION_UNRECORDED:
        return (
            _(
                "Row %(id)s has a field blanked or marked redacted that no redaction event in "
                "the chain accounts for: it was changed outside certadmin."
            )
            % params
        )
    if problem == ChainProblem.CHECKPOINT_INVALID:
        return str(
            _(
                "A checkpoint file is malformed or its signature does not verify with the "
                "configured keys: it was not written by certadmin."
            )
        )
    if problem == ChainProblem.CHECKPOINT_MISMATCH:
        return (
            _(
                "Row %(id)s does not match the signed checkpoint taken of it: rows up to it "
                "were rewritten, inserted or removed."
            )
            % params
        )
    if problem == ChainProblem.CHECKPOINT_MISSING_ROW:
        return (
            _(
                "Row %(id)s, the head of a signed checkpoint, is no longer in the chain: "
                "the newest rows were removed."
            )
            % params
        )
    if problem == ChainProblem.CHECKPOINT_ABSENT:
        return (
            _(
                "Row %(id)s records a signed checkpoint that is not in the checkpoint directory "
                "(or not validly signed there): it was deleted or replaced, or this is not the "
                "directory it was written to."
            )
            % params
        )
    if problem == ChainProblem.CHECKPOINT_OVERDUE:
        return (
            _(
                "Row %(id)s is older than the longest time allowed without a checkpoint, and no "
                "signed checkpoint covers it: checkpoints stopped being written, or the newest "
                "were deleted along with the rows that recorded them."
            )
            % params
        )
    if problem == ChainProblem.ANCHOR_MISSING:
        return str(
            _(
                "The anchored head hash is not in the chain: newer rows were removed "
                "or the chain was rewritten."
            )
        )
    return ""
