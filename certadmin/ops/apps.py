from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "certadmin.ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from certadmin.devices.platform import platform_call_observer_use
        from certadmin.ops import checks  # noqa: F401  (registers the deploy checks)
        from certadmin.ops.observers import platform_call_observe

        # The platform clients live below this app: it plugs its metrics and logs into them.
        platform_call_observer_use(platform_call_observe)
