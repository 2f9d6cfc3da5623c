"""What the custody pages and the dashboard show each person."""

import time

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from certadmin.accounts.api_accounts import accounts_for
from certadmin.accounts.roles import APPROVE_KEY_RELEASE, REVEAL_PRIVATE_KEY, VIEW_AUDIT_TRAIL
from certadmin.custody.models import BreakGlass, HandOver, KeyRequest, Notice


def requests_waiting_for(*, user) -> QuerySet[KeyRequest]:
    """Requests ``user`` may decide on now: pending, in time, not theirs, not yet decided by
    them. None for someone who is not an approver."""
    if not user.has_perm(APPROVE_KEY_RELEASE):
        return KeyRequest.objects.none()
    accounts = [account.name for account in accounts_for(user=user)]
    return (
        KeyRequest.objects.filter(
            state=KeyRequest.State.PENDING, expires_at__gt=timezone.now(), account__in=accounts
        )
        .exclude(requester=user)
        .exclude(decisions__approver=user)
        .select_related("requester", "recipient")
    )


def requests_of(*, user, limit: int = 50) -> list[KeyRequest]:
    """``user``'s own requests, newest first."""
    return list(
        KeyRequest.objects.filter(requester=user)
        .select_related("recipient")
        .prefetch_related("decisions")[:limit]
    )


def requests_decided_by(*, user, limit: int = 20) -> list[KeyRequest]:
    return list(
        KeyRequest.objects.filter(decisions__approver=user)
        .select_related("requester")
        .distinct()[:limit]
    )


def break_glass_unreviewed() -> QuerySet[BreakGlass]:
    return BreakGlass.objects.filter(reviewed_at__isnull=True).order_by("id")


def break_glass_reviewed(*, limit: int = 20) -> list[BreakGlass]:
    return list(
        BreakGlass.objects.filter(reviewed_at__isnull=False).order_by("-reviewed_at")[:limit]
    )


def handovers_of(*, user, limit: int = 20) -> list[HandOver]:
    """Hand-overs ``user`` made or receives, newest first."""
    return list(
        HandOver.objects.filter(Q(creator=user) | Q(recipient=user)).order_by("-id")[:limit]
    )


def notices_for(*, user) -> list[Notice]:
    return list(
        Notice.objects.filter(user=user, dismissed_at__isnull=True)
        .select_related("handover")
        .order_by("-id")[:20]
    )


def _how_many(queryset: QuerySet) -> int:
    # An aggregate of its own name: the pages' paginators are the ones that say "__count".
    return queryset.aggregate(custody_count=Count("pk", distinct=True))["custody_count"]


# The menu shows custody_counts on every page: five counts, kept in the cache per person and
# read again after any custody write (custody_counts_forget bumps the version in the key) or
# when the minute turns (what expires with time: approvals, links).
_COUNTS_VERSION_KEY = "custody:counts:version"


def custody_counts_forget() -> None:
    """Every person's cached custody counts are read again: called after each custody write
    (the models' save and delete signals, and the services' conditional updates)."""
    try:
        cache.incr(_COUNTS_VERSION_KEY)
    except ValueError:
        cache.set(_COUNTS_VERSION_KEY, 1, timeout=None)


def custody_counts(*, user) -> dict[str, int]:
    """What waits for ``user`` (``custody_counts_counted``), from the cache when nothing in
    custody changed this minute."""
    # The person's counts of this minute and the version in one round trip (every page asks):
    # the counts are kept with the version they were counted at, and used only at that one.
    key = f"custody:counts:{user.pk}:{int(time.time() // 60)}"
    kept = cache.get_many([_COUNTS_VERSION_KEY, key])
    version = kept.get(_COUNTS_VERSION_KEY, 0)
    counted_at, counts = kept.get(key, (None, None))
    if counts is None or counted_at != version:
        counts = custody_counts_counted(user=user)
        cache.set(key, (version, counts), timeout=120)
    return counts


def custody_counts_counted(*, user) -> dict[str, int]:
    """What waits for ``user``: requests to decide, their own approved requests to use,
    break-glass releases to review, hand-over links addressed to them, notices."""
    now = timezone.now()
    counts = {"to_decide": 0, "to_use": 0, "to_review": 0, "to_receive": 0, "notices": 0}
    if user.has_perm(APPROVE_KEY_RELEASE):
        counts["to_decide"] = _how_many(requests_waiting_for(user=user))
    if user.has_perm(REVEAL_PRIVATE_KEY):
        counts["to_use"] = _how_many(
            KeyRequest.objects.filter(
                requester=user, state=KeyRequest.State.APPROVED, expires_at__gt=now
            )
        )
    if user.has_perm(VIEW_AUDIT_TRAIL):
        counts["to_review"] = _how_many(break_glass_unreviewed().exclude(actor=user))
    counts["to_receive"] = _how_many(
        HandOver.objects.filter(recipient=user, opened_at__isnull=True, expires_at__gt=now)
    )
    counts["notices"] = _how_many(Notice.objects.filter(user=user, dismissed_at__isnull=True))
    return counts
