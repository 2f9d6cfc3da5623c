"""Starting, admitting, cancelling and ending jobs.

A job is created ``queued``. The per-person limit (``JOBS_PER_PERSON``) admits it at once or
when one of the person's running jobs ends; admitting enqueues ``JOB_RUNS`` task runs of
``job_work`` (so that many workers can share the job) and a deferred ``job_watch``. The work
itself is in ``runner``. A product has at most one sync queued or running per account and
instance (the database holds to it), and the queue has a cap per person and in all.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.tasks import Task
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from certadmin.accounts.api_accounts import account_allowed
from certadmin.audit.services import RequestContext
from certadmin.devices.batch_csv import BatchDevices, RowProblem
from certadmin.devices.live_lookups import live_lookup_slot
from certadmin.devices.models import ProductSync
from certadmin.devices.platform import describe_iot_error, iot_client
from certadmin.iot.client import IotClient
from certadmin.iot.errors import (
    INSTANCE_ERROR_CODES,
    NOT_FOUND_CODES,
    IotBusinessError,
    IotError,
)
from certadmin.iot.identity import DeviceRef
from certadmin.jobs.models import (
    ACTIVE_STATES,
    SYNC_ACTIVE_STATES,
    Job,
    JobItem,
    JobKind,
    JobState,
    SyncMode,
)
from certadmin.jobs.selectors import (
    chain_verification_running,
    job_is_long,
    jobs_admitted_count,
    product_sync_running,
)

logger = logging.getLogger(__name__)


class JobStartError(Exception):
    """The job was not started: ``message`` says why, for the person who asked."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# JobStartError codes of certadmin's own.
JOB_QUEUE_FULL = "JobQueueFull"
SYNC_ALREADY_ACTIVE = "SyncAlreadyActive"


class ProductSyncActive(JobStartError):
    """A sync of the same product (account, ProductKey, instance) is already queued or
    running: ``job`` is that one, and nothing new was queued."""

    def __init__(self, job: "Job") -> None:
        super().__init__(
            _("A sync of product %(product)s is already %(state)s (job %(job)d).")
            % {"product": job.product_key, "state": job.get_state_display(), "job": job.pk},
            code=SYNC_ALREADY_ACTIVE,
        )
        self.job = job


class BatchRowsRefused(JobStartError):
    """A batch list with rows that cannot be looked up: all of them, by line (``problems``).
    Nothing was started."""

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__(
            ngettext(
                "%(count)d row cannot be looked up (below). Fix it and send the list "
                "again: nothing was started.",
                "%(count)d rows cannot be looked up (below). Fix them and send the list "
                "again: nothing was started.",
                len(problems),
            )
            % {"count": len(problems)},
            code="BatchRowsRefused",
        )
        self.problems = problems


class JobPermissionError(Exception):
    """Only the job's owner or a superuser may do that."""


def jobs_admit(*, owner) -> list[Job]:
    """Admit the owner's oldest waiting jobs while they have fewer than ``JOBS_PER_PERSON``
    running, and enqueue their task runs. Returns the jobs admitted."""
    admitted: list[Job] = []
    with transaction.atomic():
        if owner is not None:
            # One admission per person at a time (on SQLite the write lock already serialises).
            get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
        room = settings.JOBS_PER_PERSON - jobs_admitted_count(owner=owner)
        if room <= 0:
            return []
        waiting = Job.objects.filter(
            owner=owner, state=JobState.QUEUED, admitted_at__isnull=True
        ).order_by("created_at", "pk")[:room]
        now = timezone.now()
        for job in waiting:
            if Job.objects.filter(pk=job.pk, admitted_at__isnull=True).update(admitted_at=now):
                job.admitted_at = now
                admitted.append(job)
                transaction.on_commit(lambda job_id=job.pk: job_runs_enqueue(job_id=job_id))
    return admitted


@dataclass(frozen=True)
class JobTasks:
    """The task functions that run jobs (``certadmin.jobs.tasks``)."""

    work: Task
    watch: Task
    chain_verification: Task


# The task functions run the runner, which uses this module: ``tasks`` hands them over at
# startup (``JobsConfig.ready``), so this module never imports it and no import goes round.
_job_tasks: JobTasks | None = None


def job_tasks_use(tasks: JobTasks) -> None:
    """Queue jobs' runs with ``tasks`` (called once, at startup)."""
    global _job_tasks
    _job_tasks = tasks


def job_tasks() -> JobTasks:
    """The task functions that run jobs."""
    if _job_tasks is None:
        raise RuntimeError("the jobs app is not ready: its task functions are not known yet")
    return _job_tasks


# Of the tasks waiting, a worker that takes every queue runs the interactive ones first.
INTERACTIVE_PRIORITY = 10
SYNC_PRIORITY = 0


