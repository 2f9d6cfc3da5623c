"""Sync schedules: when each product is synced on its own (``services.schedules_due_run``)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from certadmin.devices.models import account_field
from certadmin.jobs.models import SyncMode


class ScheduleSource(models.TextChoices):
    DASHBOARD = "dashboard", _("dashboard")
    CONFIGURATION = "configuration", _("configuration")


class SyncSchedule(models.Model):
    """One product's schedule (per API account and instance), with its last and next run."""

    account = account_field()
    product_key = models.CharField(_("ProductKey"), max_length=64)
    iot_instance_id = models.CharField(_("IotInstanceId"), max_length=128, blank=True, default="")
    cron = models.CharField(_("schedule"), max_length=100)
    mode = models.CharField(
        _("sync mode"), max_length=16, choices=SyncMode.choices, default=SyncMode.FULL
    )
    # A configured schedule (CERTADMIN_SYNC_SCHEDULES) is kept in step with the configuration
    # at every tick of the scheduler; the dashboard cannot change it.
    source = models.CharField(
        _("set in"), max_length=16, choices=ScheduleSource.choices, default=ScheduleSource.DASHBOARD
    )
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True, db_index=True)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True)
    # The sync the last run started (or found already running). Named, not imported: the
    # jobs app's model, kept when the job is gone.
    last_job = models.ForeignKey(
        "jobs.Job", verbose_name=_("last sync"), on_delete=models.SET_NULL, null=True, blank=True
    )
    # Why the last run started nothing, in words for the page (never a secret).
    last_error = models.CharField(_("last error"), max_length=500, blank=True, default="")
    updated_at = models.DateTimeField(_("changed"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("sync schedule")
        verbose_name_plural = _("sync schedules")
        ordering = ["account", "product_key", "iot_instance_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "product_key", "iot_instance_id"],
                name="one_schedule_per_product",
            )
        ]

    def __str__(self) -> str:
        return f"{self.account}/{self.product_key}: {self.cron}"
