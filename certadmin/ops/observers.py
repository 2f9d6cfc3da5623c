"""What the Django side does with each IoT Platform call the pure client reports (its
``on_call`` hook, wired in certadmin/devices/platform.py): count it and log it."""

from certadmin.iot.client import CallRecord
from certadmin.ops.logs import platform_call_log
from certadmin.ops.metrics import platform_call_count

# The API account a call was made with, as named in metrics and logs (never the AccessKey ID).
# One account for now; named accounts (issue 12) will pass their own name.
DEFAULT_ACCOUNT = "default"


def platform_call_observe(record: CallRecord, *, account: str = DEFAULT_ACCOUNT) -> None:
    platform_call_count(record, account=account)
    platform_call_log(record, account=account)
