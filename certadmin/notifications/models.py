"""Notification routes and channels, what was sent, and the demo inbox.

A route sends the findings of one API account (one product, or all) at or above a severity to
one channel, in its language, and (unless it opts out) the account's key custody events. A
channel is an apprise URL: from the environment, or stored here encrypted (``url_encrypted``,
Fernet), never shown back. ``Delivery`` records each finding announced on a route at a threshold
(severity and expiry window), so nothing is announced twice; ``CustodyMessage`` each custody
event to announce, until it is sent.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from certadmin.findings.models import Finding
from certadmin.findings.severity import SEVERITY_NAMES, Severity


class Channel(models.Model):
    """A channel stored in the dashboard. Its URL is kept encrypted; only its scheme and a
    masked host are kept in clear, for the page."""

    name = models.CharField(_("name"), max_length=40, unique=True)
    url_encrypted = models.TextField()
    scheme = models.CharField(_("service"), max_length=16)
    host_masked = models.CharField(_("host"), max_length=100, blank=True, default="")
    updated_at = models.DateTimeField(_("changed"))
    updated_by_username = models.CharField(_("changed by"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("notification channel")
        verbose_name_plural = _("notification channels")
        ordering = ["name"]
        default_permissions = ()

    def __str__(self) -> str:
        # Never the URL.
        return self.name


class Route(models.Model):
    """Which findings go to which channel, in which language."""

    name = models.CharField(_("name"), max_length=60, unique=True)
    account = models.CharField(_("API account"), max_length=32)
    # "": every product of the account, and the CA bundle's findings.
    product_key = models.CharField(_("ProductKey"), max_length=64, blank=True, default="")
    min_severity = models.PositiveSmallIntegerField(
        _("minimum severity"), choices=Severity.choices, default=Severity.HIGH
    )
    channel = models.CharField(_("channel"), max_length=40)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    digest = models.BooleanField(_("daily digest"), default=True)
    # Key custody's events for the account's devices (``CustodyMessage``), whatever the
    # minimum severity: on unless a route opts out.
    custody = models.BooleanField(_("custody messages"), default=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    updated_at = models.DateTimeField(_("changed"))
    updated_by_username = models.CharField(_("changed by"), max_length=150, blank=True)
    # One dispatch at a time per route (``dispatch``): who holds it, until when.
    dispatching_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification route")
        verbose_name_plural = _("notification routes")
        ordering = ["name"]
        default_permissions = ()

    def __str__(self) -> str:
        return self.name

    @property
    def min_severity_name(self) -> str:
        return SEVERITY_NAMES[self.min_severity]


class Delivery(models.Model):
    """A finding announced on a route at one threshold: its severity and, for an expiring
    certificate, its window (0 for none). Written once the channel took the message (or the
    summary that announced it)."""

    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="deliveries")
    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="+")
    severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    window_days = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField()
    # Announced in a summary (beyond NOTIFY_MESSAGES_PER_RUN), not a message of its own.
    in_summary = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["route", "finding", "severity", "window_days"], name="unique_delivery"
            )
        ]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.route_id}/{self.finding_id} {self.severity}/{self.window_days}"


class DigestDelivery(models.Model):
    """A route's daily digest, sent on ``day`` (the dashboard's time zone)."""

    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["route", "day"], name="unique_digest_delivery")
        ]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.route_id} {self.day}"


class DemoInboxMessage(models.Model):
    """A message the demo channel delivered to the dashboard's demo inbox (demo mode only)."""

    received_at = models.DateTimeField(db_index=True)
    title = models.CharField(max_length=250)
    body = models.TextField()
    kind = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        ordering = ["-received_at", "-pk"]
        default_permissions = ()

    def __str__(self) -> str:
        return self.title


class CustodyMessage(models.Model):
    """A key custody event to announce on a route: written when custody tells of the event,
    sent by the route's next dispatch (``sent_at``); a failed send leaves it for the one after.
    Names people, the device and the dashboard page; never a key, passphrase, token or reason.
    """

    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="custody_messages")
    # ``certadmin.custody.observers``: REQUEST_MADE, BREAK_GLASS…
    kind = models.CharField(max_length=32)
    # The request's, break-glass release's or hand-over's number (their audit event's).
    object_id = models.BigIntegerField()
    actor = models.CharField(max_length=150)
    # Usernames, comma-separated: whom custody tells (approvers, the requester, auditors…).
    people = models.CharField(max_length=1000, blank=True, default="")
    account = models.CharField(max_length=32)
    product_key = models.CharField(max_length=64)
    device_name = models.CharField(max_length=64)
    path = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        default_permissions = ()
        indexes = [models.Index(fields=["route", "sent_at"], name="custody_message_waiting")]

    def __str__(self) -> str:
        return f"{self.route_id}: {self.kind} {self.object_id}"

    @property
    def people_list(self) -> list[str]:
        return [name for name in self.people.split(",") if name]
