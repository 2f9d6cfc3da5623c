from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "certadmin.devices"
    label = "devices"

    def ready(self) -> None:
        from certadmin.audit.key_lookup import key_holders_finder_use
        from certadmin.devices import checks  # noqa: F401 (registers the system checks)
        from certadmin.devices.selectors import inventory_key_holders

        # The audit trail's key lookup sits below this app: it finds a key pair's devices here.
        key_holders_finder_use(inventory_key_holders)
