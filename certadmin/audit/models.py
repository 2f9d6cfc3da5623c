"""The audit trail: one append-only, hash-chained table of security events."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    KEY_REVEAL = "key_reveal", _("Private key reveal")
    KEY_DOWNLOAD = "key_download", _("Key bundle download")
    CERT_DOWNLOAD = "cert_download", _("Certificate download")


class AuditOutcome(models.TextChoices):
    SUCCESS = "success", _("Success")
    DENIED = "denied", _("Denied")
    FAILED = "failed", _("Failed")


class AuditEvent(models.Model):
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
    entry_hash = models.CharField(_("hash"), max_length=64, unique=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["product_key", "device_name", "-id"], name="audit_device_idx"),
            models.Index(fields=["action", "outcome", "-id"], name="audit_action_idx"),
        ]
        default_permissions = ("view",)
        permissions = [
            ("view_audit_trail", _("Can browse, export and verify the audit trail")),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.outcome} {self.actor_username}"
