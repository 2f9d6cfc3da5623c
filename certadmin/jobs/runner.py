"""The work of a job, done by any number of task runs at once, on SQLite or PostgreSQL.

Each run claims items in batches (``_ItemBatch``): up to ``ITEM_BATCH`` (about a second of
the jobs' share) in one compare-and-set ``UPDATE`` that takes a lease (``JOB_LEASE_SECONDS``)
on those still free, then reads back what it got. One query finds the batch's devices the
inventory shows as looked up since the job was created: recorded without a lookup. It looks the
others up one at a time, each answer written to the inventory at once, and records the items'
results and the job's counters in one transaction per batch (or every ``RECORD_SECONDS``),
only for the items it still holds. It renews the lease of all it holds in one ``UPDATE`` while
a lookup is retried and before a lookup once a third of the lease has passed; items another run
took over meanwhile are dropped unasked, and their results are that run's to count. It reads
its job again at least every ``JOB_READ_SECONDS``: a cancel records the lookups made and
leaves the batch's other items pending. So:

- a finished item is never looked up again (it is no longer ``pending``);
- an item held by a worker that was killed is claimed again once its lease runs out, and its
  device, if that worker had written its answer to the inventory before dying, is not asked
  again (see "Nothing is asked twice" below);
- two runs never work the same item while a lease holds;
- an item is counted once: by the run whose lease it was under when recorded.

django-tasks-db leaves the task of a SIGKILLed worker ``RUNNING`` for ever and never runs it
again. A job therefore does not rely on its own task runs surviving: the deferred ``job_watch``
task looks every lease period, and when the job has made no progress for a lease period and
nobody holds a lease, it enqueues fresh ``job_work`` runs (``JOB_RUNS``, as at the start), which
carry on where the dead ones stopped.

A product sync first walks ``QueryDevice`` page by page (one run at a time holds the listing's
lease; the next page to fetch and the NextToken that leads to it are saved after each page; an
empty NextToken ends the listing) and creates the items as it goes; a listing the platform cuts
short (an empty or short page before the end, or an end before ``Total``) fails the job; runs
without a listing to do look up the items already listed. The listing run looks items up too,
while each of its listing calls waits for its quota and its answer (``_looked_up_meanwhile``,
from the run's batch; what is left of it waits for the next call, or for another run once
its lease runs out):
the listing's pace is set by its quotas (the deep pages' 2 calls/s, the details' share), and
one run alone looking up, one item at a time, fell short of the lookups' share whenever a
lookup took longer than its slot (68-81 % of it on a loaded machine, for the listing's length:
hours past row 100,000 on a large product). A full sync makes an item of every
device listed; an incremental one only of those ``incremental.listing_picks`` chooses, and, once
the listing is complete, of a rolling slice of the rest (``incremental.rolling_slice``). When the
listing ends complete (as many devices listed as the platform counts), the inventory's records
of that product's devices it did not list are marked removed
(``inventory_unlisted_mark_removed``). A lookup the platform answers with "no such device" fails
its item with that Code and marks the device's record, if any, removed
(``device_certificate_check``).

Nothing is asked twice: a device the inventory shows as looked up since the job was created
(by this job's run that died before recording its item, or by anyone) is not asked again, and
a run taking the listing over goes on from the page and NextToken saved after the last page.

Every 100 listed devices (and at the end of the listing) the listing run asks their details of
``BatchQueryDeviceDetail`` and records node type, firmware and activation in the inventory
(``_listing_context``); a call that fails is counted in the job's ``context_missing``, and the
sync goes on without those details.

A chain verification has no items: one run walks the audit trail (``chain_verify``), writing
the rows checked after each batch, and ends the job with the ``ChainVerification`` it
recorded. A run the watchdog had to replace starts the walk again.
"""

