from django.apps import AppConfig


class EmulatorConfig(AppConfig):
    """The emulator as a Django app: only so ``manage.py iot_emulator`` is found."""

    name = "certadmin.emulator"
    label = "emulator"
    verbose_name = "IoT API emulator"
