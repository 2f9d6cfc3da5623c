from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "certadmin.jobs"
    verbose_name = "Background jobs"
