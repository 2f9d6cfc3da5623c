"""What `make run` sets up so a newcomer sees the fleet watched within a minute: a route that
sends every finding of the default account to the built-in demo channel (the dashboard's demo
inbox), and the configured schedules that never ran made due now (the demo's every-5-minutes
schedules would otherwise wait for their first slot)."""

from django.conf import settings
from django.utils import timezone

from certadmin.audit.services import RequestContext
from certadmin.findings.severity import Severity
from certadmin.notifications.configuration import DEMO_CHANNEL
from certadmin.notifications.models import Route
from certadmin.notifications.services import RouteFields, route_save
from certadmin.schedules.models import ScheduleSource, SyncSchedule
from certadmin.schedules.services import schedules_config_apply

DEMO_ROUTE = "demo"


def notifications_demo_seed() -> tuple[bool, int]:
    """Create the demo route (audited, once) and make never-run configured schedules due now.
    Returns (route created, schedules made due)."""
    created = False
    if not Route.objects.filter(name=DEMO_ROUTE).exists():
        route_save(
            actor=None,
            context=RequestContext(ip_address=None, user_agent="manage.py notify_demo_seed"),
            fields=RouteFields(
                name=DEMO_ROUTE,
                account=settings.IOT_DEFAULT_ACCOUNT,
                product_key="",
                min_severity=Severity.LOW,
                channel=DEMO_CHANNEL,
                language="en",
                digest=True,
                enabled=True,
                custody=True,
            ),
        )
        created = True
    now = timezone.now()
    schedules_config_apply(now=now)
    due = SyncSchedule.objects.filter(
        source=ScheduleSource.CONFIGURATION, last_run_at__isnull=True
    ).update(next_run_at=now)
    return created, due