import contextvars
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from certadmin.audit.models import AuditEvent
from certadmin.audit.services import RequestContext, chain_verification_record
from certadmin.audit.verification import chain_verify
from certadmin.devices.inventory import (
    device_certificate_check,
    inventory_context_store,
    inventory_listing_store,
    inventory_unlisted_mark_removed,
)
from certadmin.devices.models import CertificateRecord
from certadmin.devices.platform import describe_iot_error, iot_client
from certadmin.http.request_id import request_id_bound
from certadmin.iot.client import MAX_DETAIL_NAMES, MAX_PAGE_SIZE, IotClient
from certadmin.iot.errors import IotBusinessError, IotError, IotThrottledError
from certadmin.iot.identity import DeviceRef
from certadmin.iot.results import DeviceListing, DeviceListPage
from certadmin.jobs.incremental import listing_picks, rolling_slice
from certadmin.jobs.models import (
    ENDED_STATES,
    ItemState,
    Job,
    JobItem,
    JobKind,
    JobState,
    SyncMode,
)
from certadmin.jobs.services import (
    job_end,
    job_item_lease_q,
    job_runs_enqueue,
    job_tasks,
    job_watch_enqueue,
)

logger = logging.getLogger(__name__)

# A lookup that fails for a reason a repeat may cure (network, 5xx) is tried this many times
# before the item is recorded as failed with the error's Code. Throttling is never counted.
ITEM_ATTEMPTS = 5
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0
# How long a run waits for another run's listing to produce items.
LISTING_WAIT = 0.5
# How long the listing run waits for a listing call's answer before it looks items up
# meanwhile: a call that waits for no quota answers within it, and a lookup started then would
# hold the page back for the lookup's length (the listing of the shallow pages at a third of
# its pace on a loaded machine).
LISTING_ANSWER_GRACE = 0.05


class JobFailed(Exception):
    """The job cannot go on (e.g. the platform refuses the credentials)."""


class _LookupFailed(JobFailed):
    """A lookup made while a listing call waited failed the job (not the listing call)."""


def _lease() -> timedelta:
    return timedelta(seconds=settings.JOB_LEASE_SECONDS)


def _backoff(attempt: int) -> float:
    return random.uniform(0, min(BACKOFF_MAX, BACKOFF_BASE * 2**attempt))  # full jitter


def _job_start(job_id: int) -> None:
    now = timezone.now()
    Job.objects.filter(
        pk=job_id, state=JobState.QUEUED, admitted_at__isnull=False, started_at__isnull=True
    ).update(state=JobState.RUNNING, started_at=now, last_progress_at=now)


def job_work(
    *,
    job_id: int,
    client: IotClient | None = None,
    on_progress: Callable[[Job], None] | None = None,
) -> str:
    """Work on the job until nothing is left to claim; end it when every item is done.

    ``on_progress`` is called with the job as read before each step (for a progress bar): a
    listing, or lookups of a batch (``JOB_READ_SECONDS`` of them at most).
    Returns a word for the task's result: why this run stopped. Log lines of the run (its
    platform calls included) carry the request id ``job-<id>``.
    """
    with request_id_bound(f"job-{job_id}"):
        logger.info("job %s run started", job_id, extra={"event": "job_run", "job_id": job_id})
        result = _job_work(job_id=job_id, client=client, on_progress=on_progress)
        logger.info(
            "job %s run stopped: %s",
            job_id,
            result,
            extra={"event": "job_run_end", "job_id": job_id, "result": result},
        )
        return result


