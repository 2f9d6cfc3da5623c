from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "certadmin.devices"
    label = "devices"

    def ready(self) -> None:
        from certadmin.devices import checks  # noqa: F401 (registers the system checks)
