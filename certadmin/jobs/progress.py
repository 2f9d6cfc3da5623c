"""A job's progress as its page and ``cert_sync`` show it: numbers for the bar, and the state
in words (translated here, so the selectors return data only)."""

import math
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from certadmin.jobs.models import Job, JobState
from certadmin.jobs.selectors import jobs_running


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


def job_progress(*, job: Job) -> JobProgress:
    """Progress of ``job``. The time left assumes the jobs' share of its API account's quota
    (the account's ``job_qps``) is split evenly among the account's running jobs."""
    total = max(job.total, job.done)
    fraction = job.done / total if total else (1.0 if not job.is_active else 0.0)
    seconds_left = None
    if job.state == JobState.RUNNING and total:
        configured = settings.IOT_ACCOUNTS.get(job.account)
        job_qps = configured.job_qps if configured is not None else settings.JOB_QPS
        share = job_qps / max(1, jobs_running(account=job.account))
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
