"""Reading schedules: one row per product a person may see, with its schedule, last and next
run, and how fresh its records are."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from certadmin.accounts.api_accounts import accounts_for
from certadmin.devices.models import ProductSync
from certadmin.devices.selectors import (
    ProductCoverage,
    products_coverage,
)
from certadmin.jobs.models import SyncMode
from certadmin.schedules.models import ScheduleSource, SyncSchedule
from certadmin.schedules.services import schedule_next_run

ProductKey = tuple[str, str, str]  # account, ProductKey, IotInstanceId


@dataclass(frozen=True)
class ScheduleRow:
    account: str
    product_key: str
    iot_instance_id: str
    # The product's schedule (unsaved for a configured one the scheduler has not read yet).
    schedule: SyncSchedule | None
    last_synced: datetime | None
    # The last sync's mode, and when the last full one ended.
    last_mode: str
    last_full_sync: datetime | None
    # Devices listed, synced and removed, the oldest check, the recheck bound.
    coverage: ProductCoverage
    # Listed devices not checked within the freshness bound (or never).
    stale: int

    @property
    def last_mode_label(self) -> str:
        return str(SyncMode(self.last_mode).label) if self.last_mode in SyncMode.values else ""

    @property
    def records(self) -> int:
        return self.coverage.listed

    @property
    def oldest_checked(self) -> datetime | None:
        return self.coverage.oldest_checked

    @property
    def stale_percent(self) -> int:
        return round(100 * self.stale / self.records) if self.records else 0

    @property
    def from_configuration(self) -> bool:
        return self.schedule is not None and self.schedule.source == ScheduleSource.CONFIGURATION


def schedule_rows(*, user, now: datetime | None = None) -> list[ScheduleRow]:
    """Every product on the accounts ``user`` may use that is synced, scheduled or in the
    inventory, with its schedule and freshness; by account and ProductKey."""
    now = now or timezone.now()
    accounts = [account.name for account in accounts_for(user=user)]
    schedules: dict[ProductKey, SyncSchedule] = {
        (s.account, s.product_key, s.iot_instance_id): s
        for s in SyncSchedule.objects.filter(account__in=accounts).select_related("last_job")
    }
    for entry in settings.SYNC_SCHEDULES:
        key = (entry.account, entry.product_key, entry.iot_instance_id)
        current = schedules.get(key)
        if entry.account not in accounts:
            continue
        if current is None or current.source != ScheduleSource.CONFIGURATION:
            # Not read by the scheduler yet: shown as it will be.
            schedules[key] = SyncSchedule(
                account=entry.account,
                product_key=entry.product_key,
                iot_instance_id=entry.iot_instance_id,
                cron=entry.cron,
                mode=entry.mode,
                source=ScheduleSource.CONFIGURATION,
                next_run_at=schedule_next_run(cron=entry.cron, after=now),
            )
    synced: dict[ProductKey, ProductSync] = {
        (s.account, s.product_key, s.iot_instance_id): s
        for s in ProductSync.objects.filter(account__in=accounts)
    }
    # Coverage and staleness from the counts the database keeps, in one query.
    freshness = products_coverage(where=Q(account__in=accounts), now=now)
    rows = []
    for key in sorted(set(schedules) | set(synced) | set(freshness)):
        fresh = freshness.get(key, {})
        sync = synced.get(key)
        rows.append(
            ScheduleRow(
                account=key[0],
                product_key=key[1],
                iot_instance_id=key[2],
                schedule=schedules.get(key),
                last_synced=sync.synced_at if sync else None,
                last_mode=sync.mode if sync else "",
                last_full_sync=sync.full_synced_at if sync else None,
                coverage=ProductCoverage.of(fresh, account=key[0], product_key=key[1]),
                stale=fresh.get("stale", 0),
            )
        )
    return rows


def schedule_for(*, user, schedule_id: int) -> SyncSchedule | None:
    """The schedule ``schedule_id`` if it is on an account ``user`` may use."""
    accounts = [account.name for account in accounts_for(user=user)]
    return SyncSchedule.objects.filter(pk=schedule_id, account__in=accounts).first()
