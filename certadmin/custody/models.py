"""Key custody: requests for a private key and their approvals, break-glass releases waiting
for an auditor's review, one-time hand-over links, and the notices their people are shown.

Nothing of a key is kept here: a request names the device and what will be done with its key;
the key is fetched from the platform when the request is used. A hand-over link's token is
kept only as its SHA-256. Every change of these rows is an audit event (``services``).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from certadmin.devices.models import account_field
from certadmin.iot.identity import DeviceRef


class KeyDevice(models.Model):
    """The device whose key a row is about."""

    account = account_field()
    product_key = models.CharField(_("ProductKey"), max_length=64)
    device_name = models.CharField(_("DeviceName"), max_length=64)
    iot_instance_id = models.CharField(_("IotInstanceId"), max_length=128, blank=True, default="")

    class Meta:
        abstract = True

    @property
    def device(self) -> DeviceRef:
        return DeviceRef(self.product_key, self.device_name, self.iot_instance_id, self.account)


class Delivery(models.TextChoices):
    """What a hand-over link gives its recipient."""

    P12 = "p12", _("a PKCS#12 file, under a passphrase shown once")
    REVEAL = "reveal", _("the key on the page")


class KeyRequest(KeyDevice):
    """A key custodian's request for a device's key, waiting for approvals, then usable once
    by the requester within ``expires_at``."""

    class State(models.TextChoices):
        PENDING = "pending", _("waiting for approval")
        APPROVED = "approved", _("approved")
        REFUSED = "refused", _("refused")
        EXPIRED = "expired", _("expired")
        USED = "used", _("used")

    # The number of the audit event that recorded the request: one number in the trail and here.
    id = models.BigIntegerField(primary_key=True)

    # What the requester will do with the key: one of the key form's actions, or a hand-over.
    ACTIONS = (
        ("reveal", _("Reveal it on the page")),
        ("key", _("Download the key alone (PEM)")),
        ("p12", _("Download a PKCS#12 file")),
        ("zip", _("Download a ZIP bundle, key encrypted")),
        ("zip-plain", _("Download a ZIP bundle, key NOT encrypted")),
        ("handover", _("Hand it over to someone through a one-time link")),
    )

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    action = models.CharField(_("what for"), max_length=16, choices=ACTIONS)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("hand over to"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    delivery = models.CharField(
        _("hand-over gives"), max_length=8, choices=Delivery.choices, blank=True, default=""
    )
    reason = models.CharField(_("reason"), max_length=500)
    ticket = models.CharField(_("ticket"), max_length=64, blank=True, default="")
    approvals_required = models.PositiveSmallIntegerField(_("approvals required"))
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.PENDING, db_index=True
    )
    created_at = models.DateTimeField(_("requested at"))
    # Pending: when the request stops waiting. Approved: when the approval stops being usable.
    expires_at = models.DateTimeField(_("expires at"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("key request")
        verbose_name_plural = _("key requests")
        ordering = ["-id"]
        default_permissions = ()
        constraints = [
            models.CheckConstraint(
                condition=models.Q(approvals_required__gte=1), name="custody_request_needs_approval"
            ),
        ]

    def __str__(self) -> str:
        return f"request {self.pk}"


class KeyApproval(models.Model):
    """One approver's decision on a request: approve, or refuse (which ends the request)."""

    request = models.ForeignKey(KeyRequest, on_delete=models.CASCADE, related_name="decisions")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approver_username = models.CharField(_("approver"), max_length=150)
    approved = models.BooleanField(_("approved"))
    reason = models.CharField(_("reason"), max_length=500)
    decided_at = models.DateTimeField(_("decided at"))

    class Meta:
        ordering = ["id"]
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["request", "approver"], name="custody_one_decision_per_approver"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.approver_username} on request {self.request_id}"


class BreakGlass(KeyDevice):
    """A key released without approvals, by its custodian alone, where approvals are required.
    Waits for an auditor's review; the release's own audit event is ``event_id``."""

    event_id = models.BigIntegerField(_("audit event"), unique=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    actor_username = models.CharField(_("released by"), max_length=150)
    action = models.CharField(_("what"), max_length=16)
    reason = models.CharField(_("reason"), max_length=500)
    ticket = models.CharField(_("ticket"), max_length=64)
    created_at = models.DateTimeField(_("released at"))
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True, db_index=True)
    reviewed_by_username = models.CharField(_("reviewed by"), max_length=150, blank=True)
    review_note = models.CharField(_("review"), max_length=500, blank=True)
    review_event_id = models.BigIntegerField(_("review event"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"break-glass {self.event_id}"


class HandOver(KeyDevice):
    """A one-time link through which ``recipient`` receives a device's key. Only the SHA-256 of
    the link's token is kept; the key is fetched when the link is used."""

    # The number of the audit event that recorded its making.
    id = models.BigIntegerField(primary_key=True)

    token_sha256 = models.CharField(max_length=64, unique=True)
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    creator_username = models.CharField(_("made by"), max_length=150)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recipient_username = models.CharField(_("for"), max_length=150)
    delivery = models.CharField(_("gives"), max_length=8, choices=Delivery.choices)
    reason = models.CharField(_("reason"), max_length=500)
    ticket = models.CharField(_("ticket"), max_length=64, blank=True, default="")
    request = models.OneToOneField(
        KeyRequest, on_delete=models.PROTECT, null=True, blank=True, related_name="handover"
    )
    created_at = models.DateTimeField(_("made at"))
    expires_at = models.DateTimeField(_("expires at"))
    opened_at = models.DateTimeField(_("opened at"), null=True, blank=True)
    # A PKCS#12 hand-over: the second step's token (its SHA-256), which the passphrase screen
    # carries to the download, and when the file was downloaded.
    download_sha256 = models.CharField(max_length=64, blank=True, default="")
    download_expires_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"hand-over {self.pk}"


class Notice(models.Model):
    """A message on a person's dashboard until they dismiss it ("possible interception")."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    handover = models.ForeignKey(HandOver, on_delete=models.CASCADE, null=True, blank=True)
    # English, translated when shown (``NOTICE_TEXTS`` in services).
    text = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"notice {self.pk}"
