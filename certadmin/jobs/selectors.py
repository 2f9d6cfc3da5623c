"""Reading jobs: who may see which, what runs, and a job's devices. (A job's progress in words
and numbers is ``progress.job_progress``.)"""

import heapq
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery

from certadmin.accounts.api_accounts import accounts_for
from certadmin.accounts.roles import VIEW_CERTIFICATES
from certadmin.devices.compiled import CompiledOnce
from certadmin.devices.models import CertificateRecord
from certadmin.jobs.models import (
    ACTIVE_STATES,
    DEVICE_KINDS,
    ItemState,
    Job,
    JobItem,
    JobKind,
    JobState,
)


def jobs_visible(*, user) -> QuerySet[Job]:
    """The device jobs ``user`` may follow: their own, and every job (anyone's, or the command
    line's) on an API account they may use, when they may view certificates: whoever may see
    a product may follow its jobs. A superuser sees every job. (Chain verifications are shown
    on the audit pages: ``chain_verification_job``.)"""
    jobs = Job.objects.select_related("owner").filter(kind__in=DEVICE_KINDS)
    if user.is_superuser:
        return jobs
    if not user.has_perm(VIEW_CERTIFICATES):
        return jobs.filter(owner=user)
    accounts = [account.name for account in accounts_for(user=user)]
    return jobs.filter(Q(owner=user) | Q(account__in=accounts))


# What the jobs list shows of a job (``jobs.rows``) and what its waiting text reads
# (``job_waiting_texts``): the list loaded every column of its jobs, tokens and user agents too.
_LISTED_FIELDS = (
    "kind",
    "state",
    "product_key",
    "total",
    "done",
    "failed",
    "admitted_at",
    "started_at",
    "finished_at",
    "owner",
)


def jobs_listed(
    *, user, own: bool, limit: int, before: int | None = None
) -> tuple[list[Job], int | None]:
    """The newest ``limit`` of ``jobs_visible`` that ``user`` started (``own``) or that others
    (or the command line) started, older than job ``before`` when given, with the columns the
    jobs list shows and their owners' names, in one query; and the id to ask for the next
    (older) ones with, None when there are none. A job's ``owner`` carries only its id and
    name, one object per person (a list names a few people, and building a user per row cost
    as much as its job)."""
    person = Job.owner.field.related_model
    visible = jobs_visible(user=user).select_related(None).only(*_LISTED_FIELDS)
    jobs = visible.filter(owner=user) if own else visible.exclude(owner=user)
    if before is not None:
        # After job ``before`` in the list's order (newest first, then the higher id); a job the
        # person may not see places nothing (and the page is empty).
        anchor = Subquery(visible.filter(pk=before).values("created_at")[:1])
        jobs = jobs.filter(Q(created_at__lt=anchor) | Q(created_at=anchor, pk__lt=before))
    jobs = list(jobs.annotate(owner_name=F(f"owner__{person.USERNAME_FIELD}"))[: limit + 1])
    older = jobs[limit - 1].pk if len(jobs) > limit else None
    del jobs[limit:]
    owners = {}
    for job in jobs:
        if job.owner_id is not None:
            owner = owners.get(job.owner_id)
            if owner is None:
                owner = owners[job.owner_id] = person(
                    pk=job.owner_id, **{person.USERNAME_FIELD: job.owner_name}
                )
            job.owner = owner
    return jobs, older


def product_sync_running(
    *,
    account: str,
    product_key: str,
    iot_instance_id: str,
    states: Collection[str] = ACTIVE_STATES,
) -> Job | None:
    """The newest sync of this product in one of ``states`` (default: queued, running or being
    cancelled), if any."""
    product = {"account": account, "product_key": product_key, "iot_instance_id": iot_instance_id}
    if states is ACTIVE_STATES:
        return next(iter(_ACTIVE_SYNC.instances(**product)), None)
    return _product_syncs(states=states, **product).first()


def _product_syncs(*, states: Collection[str], **product: str) -> QuerySet[Job]:
    return Job.objects.filter(kind=JobKind.PRODUCT_SYNC, state__in=states, **product).order_by(
        "-created_at"
    )