def _job_work(
    *,
    job_id: int,
    client: IotClient | None,
    on_progress: Callable[[Job], None] | None,
) -> str:
    token = uuid.uuid4().hex
    account = Job.objects.filter(pk=job_id).values_list("account", flat=True).first()
    if account is None:
        return "ended"
    client = client or iot_client(account=account, purpose="job")
    _job_start(job_id)
    batch = _ItemBatch(job_id=job_id, token=token)
    try:
        while True:
            job = Job.objects.filter(pk=job_id).first()
            if job is None or job.state in ENDED_STATES:
                batch.record()
                return "ended"
            if on_progress is not None:
                on_progress(job)
            if job.state == JobState.CANCELLING:
                # The lookups made count; the items held and not asked stay pending.
                batch.record()
                job_end(job_id=job_id, state=JobState.CANCELLED)
                return "cancelled"
            if job.admitted_at is None:
                return "not admitted"
            if not job.listing_complete and _listing_claim(job, token):
                # Read again now that it is held: the place where the last holder stopped.
                _listing_walk(Job.objects.get(pk=job_id), batch, client)
                continue
            if batch.fill(job):
                _items_work(job, batch, client)
                continue
            if not job.listing_complete:
                time.sleep(LISTING_WAIT)
                continue
            if JobItem.objects.filter(job_id=job_id, state=ItemState.PENDING).exists():
                return "others hold the rest"
            job_end(job_id=job_id, state=JobState.FINISHED)
            return "finished"
    except JobFailed as failure:
        batch.record()
        job_end(job_id=job_id, state=JobState.FAILED, error=str(failure))
        return "failed"


# ---- the listing (product sync) -----------------------------------------------------------


def _listing_claim(job: Job, token: str) -> bool:
    now = timezone.now()
    free = Q(listing_lease_until__isnull=True) | Q(listing_lease_until__lt=now)
    return bool(
        Job.objects.filter(free, pk=job.pk, listing_complete=False).update(
            listing_lease_until=now + _lease(), listing_token=token
        )
    )


def _listing_walk(job: Job, batch: "_ItemBatch", client: IotClient) -> None:
    """Fetch the product's devices page by page from where the listing stopped.

    Every page after the first is asked with the NextToken of the page before (saved with the
    page number, so a run taking over goes on from the same place); an empty NextToken ends the
    listing. A listing the platform cuts short fails the job (``_listing_cut_short``).
    """
    token = batch.token
    page, next_token = job.listing_next_page, job.listing_next_token
    if page > 1 and not next_token:
        # Saved before tokens were kept: the place cannot be reached again without one, so the
        # listing starts over (items already listed are not created twice).
        page = 1
    # Listed names whose details are not asked yet: asked 100 at a time (two pages).
    context_pending: list[str] = []
    while True:
        if Job.objects.filter(pk=job.pk, state=JobState.CANCELLING).exists():
            return

        def fetch(page: int = page, next_token: str = next_token):
            # The job's client holds it to the jobs' share of QueryDevice's quota.
            return client.query_device(
                product_key=job.product_key,
                page=page,
                page_size=MAX_PAGE_SIZE,
                iot_instance_id=job.iot_instance_id or None,
                next_token=next_token or None,
            )

        try:
            result = _with_retries(
                lambda fetch=fetch: _looked_up_meanwhile(
                    fetch, job=job, batch=batch, client=client
                ),
                renew=lambda: _listing_renew(job, token),
            )
        except IotError as error:
            # The product vanished, or the platform stayed unreachable: the sync cannot go on.
            raise JobFailed(describe_iot_error(error, product_key=job.product_key)) from None
        cut_short = _listing_cut_short(job, page, result)
        if cut_short:
            logger.warning(
                "job %s: listing of %s cut short at page %s (%s rows of %s)",
                job.pk,
                job.product_key,
                page,
                (page - 1) * MAX_PAGE_SIZE + len(result.devices),
                result.total,
            )
            raise JobFailed(cut_short)
        if job.mode == SyncMode.INCREMENTAL:
            # Read against the inventory before this page is stored in it.
            _items_create(job, listing_picks(job=job, devices=result.devices))
        else:
            _items_create(job, result.devices)
        # Every listed device is searchable at once, "never checked" until its lookup.
        inventory_listing_store(
            account=job.account,
            product_key=job.product_key,
            iot_instance_id=job.iot_instance_id,
            listings=result.devices,
        )
        context_pending.extend(device.device_name for device in result.devices)
        if len(context_pending) >= MAX_DETAIL_NAMES or not result.next_token:
            _listing_context(job, batch, client, context_pending)
            context_pending.clear()
        last = not result.next_token
        now = timezone.now()
        with transaction.atomic():
            items = JobItem.objects.filter(job_id=job.pk).count()
            held = Job.objects.filter(pk=job.pk, listing_token=token).update(
                listing_next_page=page + 1,
                listing_next_token=result.next_token,
                listing_lease_until=now + _lease(),
                # A full sync's items are the product's devices; an incremental one's are
                # known once the listing ends.
                total=max(result.total, items) if job.mode == SyncMode.FULL else items,
                last_progress_at=now,
            )
            if held and last:
                _listing_end(job, platform_total=result.total, now=now)
        if not held or last:
            return
        page, next_token = page + 1, result.next_token


