"""Reads for the device pages."""

from django.db.models import QuerySet

from certadmin.devices.models import RecentDevice
from certadmin.devices.services import RECENT_DEVICES_KEPT


def recent_devices(*, user) -> QuerySet[RecentDevice]:
    """The devices this user looked at most recently, newest first."""
    return RecentDevice.objects.filter(user=user).order_by("-viewed_at")[:RECENT_DEVICES_KEPT]
