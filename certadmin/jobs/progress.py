"""A job's progress as its page and ``cert_sync`` show it: numbers for the bar, and the state
in words (translated here, so the selectors return data only), including what a waiting job
waits for: the person's other running jobs, a free sync worker (naming the long job that holds
it), or any worker at all."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from certadmin.jobs.models import Job, JobKind, JobState
from certadmin.jobs.selectors import (
    job_is_long,
    jobs_admitted_counts,
    jobs_holding_workers,
    jobs_running,
)


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


def job_progress(*, job: Job, viewer=None) -> JobProgress:
    """Progress of ``job``, as ``viewer`` (who may be its owner) reads it. The time left
    assumes the jobs' share of its API account's quota (the account's ``job_qps``) is split
    evenly among the account's running jobs."""
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
        state_text=job_waiting_text(job=job, viewer=viewer) or _state_text(job, seconds_left),
    )


class _Queue:
    """What the waiting texts read of the queue, each asked once and kept for one page: the
    jobs that hold the workers, and the owners' admitted jobs. (The jobs a worker holds are
    running or being cancelled, never the queued job a text is about.)"""

    def __init__(self, *, owners=()) -> None:
        self._owners = owners
        self._short_busy: int | None = None
        self._long: tuple[list[Job], int] | None = None
        self._admitted: dict[int | None, int] = {}
        self._counted: set[int | None] = set()

    def short_busy(self) -> int:
        if self._short_busy is None:
            self._short_busy = jobs_holding_workers(long=False).count()
        return self._short_busy

    def long_holding(self) -> tuple[list[Job], int]:
        """The first two long jobs holding the sync workers, and how many hold them."""
        if self._long is None:
            holding = list(jobs_holding_workers(long=True)[:2])
            count = len(holding)
            if count > 1:
                count = jobs_holding_workers(long=True).count()
            self._long = (holding, count)
        return self._long

    def admitted(self, owner) -> int:
        owner_id = getattr(owner, "pk", None)
        if owner_id not in self._counted:
            # The page's owners counted together the first time one of them is asked about.
            owners = {*self._owners, owner}
            self._admitted |= jobs_admitted_counts(owners=owners)
            self._counted |= {getattr(each, "pk", None) for each in owners}
            self._owners = ()
        return self._admitted.get(owner_id, 0)


def job_waiting_text(*, job: Job, viewer=None) -> str:
    """What a queued job waits for, in words ("" for a job that is not waiting)."""
    return _waiting_text(job, viewer, _Queue())


def job_waiting_texts(*, jobs: Sequence[Job], viewer=None) -> list[str]:
    """``job_waiting_text`` of each of ``jobs``, in order, with the queue read once for all of
    them (a list of 200 jobs asked it again for every queued one)."""
    queue = _Queue(owners={job.owner for job in jobs if job.state == JobState.QUEUED})
    return [_waiting_text(job, viewer, queue) for job in jobs]


def _waiting_text(job: Job, viewer, queue: _Queue) -> str:
    if job.state != JobState.QUEUED:
        return ""
    if job.admitted_at is None:
        return _per_person_text(job, viewer, queue.admitted(job.owner))
    if job.kind == JobKind.CHAIN_VERIFY or not job_is_long(kind=job.kind, total=job.total):
        busy = queue.short_busy()
        if busy:
            return ngettext(
                "Waiting for a free worker: %(count)d other short job is running.",
                "Waiting for a free worker: %(count)d other short jobs are running.",
                busy,
            ) % {"count": busy}
        return _("Waiting for a worker to pick the job up.")
    holding, holding_count = queue.long_holding()
    if not holding:
        return _("Waiting for a worker to pick the job up.")
    first = holding[0]
    if first.kind == JobKind.PRODUCT_SYNC:
        what = _("the sync of %(product)s") % {"product": first.product_key}
    else:
        what = _("batch lookup #%(number)d") % {"number": first.pk}
    if len(holding) > 1:
        others = holding_count - 1
        return ngettext(
            "Waiting for a free sync worker: %(job)s and %(count)d other long job are running.",
            "Waiting for a free sync worker: %(job)s and %(count)d other long jobs are running.",
            others,
        ) % {"job": what, "count": others}
    if first.owner is None:
        return _(
            "Waiting for a free sync worker: %(job)s, started from the command line, is running."
        ) % {"job": what}
    return _("Waiting for a free sync worker: %(job)s, started by %(person)s, is running.") % {
        "job": what,
        "person": first.owner.get_username(),
    }


def _per_person_text(job: Job, viewer, count: int) -> str:
    # The jobs of the owner that hold their places (``jobs_admit``).
    if count < settings.JOBS_PER_PERSON:
        # A place is free: the job is being admitted.
        return _("Waiting for a worker to pick the job up.")
    limit = {"count": count, "limit": settings.JOBS_PER_PERSON}
    if job.owner is None:
        return (
            ngettext(
                "Waiting for the other running command-line job to end (at most %(limit)d "
                "at once).",
                "Waiting for the other %(count)d running command-line jobs to end (at most "
                "%(limit)d at once).",
                count,
            )
            % limit
        )
    if viewer is not None and viewer.pk == job.owner_id:
        return (
            ngettext(
                "Waiting for your other running job to end (at most %(limit)d run at once per "
                "person).",
                "Waiting for your other %(count)d running jobs to end (at most %(limit)d run at "
                "once per person).",
                count,
            )
            % limit
        )
    return ngettext(
        "Waiting for the other running job of %(person)s to end (at most %(limit)d run at "
        "once per person).",
        "Waiting for the other %(count)d running jobs of %(person)s to end (at most "
        "%(limit)d run at once per person).",
        count,
    ) % {**limit, "person": job.owner.get_username()}


def _state_text(job: Job, seconds_left: int | None) -> str:
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
