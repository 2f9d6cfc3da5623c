from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SchedulesConfig(AppConfig):
    name = "certadmin.schedules"
    verbose_name = _("Sync schedules")
