"""Sync a product's certificates into the inventory, for cron:

    manage.py cert_sync --product-key a1BwAGV1234 [--instance iot-06z00ep2pjifrby]
        [--mode full|incremental] [--wait]

Without ``--wait`` the sync is enqueued for the workers (``manage.py task_worker``) and the
command prints the job's number. With ``--wait`` this process works on the job too (within the
same shared quotas as the workers) and exits 1 unless the job finished. A sync of the product
that is already queued or running is not queued again: the command names it (and waits on it).

Quiet for cron: what it prints by default is the job's number, a one-line summary and any
warning or error. A progress bar is drawn on stderr when it is a terminal; ``-v 2`` draws it
anyway and lets the per-call log lines through; ``-v 0`` prints errors only.
"""

import logging
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from certadmin.accounts.api_accounts import UnknownAccount, iot_account
from certadmin.devices.forms import clean_instance_id, clean_product_key
from certadmin.jobs import runner
from certadmin.jobs.models import Job, JobState, SyncMode
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
            "--mode",
            choices=SyncMode.values,
            default=SyncMode.FULL,
            help="full: every device (default); incremental: new and changed devices, "
            "certificates being generated or failed, and a share of the rest "
            "(CERTADMIN_SYNC_RECHECK_DAYS).",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Work on the job here with a progress bar; exit 1 unless it finishes.",
        )

    def handle(self, *args, verbosity, **options):
        self.verbosity = verbosity
        self.draw_progress = verbosity >= 2 or (verbosity >= 1 and self.stderr.isatty())
        chatty = logging.getLogger("certadmin")
        level = chatty.level
        if verbosity < 2:
            # A line per platform call and per job run is for someone watching (-v 2), not for
            # a cron mail: thousands of them in a large sync. Warnings and errors still show.
            chatty.setLevel(logging.WARNING)
        try:
            self._sync(**options)
        finally:
            chatty.setLevel(level)

    def _sync(self, *, product_key, account, instance, user, mode, wait, **options):
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
                mode=mode,
            )
        except ProductSyncActive as active:
            job = active.job
            self._say(
                f"Job {job.pk}: a sync of {product_key} is already {job.state}; not queued again."
            )
        except JobStartError as refused:
            raise CommandError(f"{refused.message} ({refused.code})") from None
        else:
            self._say(
                f"Job {job.pk}: {job.mode} sync of {product_key} ({job.total} devices) queued."
            )
        if not wait:
            return
        job = self._wait(job)
        if job.state != JobState.FINISHED:
            raise CommandError(
                f"Job {job.pk} {job.get_state_display()}: {job.error or 'see the dashboard'}"
            )
        if job.mode == SyncMode.INCREMENTAL:
            self._say(
                f"Job {job.pk} finished: {job.done} of the {job.listed} devices listed looked "
                f"up, {job.failed} failed."
            )
        else:
            self._say(f"Job {job.pk} finished: {job.done} devices, {job.failed} failed.")
        if job.context_missing:
            self.stderr.write(
                f"Device details (node type, firmware, activation) missing for "
                f"{job.context_missing} devices: BatchQueryDeviceDetail failed (see the log)."
            )

    def _say(self, line: str) -> None:
        if self.verbosity >= 1:
            self.stdout.write(line)

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
        if self.draw_progress:
            self._draw(job)
            self.stderr.write("")
        return job

    def _draw(self, job: Job) -> None:
        if not self.draw_progress:
            return
        progress = job_progress(job=job)
        filled = int(BAR_WIDTH * progress.fraction)
        self.stderr.write(
            f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {job.done}/{job.total} devices, "
            f"{job.failed} failed, {progress.state_text}",
            ending="",
        )
        self.stderr.flush()