def _items_create(job: Job, devices: list[DeviceListing]) -> None:
    """Items for ``devices``; a device listed again (a page fetched twice) gets no second
    item."""
    JobItem.objects.bulk_create(
        [
            JobItem(
                job=job,
                product_key=job.product_key,
                device_name=device.device_name,
                iot_instance_id=job.iot_instance_id,
                nickname=(device.nickname or "")[:128],
                device_status=(device.device_status or "")[:32],
                listing_modified=(device.modified or "")[:64],
            )
            for device in devices
        ],
        batch_size=500,
        ignore_conflicts=True,
    )


def _listing_end(job: Job, *, platform_total: int, now) -> None:
    """The listing's last page is stored (in the transaction that saved it): mark removed the
    devices it did not have, add an incremental sync's rolling slice, and count."""
    started = job.started_at or job.created_at or now
    listed = (
        CertificateRecord.objects.filter(
            account=job.account,
            product_key=job.product_key,
            iot_instance_id=job.iot_instance_id,
            listed_at__gte=started,
        )
        .order_by()
        .count()
    )
    if listed >= platform_total:
        # Every device the platform counts was listed: the inventory's other devices of this
        # product are gone from the platform.
        inventory_unlisted_mark_removed(
            account=job.account,
            product_key=job.product_key,
            iot_instance_id=job.iot_instance_id,
            listing_started=started,
        )
    if job.mode == SyncMode.INCREMENTAL:
        _items_create(job, rolling_slice(job=job, now=now))
    Job.objects.filter(pk=job.pk).update(
        listing_complete=True,
        listing_lease_until=None,
        total=JobItem.objects.filter(job_id=job.pk).count(),
        listed=listed,
    )


def _listing_context(job: Job, batch: "_ItemBatch", client: IotClient, names: list[str]) -> None:
    """Ask ``BatchQueryDeviceDetail`` about listed devices, at most 100 names a call, and record
    their node type, firmware and activation in the inventory (``inventory_context_store``).

    The details only add to what a sync is for: a call that fails (the platform refuses it, a
    RAM policy without the action, an answer that stays broken) is logged, its devices are
    counted in the job's ``context_missing`` and the sync goes on without their details."""
    for start in range(0, len(names), MAX_DETAIL_NAMES):
        part = names[start : start + MAX_DETAIL_NAMES]

        def fetch(part: list[str] = part):
            # The job's client holds it to the jobs' share of the action's quota.
            return client.batch_query_device_detail(
                product_key=job.product_key,
                device_names=part,
                iot_instance_id=job.iot_instance_id or None,
            )

        try:
            details = _with_retries(
                lambda fetch=fetch: _looked_up_meanwhile(
                    fetch, job=job, batch=batch, client=client
                ),
                renew=lambda: _listing_renew(job, batch.token),
            )
        except _LookupFailed:
            raise
        except (IotError, JobFailed) as error:
            code = getattr(error, "code", "") or type(error).__name__
            logger.warning(
                "job %s: no device details for %s devices of %s (%s)",
                job.pk,
                len(part),
                job.product_key,
                code,
                extra={"event": "device_details_missing", "job_id": job.pk, "code": code},
            )
            Job.objects.filter(pk=job.pk).update(context_missing=F("context_missing") + len(part))
            continue
        inventory_context_store(
            account=job.account,
            product_key=job.product_key,
            iot_instance_id=job.iot_instance_id,
            details=details.devices,
        )