# A product's running sync, asked on every view of its device list: compiled once.
_ACTIVE_SYNC = CompiledOnce(
    lambda **product: _product_syncs(states=ACTIVE_STATES, **product)[:1],
    account="\x01account",
    product_key="\x01product",
    iot_instance_id="\x01instance",
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


def job_is_long(*, kind: str, total: int) -> bool:
    """Whether a job queues with the syncs ("sync") rather than with the short jobs people
    wait for ("interactive"): a product sync, or a batch of more than
    ``JOB_INTERACTIVE_MAX_ITEMS`` devices."""
    if kind == JobKind.PRODUCT_SYNC:
        return True
    return kind == JobKind.BATCH_LOOKUP and total > settings.JOB_INTERACTIVE_MAX_ITEMS


def _long_q() -> Q:
    # job_is_long, as a query.
    return Q(kind=JobKind.PRODUCT_SYNC) | Q(
        kind=JobKind.BATCH_LOOKUP, total__gt=settings.JOB_INTERACTIVE_MAX_ITEMS
    )


def jobs_holding_workers(*, long: bool) -> QuerySet[Job]:
    """The device jobs a worker is on now (running or being cancelled), long ones (what the
    sync workers are busy with) or short ones, the longest-running first."""
    kind = _long_q() if long else Q(kind__in=DEVICE_KINDS) & ~_long_q()
    return (
        Job.objects.select_related("owner")
        .filter(kind, state__in=(JobState.RUNNING, JobState.CANCELLING))
        .order_by("started_at", "pk")
    )


def jobs_admitted_count(*, owner) -> int:
    """How many of ``owner``'s device jobs hold one of their places (admitted, not ended); a
    chain verification uses no API quota and holds none."""
    return (
        Job.objects.filter(
            owner=owner, kind__in=DEVICE_KINDS, state__in=ACTIVE_STATES, admitted_at__isnull=False
        )
        .order_by()
        .count()
    )


def jobs_admitted_counts(*, owners: Collection) -> dict[int | None, int]:
    """``jobs_admitted_count`` of each of ``owners`` (users, or None for the command line), by
    their id, in one query; an owner without such jobs is left out (zero)."""
    ids = {getattr(owner, "pk", None) for owner in owners}
    who = Q(owner__in=[pk for pk in ids if pk is not None])
    if None in ids:
        who |= Q(owner__isnull=True)
    rows = (
        Job.objects.filter(
            who, kind__in=DEVICE_KINDS, state__in=ACTIVE_STATES, admitted_at__isnull=False
        )
        .order_by()
        .values_list("owner")
        .annotate(count=Count("pk"))
    )
    return dict(rows)


def jobs_running(*, account: str) -> int:
    """How many device jobs of API account ``account`` are running now."""
    return (
        Job.objects.filter(state=JobState.RUNNING, account=account, kind__in=DEVICE_KINDS)
        .order_by()
        .count()
    )


@dataclass(frozen=True)
class JobProduct:
    """A product a job looked devices up in (what the device list and expiry links name)."""

    product_key: str
    iot_instance_id: str
    account: str


def job_products(*, job: Job, limit: int) -> list[JobProduct]:
    """The products of a job's devices, by ProductKey: a sync's one product, or the first
    ``limit`` products of a batch."""
    if job.product_key:
        return [JobProduct(job.product_key, job.iot_instance_id, job.account)]
    pairs = (
        job.items.order_by("product_key", "iot_instance_id")
        .values_list("product_key", "iot_instance_id")
        .distinct()[:limit]
    )
    return [JobProduct(key, instance, job.account) for key, instance in pairs]


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


def job_unrecorded_items(*, job: Job) -> QuerySet[JobItem]:
    """A job's failed items whose device has no inventory record (a DeviceName the platform
    does not have, or a first lookup that failed), by name."""
    records = CertificateRecord.objects.filter(
        account=job.account,
        product_key=OuterRef("product_key"),
        device_name=OuterRef("device_name"),
        iot_instance_id=OuterRef("iot_instance_id"),
    )
    return (
        JobItem.objects.filter(job=job, state=ItemState.FAILED)
        .exclude(Exists(records))
        .order_by("product_key", "iot_instance_id", "device_name")
    )


def _result_key(record: CertificateRecord) -> tuple[str, str, str]:
    return (record.product_key, record.iot_instance_id, record.device_name)


def job_results(*, job: Job) -> Iterator[CertificateRecord]:
    """A batch's results, one per device, by name: its devices' inventory records, and for a
    failed item without one a record made in memory (never saved) that carries the item's
    error Code, so the results page and CSV list every device the batch named."""
    unrecorded = (
        CertificateRecord(
            account=job.account,
            product_key=item.product_key,
            device_name=item.device_name,
            iot_instance_id=item.iot_instance_id,
            nickname=item.nickname,
            device_status=item.device_status,
            last_error_code=item.error_code,
            last_checked=item.finished_at,
        )
        for item in job_unrecorded_items(job=job).iterator(chunk_size=1000)
    )
    return heapq.merge(job_records(job=job).iterator(chunk_size=1000), unrecorded, key=_result_key)


def job_results_count(*, job: Job) -> int:
    """How many rows ``job_results`` has."""
    return job_records(job=job).count() + job_unrecorded_items(job=job).count()
