"""What the Django side does with each IoT Platform call the pure client reports (its
``on_call`` hook): count it and log it. certadmin/ops/apps.py installs it in
certadmin/devices/platform.py."""

from certadmin.iot.client import CallRecord
from certadmin.ops.logs import platform_call_log
from certadmin.ops.metrics import platform_call_count


def platform_call_observe(record: CallRecord, *, account: str) -> None:
    """Count and log one call made with API account ``account`` (its name, never the
    AccessKey ID)."""
    platform_call_count(record, account=account)
    platform_call_log(record, account=account)
