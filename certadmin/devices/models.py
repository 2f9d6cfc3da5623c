"""Inventory of public certificate data, and each user's recently viewed devices.

Nothing here ever holds a private key: only what the certificate itself makes public.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from certadmin.accounts.roles import model_permissions


class CertificateRecord(models.Model):
    """The last known public state of one device's certificate, from its last lookup."""

    product_key = models.CharField(_("ProductKey"), max_length=64)
    device_name = models.CharField(_("DeviceName"), max_length=64)
    # Empty string for the public instance, so the uniqueness constraint holds.
    iot_instance_id = models.CharField(_("IotInstanceId"), max_length=128, blank=True, default="")
    status = models.PositiveSmallIntegerField(_("status"))
    cert_sn = models.CharField(_("CertSN"), max_length=128, blank=True, default="")
    # The certificate exactly as the API returned it (public data), so a repeat view can be
    # decoded again without spending API quota.
    certificate = models.TextField(_("certificate"), blank=True, default="")
    sha256_fingerprint = models.CharField(_("SHA-256 fingerprint"), max_length=95, blank=True)
    subject = models.TextField(_("subject"), blank=True, default="")
    issuer = models.TextField(_("issuer"), blank=True, default="")
    not_after = models.DateTimeField(_("not after"), null=True, blank=True)
    # Whether the key the API returned matches the certificate, worked out on the server at
    # lookup time (the key itself is never kept). None when there was no key to check.
    key_matches = models.BooleanField(_("key matches certificate"), null=True, blank=True)
    request_id = models.CharField(_("RequestId"), max_length=128, blank=True, default="")
    last_checked = models.DateTimeField(_("last checked"))

    class Meta:
        verbose_name = _("certificate record")
        verbose_name_plural = _("certificate records")
        constraints = [
            models.UniqueConstraint(
                fields=["product_key", "device_name", "iot_instance_id"],
                name="unique_certificate_record_per_device",
            )
        ]
        indexes = [models.Index(fields=["not_after"], name="certrecord_not_after")]
        default_permissions = ("view",)
        permissions = model_permissions("devices", "certificaterecord")

    def __str__(self) -> str:
        return f"{self.product_key}/{self.device_name}"


class RecentDevice(models.Model):
    """A device a user looked at, for the "recently viewed" list on the home page."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    product_key = models.CharField(max_length=64)
    device_name = models.CharField(max_length=64)
    iot_instance_id = models.CharField(max_length=128, blank=True, default="")
    viewed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "product_key", "device_name", "iot_instance_id"],
                name="unique_recent_device_per_user",
            )
        ]
        indexes = [models.Index(fields=["user", "-viewed_at"], name="recentdevice_user_time")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.product_key}/{self.device_name}"
