from django.apps import AppConfig


class EmulatorConfig(AppConfig):
    """The emulator as a Django app: only so ``manage.py iot_emulator`` is found.

    Installed in demo mode or with ``CERTADMIN_EMULATOR=1``, never by default in production
    (see ``settings.EMULATOR_ENABLED``); the tests start the emulator without it.
    """

    name = "certadmin.emulator"
    label = "emulator"
    verbose_name = "IoT API emulator"