def job_runs_enqueue(*, job_id: int, runs: int | None = None) -> None:
    """Put the job's task runs and its watchdog on the queue: a long job's runs on the "sync"
    queue, every other task on the "interactive" one, ahead. A chain verification is one walk
    of the trail: always one run."""
    tasks = job_tasks()
    kind, total = Job.objects.filter(pk=job_id).values_list("kind", "total").first() or ("", 0)
    if kind == JobKind.CHAIN_VERIFY:
        tasks.chain_verification.using(priority=INTERACTIVE_PRIORITY).enqueue(job_id)
    else:
        if job_is_long(kind=kind, total=total):
            work = tasks.work.using(queue_name=settings.JOB_QUEUE_SYNC, priority=SYNC_PRIORITY)
        else:
            work = tasks.work.using(priority=INTERACTIVE_PRIORITY)
        for _run in range(settings.JOB_RUNS if runs is None else runs):
            work.enqueue(job_id)
    job_watch_enqueue(job_id=job_id)


def job_watch_enqueue(*, job_id: int) -> None:
    """Schedule the job's watchdog one lease period from now (on the "interactive" queue: it
    takes a moment, and must not wait behind syncs)."""
    job_tasks().watch.using(
        run_after=timezone.now() + timedelta(seconds=settings.JOB_LEASE_SECONDS),
        priority=INTERACTIVE_PRIORITY,
    ).enqueue(job_id)


def _product_check(*, client: IotClient, product_key: str, iot_instance_id: str, owner=None) -> int:
    """Ask for the first page of the product's devices: a product that does not exist, a wrong
    instance or a product the account may not read is refused here, before any job exists.
    The owner waits for it: it takes one of their live lookup slots. Returns the product's
    device count."""
    try:
        with live_lookup_slot(user=owner):
            page = client.query_device(
                product_key=product_key,
                page=1,
                page_size=1,
                iot_instance_id=iot_instance_id or None,
            )
    except IotBusinessError as error:
        raise JobStartError(
            describe_iot_error(error, product_key=product_key), code=error.code
        ) from None
    except IotError as error:
        raise JobStartError(describe_iot_error(error), code=error.code) from None
    return page.total


def _account_check(*, owner, account: str) -> str:
    """The job's API account name; refused (``JobStartError``) when the owner may not use it.
    A job without an owner (a management command) may use any configured account."""
    account = account or settings.IOT_DEFAULT_ACCOUNT
    allowed = (
        account_allowed(user=owner, account=account)
        if owner is not None
        else account in settings.IOT_ACCOUNTS
    )
    if not allowed:
        raise JobStartError(_("You may not use this account."), code="AccountNotPermitted")
    return account


def _queue_check(*, owner) -> None:
    """Refuse (``JobStartError``) one more queued job when the owner already has
    ``JOBS_QUEUED_PER_PERSON`` waiting, or the queue holds ``JOBS_QUEUED_TOTAL`` in all."""
    queued = Job.objects.filter(state=JobState.QUEUED).order_by()
    if owner is not None:
        limit = settings.JOBS_QUEUED_PER_PERSON
        if queued.filter(owner=owner).count() >= limit:
            raise JobStartError(
                ngettext(
                    "You already have %(count)d job waiting in the queue: wait for it to "
                    "start, or cancel it, before starting another.",
                    "You already have %(count)d jobs waiting in the queue: wait for one to "
                    "start, or cancel one, before starting another.",
                    limit,
                )
                % {"count": limit},
                code=JOB_QUEUE_FULL,
            )
    if queued.count() >= settings.JOBS_QUEUED_TOTAL:
        raise JobStartError(
            _(
                "The job queue is full (%(count)d jobs waiting). Try again when some have "
                "started; if it stays full, tell an administrator."
            )
            % {"count": settings.JOBS_QUEUED_TOTAL},
            code=JOB_QUEUE_FULL,
        )


def _job_create(*, owner, **fields) -> Job:
    # Checked again here, the owner's row locked (on SQLite the write lock serialises): two
    # starts at once by one person cannot both take the last place in the queue.
    with transaction.atomic():
        if owner is not None:
            get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
        _queue_check(owner=owner)
        return Job.objects.create(owner=owner, **fields)


def product_sync_active(*, account: str, product_key: str, iot_instance_id: str) -> Job | None:
    """The product's one sync, queued or running on this account and instance, if any (one
    being cancelled does not count: a new sync may start while it stops)."""
    return product_sync_running(
        account=account,
        product_key=product_key,
        iot_instance_id=iot_instance_id,
        states=SYNC_ACTIVE_STATES,
    )


