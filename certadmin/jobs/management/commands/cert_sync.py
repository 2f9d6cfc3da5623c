"""Sync a product's certificates into the inventory, for cron:

    manage.py cert_sync --product-key a1BwAGV1234 [--instance iot-06z00ep2pjifrby] [--wait]

Without ``--wait`` the sync is enqueued for the workers (``manage.py db_worker``) and the
command prints the job's number. With ``--wait`` this process works on the job too, shows a
progress bar on stderr, and exits 1 unless the job finished. A sync of the product that is
already queued or running is not queued again: the command names it (and waits on it).
"""

import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from certadmin.accounts.api_accounts import UnknownAccount, iot_account
from certadmin.devices.forms import clean_instance_id, clean_product_key
from certadmin.jobs import runner
from certadmin.jobs.models import Job, JobState
from certadmin.jobs.progress import job_progress
from certadmin.jobs.services import JobStartError, ProductSyncActive, product_sync_start

BAR_WIDTH = 30
POLL_SECONDS = 1.0


class Command(BaseCommand):
    help = "Sync a product's device certificates into the inventory (a background job)."

    def add_arguments(self, parser):
        parser.add_argument("--product-key", required=True)
        parser.add_argument(
            "--account",
            default="",
            help="The API account (CERTADMIN_ACCOUNTS; default: the default account).",
        )
        parser.add_argument(
            "--instance", default=None, help="IotInstanceId (default: the account's)."
        )
        parser.add_argument(
            "--user", default="", help="Username the job is started for (default: none, cron)."
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Work on the job here with a progress bar; exit 1 unless it finishes.",
        )

    def handle(self, *args, product_key, account, instance, user, wait, **options):
        from django import forms

        try:
            configured = iot_account(account)
        except UnknownAccount:
            raise CommandError(
                f"No API account {account!r} (configured: {', '.join(settings.IOT_ACCOUNTS)})."
            ) from None
        if instance is None:
            instance = configured.instance_id
        try:
            product_key = clean_product_key(product_key.strip())
            instance = clean_instance_id(instance.strip())
        except forms.ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        owner = None
        if user:
            owner = get_user_model().objects.filter(username=user).first()
            if owner is None:
                raise CommandError(f"No user {user!r}.")
        try:
            job = product_sync_start(
                owner=owner,
                product_key=product_key,
                iot_instance_id=instance,
                account=configured.name,
            )
        except ProductSyncActive as active:
            job = active.job
            self.stdout.write(
                f"Job {job.pk}: a sync of {product_key} is already {job.state}; not queued again."
            )
        except JobStartError as refused:
            raise CommandError(f"{refused.message} ({refused.code})") from None
        else:
            self.stdout.write(f"Job {job.pk}: sync of {product_key} ({job.total} devices) queued.")
        if not wait:
            return
        job = self._wait(job)
        if job.state != JobState.FINISHED:
            raise CommandError(
                f"Job {job.pk} {job.get_state_display()}: {job.error or 'see the dashboard'}"
            )
        self.stdout.write(f"Job {job.pk} finished: {job.done} devices, {job.failed} failed.")
        if job.context_missing:
            self.stdout.write(
                f"Device details (node type, firmware, activation) missing for "
                f"{job.context_missing} devices: BatchQueryDeviceDetail failed (see the log)."
            )

    def _wait(self, job: Job) -> Job:
        while True:
            job.refresh_from_db()
            if not job.is_active:
                break
            if job.admitted_at is not None:
                runner.job_work(job_id=job.pk, on_progress=self._draw)
            else:
                self._draw(job)
                time.sleep(POLL_SECONDS)
                continue
            job.refresh_from_db()
            if job.is_active:
                # Other workers hold the last items: wait for them.
                self._draw(job)
                time.sleep(POLL_SECONDS)
        self._draw(job)
        self.stderr.write("")
        return job

    def _draw(self, job: Job) -> None:
        progress = job_progress(job=job)
        filled = int(BAR_WIDTH * progress.fraction)
        self.stderr.write(
            f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {job.done}/{job.total} devices, "
            f"{job.failed} failed, {progress.state_text}",
            ending="",
        )
        self.stderr.flush()
