from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "certadmin.devices"
    label = "devices"
