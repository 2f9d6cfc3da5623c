"""What an incremental product sync looks up (``SyncMode.INCREMENTAL``).

The listing still walks every page (QueryDevice is cheap: 50 devices a call, 50 calls a
second), so the sync knows every device the platform has. From each page it picks
(``listing_picks``):

- devices new to the inventory, or marked removed there (the platform lists them again);
- devices whose listing row changed since their last lookup (``UtcModified`` against the
  record's ``listing_modified``);
- devices never looked up, whose certificate is being generated (0) or failed (1), or whose
  last lookup failed.

When the listing is complete it adds a rolling slice of the rest (``rolling_slice``), the ones
looked up longest ago, so that every device is looked up again within the product's bound
(``product_recheck_days``): as many as the time since the product's last sync is a share of
the bound (a daily sync with a 7-day bound asks about a seventh), and at least every device
that would pass the bound before a next sync as far away.
"""

import math
from datetime import datetime, timedelta

from django.db.models import F, Q, QuerySet

from certadmin.devices.models import LISTED_Q, CertificateRecord, ProductSync
from certadmin.devices.selectors import product_recheck_days
from certadmin.iot.results import CertStatus, DeviceListing
from certadmin.jobs.models import Job, JobItem


def _records(job: Job) -> QuerySet[CertificateRecord]:
    return CertificateRecord.objects.filter(
        account=job.account, product_key=job.product_key, iot_instance_id=job.iot_instance_id
    )


def listing_picks(*, job: Job, devices: list[DeviceListing]) -> list[DeviceListing]:
    """The devices of one listing page that an incremental sync looks up (the module says
    which), read against the inventory as it was before the page is stored."""
    known = {
        row["device_name"]: row
        for row in _records(job)
        .filter(device_name__in=[device.device_name for device in devices])
        .values(
            "device_name",
            "listing_modified",
            "removed_at",
            "last_checked",
            "last_error_code",
            "status",
        )
    }
    picked = []
    for device in devices:
        record = known.get(device.device_name)
        if (
            record is None
            or record["removed_at"] is not None
            or record["last_checked"] is None
            or record["last_error_code"]
            or record["status"] in (CertStatus.GENERATING, CertStatus.FAILED)
            or (device.modified and device.modified != record["listing_modified"])
        ):
            picked.append(device)
    return picked


def rolling_slice(*, job: Job, now: datetime) -> list[DeviceListing]:
    """The listed devices the sync has not picked that it looks up all the same, oldest lookup
    first (the module says how many), as their listing rows (unchanged since their last
    lookup). Call it once the listing is complete and the unlisted devices are marked
    removed."""
    bound = timedelta(days=product_recheck_days(account=job.account, product_key=job.product_key))
    previous = (
        ProductSync.objects.filter(
            account=job.account, product_key=job.product_key, iot_instance_id=job.iot_instance_id
        )
        .values_list("synced_at", flat=True)
        .first()
    )
    # Never synced: the whole bound has passed.
    since = min(now - previous, bound) if previous is not None else bound
    rest = (
        _records(job)
        .filter(LISTED_Q)
        .exclude(device_name__in=JobItem.objects.filter(job=job).values("device_name"))
    )
    share = math.ceil(rest.count() * since / bound)
    # Looked up so long ago that a next sync as far away would find them past the bound.
    due = rest.filter(Q(last_checked__isnull=True) | Q(last_checked__lt=now - bound + since))
    count = max(share, due.count())
    if not count:
        return []
    oldest_first = rest.order_by(F("last_checked").asc(nulls_first=True), "device_name")
    return [
        DeviceListing(
            device_name=name,
            nickname=nickname,
            device_status=status,
            iot_id="",
            created="",
            modified=modified,
        )
        for name, nickname, status, modified in oldest_first.values_list(
            "device_name", "nickname", "device_status", "listing_modified"
        )[:count]
    ]