def product_sync_start(
    *,
    owner,
    product_key: str,
    iot_instance_id: str = "",
    account: str = "",
    mode: str = SyncMode.FULL,
    client: IotClient | None = None,
) -> Job:
    """Create a product sync (admitted now, or queued behind the owner's running jobs) on API
    account ``account`` ("": the default account), full or incremental (``mode``, a
    ``SyncMode``: see ``certadmin/jobs/incremental.py``).

    Raises ``ProductSyncActive`` (a ``JobStartError`` naming the job) when a sync of the same
    product, account and instance is already queued or running, whoever started it; and
    ``JobStartError`` for an account the owner may not use, a full queue
    (``JOBS_QUEUED_PER_PERSON``, ``JOBS_QUEUED_TOTAL``), an unknown product or instance, a
    product the account may not read, or a platform that cannot be reached: nothing is created
    then.
    """
    account = _account_check(owner=owner, account=account)
    product = {"account": account, "product_key": product_key, "iot_instance_id": iot_instance_id}
    if (active := product_sync_active(**product)) is not None:
        raise ProductSyncActive(active)
    _queue_check(owner=owner)
    total = _product_check(
        client=client or iot_client(account=account),
        product_key=product_key,
        iot_instance_id=iot_instance_id,
        owner=owner,
    )
    try:
        job = _job_create(
            owner=owner, kind=JobKind.PRODUCT_SYNC, total=total, mode=SyncMode(mode), **product
        )
    except IntegrityError:
        # Another start of the same sync won the race (one_active_sync_per_product).
        if (active := product_sync_active(**product)) is not None:
            raise ProductSyncActive(active) from None
        raise
    jobs_admit(owner=owner)
    job.refresh_from_db()
    return job


def device_lookup_job_create(
    *, owner, kind: str, devices: Iterable[DeviceRef], account: str = ""
) -> Job:
    """Create a job whose items are given up front (e.g. a batch lookup from a CSV); repeated
    devices become one item, looked up on API account ``account`` ("": the default). The
    caller has validated every device reference and the account. Raises ``JobStartError``
    when the queue is full."""
    with transaction.atomic():
        job = _job_create(
            kind=kind,
            owner=owner,
            listing_complete=True,
            account=account or settings.IOT_DEFAULT_ACCOUNT,
        )
        JobItem.objects.bulk_create(
            (
                JobItem(
                    job=job,
                    product_key=device.product_key,
                    device_name=device.device_name,
                    iot_instance_id=device.iot_instance_id,
                )
                for device in dict.fromkeys(devices)
            ),
            batch_size=500,
            ignore_conflicts=True,
        )
        job.total = job.items.count()
        job.save(update_fields=["total"])
    jobs_admit(owner=owner)
    job.refresh_from_db()
    return job


# A batch names few products in practice; each distinct one is checked once before the job is
# created (QueryDevice, one page of one device). Beyond this many, the devices' own lookups
# report an unknown product as their error Code.
BATCH_PRODUCTS_CHECKED = 20


def batch_lookup_start(
    *, owner, batch: BatchDevices, account: str = "", client: IotClient | None = None
) -> Job:
    """Create a batch lookup of the devices ``batch`` names (``batch_csv_parse``) on API
    account ``account`` ("": the default account).

    Every row is checked in one pass: the rows the CSV reading refused and each row naming a
    product that does not exist, is on an unknown instance or that the account may not read
    (up to ``BATCH_PRODUCTS_CHECKED`` products) are raised together, by line, as
    ``BatchRowsRefused``. Raises ``JobStartError`` for an account the owner may not use, a full
    queue or a platform that cannot answer. Nothing is created then.
    """
    account = _account_check(owner=owner, account=account)
    _queue_check(owner=owner)
    problems = [
        *batch.problems,
        *_batch_product_problems(batch=batch, owner=owner, account=account, client=client),
    ]
    if problems:
        raise BatchRowsRefused(sorted(problems, key=lambda problem: problem.line))
    return device_lookup_job_create(
        owner=owner, kind=JobKind.BATCH_LOOKUP, devices=batch.devices, account=account
    )


def _names_the_product(code: str) -> bool:
    # The product, or its instance, is wrong for this account: a fault of the rows that name
    # it. Anything else (credentials, throttling, an unreachable platform) is the request's.
    return (
        code in NOT_FOUND_CODES
        or code in INSTANCE_ERROR_CODES
        or code.startswith(("iot.prod.", "iot.common.RamActionPermissionDeny"))
    )


def _batch_product_problems(
    *, batch: BatchDevices, owner, account: str, client: IotClient | None
) -> list[RowProblem]:
    """Each row of ``batch`` that names a product the account cannot read, with why."""
    products = list(
        dict.fromkeys((row.device.product_key, row.device.iot_instance_id) for row in batch.rows)
    )
    if not products or len(products) > BATCH_PRODUCTS_CHECKED:
        return []
    client = client or iot_client(account=account)
    refused: dict[tuple[str, str], str] = {}
    for product_key, iot_instance_id in products:
        try:
            _product_check(
                client=client,
                product_key=product_key,
                iot_instance_id=iot_instance_id,
                owner=owner,
            )
        except JobStartError as error:
            if not _names_the_product(error.code):
                raise
            refused[product_key, iot_instance_id] = f"{error.message} ({error.code})"
    return [
        RowProblem(row.line, refused[product], row.text)
        for row in batch.rows
        if (product := (row.device.product_key, row.device.iot_instance_id)) in refused
    ]