def _looked_up_meanwhile(
    call: Callable[[], object], *, job: Job, batch: "_ItemBatch", client: IotClient
):
    """``call()`` (one of the listing's platform calls), made in a thread of its own while this
    one looks up the job's items, one at a time, until it has answered; its answer, or its
    error raised here. Items of the run's batch left when it answers are looked up during the
    next call (or once the listing is done), their lease renewed as they wait.

    The thread only waits for the call's quota and makes the call (the client is thread-safe;
    its log lines keep the job's request id): everything that touches the database stays in
    this thread, so SQLite's single writer is not shared. Lookups start only once the call has
    taken ``LISTING_ANSWER_GRACE`` (it waits for its quota); one started just before the
    answer delays the storing of the page by at most that lookup, and the listing's next call
    then finds its slot free (its pace is its quota's)."""
    outcome: dict[str, object] = {}
    answered = threading.Event()
    context = contextvars.copy_context()

    def run() -> None:
        try:
            outcome["answer"] = context.run(call)
        except BaseException as error:  # raised in the listing run's thread, below
            outcome["error"] = error
        finally:
            answered.set()

    threading.Thread(target=run, name=f"job-{job.pk}-listing", daemon=True).start()
    answered.wait(LISTING_ANSWER_GRACE)
    while not answered.is_set():
        if not batch.fill(job):
            answered.wait()
            break
        item = batch.next()
        if item is None:
            continue
        try:
            batch.done(item, _item_process(item, batch, client, job))
        except JobFailed as failure:
            raise _LookupFailed(str(failure)) from None
    batch.record_due()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["answer"]


def _listing_cut_short(job: Job, page: int, result: DeviceListPage) -> str:
    """Why this page shows the platform left devices out ("" when it does not): an empty page
    or a short one before the end, or an end (no NextToken) before ``Total`` rows. A sync that
    went on would report success with devices missing, and a complete one removes from the
    inventory the devices it did not list."""
    reached = (page - 1) * MAX_PAGE_SIZE + len(result.devices)
    if reached >= result.total:
        return ""
    values = {
        "product": job.product_key,
        "page": page,
        "reached": reached,
        "total": result.total,
        "count": len(result.devices),
        "size": MAX_PAGE_SIZE,
    }
    if not result.devices:
        return (
            _(
                "The IoT Platform answered page %(page)s of product %(product)s with no devices "
                "although it counts %(total)s and only %(reached)s came before: the listing was "
                "cut short, so the sync stopped instead of leaving devices out."
            )
            % values
        )
    if not result.next_token:
        return (
            _(
                "The IoT Platform ended the listing of product %(product)s after %(reached)s of "
                "the %(total)s devices it counts: the listing was cut short, so the sync stopped "
                "instead of leaving devices out."
            )
            % values
        )
    if len(result.devices) < MAX_PAGE_SIZE:
        return (
            _(
                "The IoT Platform answered page %(page)s of product %(product)s with %(count)s "
                "devices instead of %(size)s before the end of the listing: devices were left "
                "out, so the sync stopped."
            )
            % values
        )
    return ""


def _listing_renew(job: Job, token: str) -> None:
    Job.objects.filter(pk=job.pk, listing_token=token).update(
        listing_lease_until=timezone.now() + _lease()
    )


# ---- items -------------------------------------------------------------------------------


# Items a run claims at once: about a second of the jobs' share (``JOB_QPS`` lookups a second).
ITEM_BATCH = 8
# A run records its results at least this often (the job's progress, which the watchdog and
# the pages read), and reads its job again at least this often while it looks items up (a
# cancel stops it within about that, between two lookups).
RECORD_SECONDS = 2.0
JOB_READ_SECONDS = 1.0


