from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "certadmin.notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from certadmin.findings.runs import findings_run_observer_use
        from certadmin.notifications import tasks

        # The findings sit below this app: after each findings run, the routes' messages are
        # sent by a task on the workers (never inside the run, nor a web request).
        findings_run_observer_use(tasks.notifications_after_findings_run)
