"""Findings: what the checks found wrong in the inventory, one row per problem of one device (or
of the CA bundle), opened, kept open with a last-seen time, and closed when it clears; the
suppressions people set on them; and the RFC 5280 lint results, cached per certificate.

Nothing here holds key material: a finding names a device, a code and a short public detail.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from certadmin.devices.models import account_field
from certadmin.findings.codes import finding_title
from certadmin.findings.device_ranks import device_rank_gateway, device_rank_online
from certadmin.findings.severity import SEVERITY_NAMES, Severity

OPEN_Q = Q(closed_at__isnull=True)


class Finding(models.Model):
    """One problem: a check's ``code`` on one device (``device_name``), or on no device (a CA in
    the bundle: account, product and device empty, the CA named by ``subject``).

    At most one open finding per (code, account, product, instance, device, subject); a run
    refreshes ``last_seen`` while the condition holds and sets ``closed_at`` when it clears. A
    later recurrence opens a new finding. ``severity`` may change while open (an expiring
    certificate reaching a tighter window): ``previous_severity`` and ``severity_changed_at``
    record the last change, so "escalated since" is one query.
    """

    code = models.CharField(_("code"), max_length=48)
    severity = models.PositiveSmallIntegerField(_("severity"), choices=Severity.choices)
    account = models.CharField(_("API account"), max_length=32, blank=True, default="")
    product_key = models.CharField(_("ProductKey"), max_length=64, blank=True, default="")
    iot_instance_id = models.CharField(_("IotInstanceId"), max_length=128, blank=True, default="")
    device_name = models.CharField(_("DeviceName"), max_length=64, blank=True, default="")
    # What tells two findings of one code on one device apart: the lint rule, the key's hash, the
    # CA's fingerprint, "key" or "signature" for a weak key; "" for most codes.
    subject = models.CharField(_("subject"), max_length=128, blank=True, default="")
    # Short and public: a number of bits, a date, a rule's code. Never key material.
    detail = models.CharField(_("detail"), max_length=255, blank=True, default="")
    # How much a device's problem matters beyond its severity: 3 an online gateway, 2 an online
    # device, 1 a gateway that is not online, 0 others (``checks.facts.device_rank``).
    device_rank = models.PositiveSmallIntegerField(_("device rank"), default=0)
    # cert.expiring: the tightest window (in days) the certificate has reached.
    window_days = models.PositiveSmallIntegerField(_("window (days)"), null=True, blank=True)
    not_after = models.DateTimeField(_("not after"), null=True, blank=True)
    first_seen = models.DateTimeField(_("first seen"))
    last_seen = models.DateTimeField(_("last seen"))
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    previous_severity = models.PositiveSmallIntegerField(
        _("previous severity"), choices=Severity.choices, null=True, blank=True
    )
    severity_changed_at = models.DateTimeField(_("severity changed"), null=True, blank=True)
    # Until when an active suppression covers this finding (``suppressions``); None or past:
    # not suppressed. Kept on the row so the page filters and counts without a join.
    suppressed_until = models.DateTimeField(_("suppressed until"), null=True, blank=True)

    class Meta:
        verbose_name = _("finding")
        verbose_name_plural = _("findings")
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "code",
                    "account",
                    "product_key",
                    "iot_instance_id",
                    "device_name",
                    "subject",
                ],
                condition=OPEN_Q,
                name="unique_open_finding",
            )
        ]
        indexes = [
            models.Index(
                fields=["account", "product_key", "iot_instance_id", "device_name"],
                name="finding_device",
            ),
            models.Index(fields=["-severity", "-device_rank", "first_seen"], name="finding_risk"),
            # The fleet-health page at 100,000 devices (issue 24): the open findings in risk
            # order (selectors.RISK_ORDER whole, so a page is read from the index, not sorted),
            # and their counts per product, code and severity with what the filters test, so
            # that the counts are made from the index alone.
            models.Index(
                fields=[
                    "-severity",
                    "-device_rank",
                    "first_seen",
                    "product_key",
                    "device_name",
                    "code",
                ],
                condition=OPEN_Q,
                name="finding_open_risk",
            ),
            # Not led by the account: SQLite would then search it for the accounts' IN list
            # and sort every open finding for a page instead of walking finding_open_risk.
            # closed_at (NULL in every entry) lets SQLite count from this index alone too.
            models.Index(
                fields=[
                    "product_key",
                    "iot_instance_id",
                    "code",
                    "severity",
                    "account",
                    "suppressed_until",
                    "closed_at",
                ],
                condition=OPEN_Q,
                name="finding_open_counts",
            ),
            # The next end of a suppression, part of the fleet page's cache key (counts_cache):
            # only open findings that are suppressed, so a few entries.
            models.Index(
                fields=["suppressed_until"],
                condition=OPEN_Q & models.Q(suppressed_until__isnull=False),
                name="finding_suppression_end",
            ),
            models.Index(fields=["first_seen"], name="finding_first_seen"),
            models.Index(fields=["severity_changed_at"], name="finding_escalated"),
        ]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.code} {self.product_key}/{self.device_name}"

    @property
    def severity_name(self) -> str:
        return SEVERITY_NAMES[self.severity]

    @property
    def title(self) -> str:
        return finding_title(self.code)

    @property
    def device_online(self) -> bool:
        return device_rank_online(self.device_rank)

    @property
    def device_gateway(self) -> bool:
        return device_rank_gateway(self.device_rank)

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class Suppression(models.Model):
    """A person's decision that findings of ``code`` on a device, or on every device of a
    product, need no attention until ``ends_at``: they stay recorded, shown as suppressed.

    ``device_name`` "" covers every device of the product; ``subject`` "" every subject. A
    suppression ends by itself at ``ends_at``, or earlier when withdrawn. Made and withdrawn
    only through ``suppressions`` (audited).
    """

    code = models.CharField(_("code"), max_length=48)
    account = account_field()
    product_key = models.CharField(_("ProductKey"), max_length=64)
    iot_instance_id = models.CharField(_("IotInstanceId"), max_length=128, blank=True, default="")
    device_name = models.CharField(_("DeviceName"), max_length=64, blank=True, default="")
    subject = models.CharField(_("subject"), max_length=128, blank=True, default="")
    reason = models.TextField(_("reason"))
    ends_at = models.DateTimeField(_("ends"))
    created_at = models.DateTimeField(_("created"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_by_username = models.CharField(_("created by"), max_length=150)
    withdrawn_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)
    withdrawn_by_username = models.CharField(
        _("withdrawn by"), max_length=150, blank=True, default=""
    )

    class Meta:
        verbose_name = _("suppression")
        verbose_name_plural = _("suppressions")
        indexes = [
            models.Index(
                fields=["account", "product_key", "iot_instance_id", "ends_at"],
                name="suppression_product",
            )
        ]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.code} {self.product_key}/{self.device_name or '*'}"


class LintResult(models.Model):
    """pkilint's RFC 5280 findings for one certificate, by its SHA-256 fingerprint: a
    certificate is linted once, however many runs and devices see it."""

    sha256_fingerprint = models.CharField(max_length=95, unique=True)
    # [[severity, code], ...]: pkilint's severity name (FATAL, ERROR, WARNING…) and finding code.
    problems = models.JSONField(default=list)
    linter_version = models.CharField(max_length=32)
    linted_at = models.DateTimeField()

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return self.sha256_fingerprint


class PendingGeneration(models.Model):
    """Since when a device's certificate has been seen "being generated" (status 0): what
    ``cert.generation_stuck`` measures. Removed once the status moves on."""

    account = account_field()
    product_key = models.CharField(max_length=64)
    iot_instance_id = models.CharField(max_length=128, blank=True, default="")
    device_name = models.CharField(max_length=64)
    since = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "product_key", "iot_instance_id", "device_name"],
                name="unique_pending_generation",
            )
        ]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.product_key}/{self.device_name} since {self.since}"


class FindingsVersion(models.Model):
    """A random number that changes with every write to one product's findings (of one API
    account and instance; all empty: the CA bundle's), in the same transaction as the write:
    the fleet-health page's cached counts and rows are keyed on it (``findings.counts_cache``)."""

    account = models.CharField(max_length=32, blank=True, default="")
    product_key = models.CharField(max_length=64, blank=True, default="")
    iot_instance_id = models.CharField(max_length=128, blank=True, default="")
    version = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "product_key", "iot_instance_id"],
                name="unique_findings_version_per_product",
            )
        ]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.account}/{self.product_key}: {self.version}"
