from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "certadmin.audit"
    label = "audit"

    def ready(self) -> None:
        from certadmin.audit.planner import statistics_after_migrate

        post_migrate.connect(
            statistics_after_migrate, sender=self, dispatch_uid="audit_statistics_after_migrate"
        )
