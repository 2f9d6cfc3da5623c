"""How bad a finding is."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Severity(models.IntegerChoices):
    """How bad a finding is; a higher number is worse (the fleet page sorts by it)."""

    CRITICAL = 50, _("critical")
    HIGH = 40, _("high")
    MEDIUM = 30, _("medium")
    LOW = 20, _("low")
    INFO = 10, _("info")


SEVERITY_NAMES = {severity.value: severity.name.lower() for severity in Severity}
SEVERITY_BY_NAME = {name: value for value, name in SEVERITY_NAMES.items()}
