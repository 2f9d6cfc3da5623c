"""Background jobs: what a job is asked to do, how far it got, and one row per device.

A job's progress lives here, not in the task queue: the page polls these rows, and a worker
that is killed loses nothing, since each item's result is written as the item finishes. Only
ids and public device data are kept: never a key, a DeviceSecret or an AccessKey secret.

A chain verification (*Verify now* on the audit pages) is a job too, without items: its
counters are rows of the audit trail, and its result is a ``ChainVerification``.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from certadmin.devices.models import account_field


class JobKind(models.TextChoices):
    PRODUCT_SYNC = "product_sync", _("Product sync")
    BATCH_LOOKUP = "batch_lookup", _("Batch lookup")
    CHAIN_VERIFY = "chain_verify", _("Chain verification")


# The kinds that look devices up on an API account (items, quota, the jobs pages).
DEVICE_KINDS = (JobKind.PRODUCT_SYNC, JobKind.BATCH_LOOKUP)


class SyncMode(models.TextChoices):
    """How much of a product a sync looks up (``certadmin/jobs/incremental.py``)."""

    # Every device the listing has.
    FULL = "full", _("full")
    # New and changed devices, certificates being generated or failed, and a slice of the
    # rest, so that each device is looked up again within its product's bound.
    INCREMENTAL = "incremental", _("incremental")


class JobState(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    CANCELLING = "cancelling", _("cancelling")
    CANCELLED = "cancelled", _("cancelled")
    FINISHED = "finished", _("finished")
    FAILED = "failed", _("failed")


ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING, JobState.CANCELLING)
ENDED_STATES = (JobState.CANCELLED, JobState.FINISHED, JobState.FAILED)
# A product sync in these states is the product's one sync: starting it again points to it. One
# being cancelled does not count (a new sync may start while it stops).
SYNC_ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)


class Job(models.Model):
    """One background job and its progress counters."""

    kind = models.CharField(_("kind"), max_length=32, choices=JobKind.choices)
    # Null for jobs started by a management command (cron).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("started by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="jobs",
    )
    state = models.CharField(
        _("state"), max_length=16, choices=JobState.choices, default=JobState.QUEUED
    )
    # Items to do (for a sync: the product's device count, known once the listing is done),
    # items done (successes and failures) and, of those, failures.
    total = models.PositiveIntegerField(_("total"), default=0)
    done = models.PositiveIntegerField(_("done"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    # A product sync: listed devices whose details (node type, firmware, activation) the
    # platform did not give, because their BatchQueryDeviceDetail call failed.
    context_missing = models.PositiveIntegerField(_("devices without details"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # When the per-person limit let the job run (its task runs were enqueued).
    admitted_at = models.DateTimeField(_("admitted"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    last_progress_at = models.DateTimeField(null=True, blank=True)
    # The API account every item of the job is looked up with.
    account = account_field()
    # A product sync's product; empty for jobs whose items are given up front.
    product_key = models.CharField(_("ProductKey"), max_length=64, blank=True, default="")
    iot_instance_id = models.CharField(_("IotInstanceId"), max_length=128, blank=True, default="")
    # Why the job failed, in words for its reader (never a secret, never a traceback).
    error = models.CharField(_("error"), max_length=500, blank=True, default="")
    # A product sync's mode, and how many devices its listing had (for a full sync, the items).
    mode = models.CharField(
        _("sync mode"), max_length=16, choices=SyncMode.choices, default=SyncMode.FULL
    )
    listed = models.PositiveIntegerField(_("listed"), default=0)
    # A sync first walks QueryDevice page by page; one worker at a time holds the listing.
    listing_complete = models.BooleanField(default=False)
    listing_next_page = models.PositiveIntegerField(default=1)
    # The NextToken that leads to that page (the platform's paging cursor, not a secret):
    # a run taking the listing over goes on from the same place.
    listing_next_token = models.TextField(blank=True, default="")
    listing_lease_until = models.DateTimeField(null=True, blank=True)
    # The run holding the listing (a sync) or the whole job (a chain verification).
    listing_token = models.CharField(max_length=32, blank=True, default="")
    # A chain verification's anchored head hash ("": none), where the request that started it
    # came from (recorded with its audit event, as the request would have), and its result.
    expect_head = models.CharField(
        _("expected head (anchor)"), max_length=64, blank=True, default=""
    )
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True, default="")
    verification = models.ForeignKey(
        "audit.ChainVerification",
        verbose_name=_("result"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["owner", "state"], name="job_owner_state"),
            models.Index(fields=["state"], name="job_state"),
            # The jobs list's cache key (list_cache): the newest progress, and the active jobs
            # (a few among thousands ended, which SQLite's statistics of job_state hide).
            models.Index(fields=["last_progress_at"], name="job_last_progress"),
            models.Index(fields=["state"], condition=Q(state__in=ACTIVE_STATES), name="job_active"),
        ]
        constraints = [
            # One chain verification at a time: a second click finds the running one.
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(kind="chain_verify", state__in=["queued", "running", "cancelling"]),
                name="one_active_chain_verification",
            ),
            # Two starts of one sync at once (two people, two hosts) cannot both be queued.
            models.UniqueConstraint(
                fields=["account", "product_key", "iot_instance_id"],
                condition=models.Q(
                    kind=JobKind.PRODUCT_SYNC, state__in=[s.value for s in SYNC_ACTIVE_STATES]
                ),
                name="one_active_sync_per_product",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES


class ItemState(models.TextChoices):
    PENDING = "pending", _("pending")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class JobItem(models.Model):
    """One device of a job: claimed by one worker at a time, written once when it finishes."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="items")
    product_key = models.CharField(_("ProductKey"), max_length=64)
    device_name = models.CharField(_("DeviceName"), max_length=64)
    iot_instance_id = models.CharField(_("IotInstanceId"), max_length=128, blank=True, default="")
    # From the QueryDevice listing (public data; never the DeviceSecret).
    nickname = models.CharField(_("nickname"), max_length=128, blank=True, default="")
    device_status = models.CharField(_("device status"), max_length=32, blank=True, default="")
    # The row's UtcModified, stored with the lookup's result (see CertificateRecord).
    listing_modified = models.CharField(max_length=64, blank=True, default="")
    state = models.CharField(
        _("state"), max_length=16, choices=ItemState.choices, default=ItemState.PENDING
    )
    # The platform's error Code when the lookup failed.
    error_code = models.CharField(_("error Code"), max_length=128, blank=True, default="")
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # A worker's claim: its token, until when it holds unless renewed, and how many claims.
    lease_token = models.CharField(max_length=32, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    claims = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("job item")
        verbose_name_plural = _("job items")
        constraints = [
            models.UniqueConstraint(
                fields=["job", "product_key", "device_name", "iot_instance_id"],
                name="unique_job_item_per_device",
            )
        ]
        indexes = [models.Index(fields=["job", "state"], name="jobitem_job_state")]

    def __str__(self) -> str:
        return f"{self.job_id}: {self.product_key}/{self.device_name}"