class _ItemBatch:
    """The items one run holds: claimed and not looked up yet (``held``), the one being looked
    up (``current``), and those looked up whose results are not recorded yet (``results``:
    item pk to the lookup's error Code, "" when done). All stay ``pending`` under the run's
    lease until recorded; the lease is renewed for all of them at once."""

    def __init__(self, *, job_id: int, token: str) -> None:
        self.job_id = job_id
        self.token = token
        self.held: list[JobItem] = []
        self.current: JobItem | None = None
        self.results: dict[int, str] = {}
        now = time.monotonic()
        self.renewed_at = now  # the last claim or renewal of the lease
        self.recorded_at = now

    def fill(self, job: Job) -> bool:
        """Whether the run holds an item to look up: one left, or a new batch claimed (the
        results so far recorded first). Items whose devices were looked up since the job was
        created are recorded as such without a lookup."""
        while not self.held:
            self.record()
            claimed = _items_claim(job, self.token)
            if not claimed:
                return False
            self.renewed_at = time.monotonic()
            already = _items_looked_up_since(job, claimed)
            self.results.update(already)
            self.held = [item for item in claimed if item.pk not in already]
        return True

    def next(self) -> JobItem | None:
        """The next held item to look up; the lease is renewed first once a third of it has
        passed, and items another run took over meanwhile are dropped unasked."""
        if time.monotonic() - self.renewed_at > settings.JOB_LEASE_SECONDS / 3:
            self.renew()
        self.current = self.held.pop(0) if self.held else None
        return self.current

    def done(self, item: JobItem, error_code: str) -> None:
        """``item`` was looked up (``error_code`` "" when it succeeded): recorded with the
        batch, or now when ``ITEM_BATCH`` results wait or the last record is
        ``RECORD_SECONDS`` old."""
        self.current = None
        self.results[item.pk] = error_code
        if len(self.results) >= ITEM_BATCH:
            self.record()
        else:
            self.record_due()

    def record_due(self) -> None:
        if time.monotonic() - self.recorded_at >= RECORD_SECONDS:
            self.record()

    def renew(self) -> None:
        """Extend the lease on every item the run holds, in one ``UPDATE``."""
        self.renewed_at = time.monotonic()
        current = [self.current.pk] if self.current is not None else []
        pks = [item.pk for item in self.held] + current + list(self.results)
        if not pks:
            return
        mine = JobItem.objects.filter(pk__in=pks, lease_token=self.token, state=ItemState.PENDING)
        if mine.update(lease_until=timezone.now() + _lease()) == len(pks):
            return
        # A lease ran out and another run took items over: theirs now, not asked here.
        kept = set(mine.values_list("pk", flat=True))
        lost = [item.pk for item in self.held if item.pk not in kept]
        self.held = [item for item in self.held if item.pk in kept]
        if lost:
            logger.warning("job %s: lost the claim on items %s", self.job_id, lost)

    def record(self) -> None:
        """Record the results: the items' states and the job's counters in one transaction.
        An item another run took over is not counted here (that run counts it)."""
        self.recorded_at = time.monotonic()
        if not self.results:
            return
        by_code: dict[str, list[int]] = {}
        for pk, error_code in self.results.items():
            by_code.setdefault(error_code, []).append(pk)
        now = timezone.now()
        done = failed = 0
        with transaction.atomic():
            for error_code, pks in by_code.items():
                written = JobItem.objects.filter(
                    pk__in=pks, lease_token=self.token, state=ItemState.PENDING
                ).update(
                    state=ItemState.FAILED if error_code else ItemState.DONE,
                    error_code=error_code[:128],
                    finished_at=now,
                    lease_until=None,
                )
                done += written
                failed += written if error_code else 0
            if done:
                Job.objects.filter(pk=self.job_id).update(
                    done=F("done") + done, failed=F("failed") + failed, last_progress_at=now
                )
        if done < len(self.results):
            # Our lease ran out and another run took items over: its results count.
            logger.warning(
                "job %s: lost the claim on %s of %s items",
                self.job_id,
                len(self.results) - done,
                len(self.results),
            )
        self.results = {}


