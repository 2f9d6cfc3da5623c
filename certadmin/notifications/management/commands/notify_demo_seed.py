from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from certadmin.notifications.configuration import DEMO_CHANNEL
from certadmin.notifications.demo_seed import notifications_demo_seed


class Command(BaseCommand):
    help = (
        "Demo only: a notification route to the demo inbox, and the configured sync schedules "
        "that never ran made due now (make run calls it)."
    )

    def handle(self, *args, **options):
        if not settings.DEMO_MODE:
            raise CommandError("Refusing to seed the demo's notification route outside demo mode.")
        if DEMO_CHANNEL not in settings.NOTIFY_CHANNEL_SECRETS:
            raise CommandError("The demo channel needs CERTADMIN_BASE_URL.")
        created, due = notifications_demo_seed()
        route = "created" if created else "kept"
        self.stdout.write(f"  demo notification route {route}; {due} scheduled syncs due now")
