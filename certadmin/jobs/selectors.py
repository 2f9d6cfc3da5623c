"""Reading jobs: who may see which, and a job's progress in words and numbers."""

import math
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from certadmin.devices.models import CertificateRecord
from certadmin.jobs.models import ACTIVE_STATES, DEVICE_KINDS, Job, JobItem, JobKind, JobState


def jobs_visible(*, user) -> QuerySet[Job]:
    """The device jobs ``user`` may see: their own; a superuser sees everyone's. (Chain
    verifications are shown on the audit pages: ``chain_verification_job``.)"""
    jobs = Job.objects.select_related("owner").filter(kind__in=DEVICE_KINDS)
    return jobs if user.is_superuser else jobs.filter(owner=user)


def product_sync_running(*, account: str, product_key: str, iot_instance_id: str) -> Job | None:
    """The sync of this product queued or running, if any."""
    return (
        Job.objects.filter(
            kind=JobKind.PRODUCT_SYNC,
            state__in=ACTIVE_STATES,
            account=account,
            product_key=product_key,
            iot_instance_id=iot_instance_id,
        )
        .order_by("-created_at")
        .first()
    )


def chain_verification_job(*, job_id: int) -> Job | None:
    """A chain verification by its id, with its result; every auditor may follow any of them,
    as they may read every verification's result."""
    return (
        Job.objects.select_related("owner", "verification")
        .filter(pk=job_id, kind=JobKind.CHAIN_VERIFY)
        .first()
    )


def chain_verification_running() -> Job | None:
    """The chain verification queued or under way, if any (at most one is)."""
    return Job.objects.filter(kind=JobKind.CHAIN_VERIFY, state__in=ACTIVE_STATES).first()


def job_items(*, job: Job) -> QuerySet[JobItem]:
    return job.items.order_by("product_key", "device_name", "iot_instance_id")


@dataclass(frozen=True)
class JobProgress:
    """What the progress bar and its text show."""

    done: int
    total: int
    failed: int
    fraction: float
    percent: int
    # Seconds left at the job's share of the quota; None when unknown or ended.
    seconds_left: int | None
    state_text: str


def _running_jobs(account: str) -> int:
    return (
        Job.objects.filter(state=JobState.RUNNING, account=account, kind__in=DEVICE_KINDS)
        .order_by()
        .count()
    )


def job_progress(*, job: Job) -> JobProgress:
    """Progress of ``job``. The time left assumes the jobs' share of its API account's quota
    (the account's ``job_qps``) is split evenly among the account's running jobs."""
    total = max(job.total, job.done)
    fraction = job.done / total if total else (1.0 if not job.is_active else 0.0)
    seconds_left = None
    if job.state == JobState.RUNNING and total:
        configured = settings.IOT_ACCOUNTS.get(job.account)
        job_qps = configured.job_qps if configured is not None else settings.JOB_QPS
        share = job_qps / max(1, _running_jobs(job.account))
        seconds_left = math.ceil((total - job.done) / share)
    return JobProgress(
        done=job.done,
        total=total,
        failed=job.failed,
        fraction=fraction,
        percent=int(fraction * 100),
        seconds_left=seconds_left,
        state_text=_state_text(job, seconds_left),
    )


def _state_text(job: Job, seconds_left: int | None) -> str:
    if job.state == JobState.QUEUED and job.admitted_at is None:
        return ngettext(
            "Waiting: this person already has %(count)d job running (at most %(count)d at once).",
            "Waiting: this person already has %(count)d jobs running (at most %(count)d at once).",
            settings.JOBS_PER_PERSON,
        ) % {"count": settings.JOBS_PER_PERSON}
    if job.state == JobState.QUEUED:
        return _("Waiting for a worker to pick the job up.")
    if job.state == JobState.RUNNING:
        if seconds_left is None:
            return _("Running.")
        if seconds_left < 90:
            return _("Running: about %(seconds)d s left.") % {"seconds": seconds_left}
        return _("Running: about %(minutes)d min left.") % {"minutes": math.ceil(seconds_left / 60)}
    if job.state == JobState.CANCELLING:
        return _("Cancelling: the workers stop after the device they are on.")
    if job.state == JobState.CANCELLED:
        return _("Cancelled.")
    if job.state == JobState.FAILED:
        return _("Failed: %(error)s") % {"error": job.error or _("see the worker's log.")}
    return _("Finished.")


def job_records(*, job: Job) -> QuerySet[CertificateRecord]:
    """The inventory records of a job's devices (what its lookups recorded), by name."""
    items = JobItem.objects.filter(
        job=job,
        product_key=OuterRef("product_key"),
        device_name=OuterRef("device_name"),
        iot_instance_id=OuterRef("iot_instance_id"),
    )
    return CertificateRecord.objects.filter(Exists(items), account=job.account).order_by(
        "product_key", "iot_instance_id", "device_name"
    )
