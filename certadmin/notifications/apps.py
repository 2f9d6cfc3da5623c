from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "certadmin.notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from certadmin.custody.observers import custody_observer_add
        from certadmin.findings.runs import findings_run_observer_use
        from certadmin.notifications import tasks

        # The findings sit below this app: after each findings run, the routes' messages are
        # sent by a task on the workers (never inside the run, nor a web request).
        findings_run_observer_use(tasks.notifications_after_findings_run)
        # Key custody sits below too: its events become messages on the account's routes,
        # sent by the same dispatch task.
        custody_observer_add(tasks.notifications_after_custody_event)
