from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "certadmin.ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from certadmin.ops import checks  # noqa: F401  (registers the deploy checks)