def _items_claim(job: Job, token: str) -> list[JobItem]:
    """Claim up to ``ITEM_BATCH`` pending items nobody holds (half of the free ones near the end
    of the job), in one ``UPDATE`` that takes them only if they are still free; the items this
    run got (none when there is none)."""
    for _round in range(5):
        now = timezone.now()
        free = JobItem.objects.filter(job_id=job.pk, state=ItemState.PENDING).filter(
            job_item_lease_q(now)
        )
        candidates = list(free.order_by("pk").values_list("pk", flat=True)[: ITEM_BATCH * 2])
        if not candidates:
            return []
        # Runs racing for the same first rows would mostly lose: each takes a random part, at
        # most half of them, so that the last items of a job are shared between its runs.
        picked = random.sample(candidates, max(1, min(ITEM_BATCH, len(candidates) // 2)))
        claimed = free.filter(pk__in=picked).update(
            lease_token=token, lease_until=now + _lease(), claims=F("claims") + 1
        )
        if claimed:
            return list(
                JobItem.objects.filter(
                    pk__in=picked, lease_token=token, state=ItemState.PENDING
                ).order_by("pk")
            )
    return []


def _with_retries(call, *, renew):
    """Run ``call``; throttling is retried with back-off for as long as it lasts, other
    repeatable failures ``ITEM_ATTEMPTS`` times. A refusal no repeat can cure that is not about
    one device (credentials, permissions) fails the job."""
    failures = 0
    throttled = 0
    while True:
        try:
            return call()
        except IotBusinessError:
            raise
        except IotThrottledError:
            throttled += 1
            time.sleep(_backoff(min(throttled, 4)))
        except IotError as error:
            if error.is_credentials_error or not (
                error.retryable or error.code == "Response.Malformed"
            ):
                raise JobFailed(describe_iot_error(error)) from None
            failures += 1
            if failures >= ITEM_ATTEMPTS:
                raise
            time.sleep(_backoff(failures))
        renew()


def _items_looked_up_since(job: Job, items: list[JobItem]) -> dict[int, str]:
    """The items whose devices the inventory shows as looked up since the job was created and
    still on the platform (a run that died between the answer and recording its item, or a
    person's certificate page, already asked), with the error Code recorded then: one query a
    product."""
    by_product: dict[tuple[str, str], list[JobItem]] = {}
    for item in items:
        by_product.setdefault((item.product_key, item.iot_instance_id), []).append(item)
    found: dict[int, str] = {}
    for (product_key, iot_instance_id), group in by_product.items():
        codes = dict(
            CertificateRecord.objects.filter(
                account=job.account,
                product_key=product_key,
                iot_instance_id=iot_instance_id,
                device_name__in=[item.device_name for item in group],
                last_checked__gte=job.created_at,
                removed_at__isnull=True,
            ).values_list("device_name", "last_error_code")
        )
        found.update(
            {item.pk: codes[item.device_name] or "" for item in group if item.device_name in codes}
        )
    return found


def _items_work(job: Job, batch: _ItemBatch, client: IotClient) -> None:
    """Look the held items up one at a time, until none is left or the job is due to be read
    again (``JOB_READ_SECONDS``: a cancel)."""
    started = time.monotonic()
    while (item := batch.next()) is not None:
        batch.done(item, _item_process(item, batch, client, job))
        if time.monotonic() - started >= JOB_READ_SECONDS:
            return


def _item_process(item: JobItem, batch: _ItemBatch, client: IotClient, job: Job) -> str:
    """Look ``item``'s device up (writing the inventory); the error Code, "" when it
    succeeded."""
    device = DeviceRef(item.product_key, item.device_name, item.iot_instance_id, job.account)
    listing = None
    if item.nickname or item.device_status or item.listing_modified:
        listing = DeviceListing(
            device_name=item.device_name,
            nickname=item.nickname,
            device_status=item.device_status,
            iot_id="",
            created="",
            modified=item.listing_modified,
        )
    try:
        record = _with_retries(
            lambda: device_certificate_check(device=device, client=client, listing=listing),
            renew=batch.renew,
        )
    except IotError as error:
        return error.code
    return record.last_error_code or ""


# ---- chain verification ------------------------------------------------------------------

# Rows of the trail per batch of the walk, and so per progress update.
CHAIN_VERIFY_BATCH = 10_000


class _RunReplaced(Exception):
    """The watchdog gave the job to a new run: this one stops."""


def chain_verification_work(*, job_id: int) -> str:
    """Verify the audit chain for a chain-verification job; record the result as the
    management command and *Verify now* always have (``chain_verification_record``: a
    ``ChainVerification`` and its audit event, in the name of the person who asked)."""
    with request_id_bound(f"job-{job_id}"):
        return _chain_verification_work(job_id=job_id)


def _chain_verification_work(*, job_id: int) -> str:
    token = uuid.uuid4().hex
    now = timezone.now()
    total = AuditEvent.objects.order_by().count()
    # Taken over from a run the watchdog gave up on, if any: that run stops at its next batch.
    claimed = Job.objects.filter(
        pk=job_id, kind=JobKind.CHAIN_VERIFY, state__in=(JobState.QUEUED, JobState.RUNNING)
    ).update(
        state=JobState.RUNNING,
        started_at=now,
        last_progress_at=now,
        listing_token=token,
        total=total,
        done=0,
    )
    if not claimed:
        return "ended"
    job = Job.objects.select_related("owner").get(pk=job_id)

    def progress(checked: int) -> None:
        held = Job.objects.filter(pk=job_id, listing_token=token, state=JobState.RUNNING).update(
            done=checked, last_progress_at=timezone.now()
        )
        if not held:
            raise _RunReplaced

    try:
        report = chain_verify(
            expect_head=job.expect_head, batch_size=CHAIN_VERIFY_BATCH, progress=progress
        )
        # The last batch's count, and the lease renewed while the result is recorded.
        progress(report.checked)
    except _RunReplaced:
        return "replaced"
    except Exception as error:
        # Ended, not left running for the watchdog to start again and again. The type only:
        # a message might quote a row of the trail.
        logger.warning("job %s: the verification stopped (%s)", job_id, type(error).__name__)
        job_end(
            job_id=job_id,
            state=JobState.FAILED,
            error=_("The verification stopped: %(error)s.") % {"error": type(error).__name__},
        )
        return "failed"
    verification = chain_verification_record(
        report=report,
        actor=job.owner,
        context=RequestContext(ip_address=job.ip_address, user_agent=job.user_agent),
    )
    Job.objects.filter(pk=job_id).update(verification=verification)
    job_end(job_id=job_id, state=JobState.FINISHED)
    return "finished"


# ---- the watchdog -----------------------------------------------------------------------


def job_watch(*, job_id: int) -> str:
    """Revive a job whose runs died: no progress and no live lease for a lease period."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.state in ENDED_STATES:
        return "ended"
    now = timezone.now()
    quiet_since = job.last_progress_at or job.admitted_at or job.created_at
    held = JobItem.objects.filter(
        job_id=job_id, state=ItemState.PENDING, lease_until__gte=now
    ).order_by().exists() or (
        job.listing_lease_until is not None and job.listing_lease_until >= now
    )
    revived = "watching"
    if job.admitted_at is not None and not held and quiet_since < now - _lease():
        if job.state == JobState.CANCELLING:
            job_end(job_id=job_id, state=JobState.CANCELLED)
            return "cancelled"
        if not _run_waiting(job_id):
            # As many runs as the job started with: one run alone holds the listing and looks
            # nothing up meanwhile, and then looks devices up one at a time, slower than the
            # jobs' share once a lookup takes longer than its slot (a loaded worker, a distant
            # platform). Runs share the work through leases, so more than one is safe.
            logger.warning("job %s: no progress for a lease period; enqueuing new runs", job_id)
            job_runs_enqueue(job_id=job_id)
            return "revived"
    job_watch_enqueue(job_id=job_id)
    return revived


def _run_waiting(job_id: int) -> bool:
    """Whether a run of this job sits in the queue, not yet started."""
    from django_tasks_db.models import DBTaskResult

    tasks = job_tasks()
    return (
        DBTaskResult.objects.ready()
        .filter(
            task_path__in=[tasks.work.module_path, tasks.chain_verification.module_path],
            args_kwargs__args__0=job_id,
        )
        .exists()
    )