def chain_verification_start(
    *, owner, context: RequestContext, expect_head: str = ""
) -> tuple[Job, bool]:
    """Start verifying the audit chain as a job (against ``expect_head``, a head hash anchored
    earlier, when given), or find the verification already under way: only one runs at a
    time. Returns the job and whether this call started it; raises ``JobStartError`` in the
    unlikely case that neither can be done.

    ``context`` (where the request came from) is kept for the run's audit event. The job is
    admitted at once: it uses no API quota, so the per-person limit does not hold it back."""
    for _attempt in range(2):
        running = chain_verification_running()
        if running is not None:
            return running, False
        try:
            with transaction.atomic():
                job = Job.objects.create(
                    kind=JobKind.CHAIN_VERIFY,
                    owner=owner,
                    expect_head=expect_head,
                    ip_address=context.ip_address,
                    user_agent=context.user_agent,
                    listing_complete=True,
                    admitted_at=timezone.now(),
                )
                transaction.on_commit(lambda job_id=job.pk: job_runs_enqueue(job_id=job_id))
        except IntegrityError:
            # Another click started one between our look and our insert
            # (one_active_chain_verification): point to that one.
            continue
        return job, True
    # One started and ended between our looks, twice over.
    raise JobStartError(_("Another verification was starting at the same moment: try again."))


def job_may_cancel(*, job: Job, user) -> bool:
    return user.is_superuser or (job.owner_id is not None and job.owner_id == user.pk)


def job_cancel(*, job: Job, actor) -> Job:
    """Cancel a job: at once if no worker has it yet, else ``cancelling`` until the workers
    notice (between two items). Raises ``JobPermissionError`` unless owner or superuser."""
    if not job_may_cancel(job=job, user=actor):
        raise JobPermissionError(
            _("Only the person who started a job, or a superuser, can cancel it.")
        )
    if Job.objects.filter(pk=job.pk, state=JobState.QUEUED, started_at__isnull=True).exists():
        job_end(job_id=job.pk, state=JobState.CANCELLED)
    else:
        Job.objects.filter(pk=job.pk, state__in=(JobState.QUEUED, JobState.RUNNING)).update(
            state=JobState.CANCELLING
        )
    job.refresh_from_db()
    return job


# What runs after a product sync has finished: apps above this one (the findings' checks) plug in
# at startup, so this module never imports them.
_sync_finished_observers: list[Callable[..., None]] = []


def product_sync_finished_observer_use(observe: Callable[..., None]) -> None:
    """Call ``observe(account=, product_key=, iot_instance_id=, job_id=)`` after each product
    sync that finished (once its end is committed). Installed once per observer, at startup."""
    if observe not in _sync_finished_observers:
        _sync_finished_observers.append(observe)


def _product_sync_finished(job: Job) -> None:
    for observe in _sync_finished_observers:
        try:
            observe(
                account=job.account,
                product_key=job.product_key,
                iot_instance_id=job.iot_instance_id,
                job_id=job.pk,
            )
        except Exception:
            # The sync is done and recorded: what comes after it must not undo that.
            logger.exception("after the sync of job %s: an observer failed", job.pk)


def job_end(*, job_id: int, state: JobState, error: str = "") -> bool:
    """Move an active job to an ended state (once); record a finished sync; admit the owner's
    next waiting job. Returns False when the job had already ended."""
    now = timezone.now()
    with transaction.atomic():
        ended = Job.objects.filter(pk=job_id, state__in=ACTIVE_STATES).update(
            state=state, finished_at=now, error=error[:500]
        )
        if not ended:
            return False
        job = Job.objects.get(pk=job_id)
        if state == JobState.FINISHED and job.kind == JobKind.PRODUCT_SYNC:
            ProductSync.objects.update_or_create(
                account=job.account,
                product_key=job.product_key,
                iot_instance_id=job.iot_instance_id,
                defaults={
                    # The devices listed (an incremental sync looks only some of them up).
                    "device_count": job.listed or job.total,
                    "failed_count": job.failed,
                    "synced_at": now,
                    "mode": job.mode,
                    "job": job,
                    **({"full_synced_at": now} if job.mode == SyncMode.FULL else {}),
                },
            )
            transaction.on_commit(lambda: _product_sync_finished(job))
    jobs_admit(owner=job.owner)
    return True


def job_item_lease_q(now) -> Q:
    """Items nobody holds: never claimed, or their claim ran out."""
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)
