"""The schedule form: a product (ProductKey, instance, account), a cron expression and a mode."""

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from certadmin.devices.forms import ScopeForm
from certadmin.jobs.models import SyncMode
from certadmin.schedules.cron import (
    CRON_FIELDS,
    CRON_WEEKDAY_NUMBER,
    CronError,
    cron_normalised,
    cron_trigger,
)
from certadmin.schedules.services import schedule_time_zone


class ScheduleForm(ScopeForm):
    cron = forms.CharField(
        label=_("Schedule (cron)"),
        max_length=100,
        strip=True,
        widget=forms.TextInput(attrs={"class": "mono", "spellcheck": "false"}),
        help_text=_(
            "Five fields: minute hour day-of-month month day-of-week, in the dashboard's time "
            "zone. For example 0 3 * * * (daily at 03:00) or 30 2 * * mon-fri."
        ),
    )
    mode = forms.ChoiceField(label=_("Sync mode"), choices=SyncMode.choices, initial=SyncMode.FULL)
    field_order = ("product_key", "instance", "account", "cron", "mode")

    def clean_cron(self) -> str:
        expression = self.cleaned_data["cron"]
        try:
            cron_trigger(expression, timezone=schedule_time_zone())
        except CronError as error:
            raise forms.ValidationError(cron_error_message(error)) from None
        return cron_normalised(expression)


def cron_error_message(error: CronError) -> str:
    """What is wrong with an expression, for the person who wrote it."""
    if error.code == CRON_FIELDS:
        return gettext(
            "A schedule is five fields separated by spaces: minute hour day-of-month month "
            "day-of-week, for example 0 3 * * *."
        )
    if error.code == CRON_WEEKDAY_NUMBER:
        return gettext(
            "Write days of the week as names (mon, tue, wed, thu, fri, sat, sun; mon-fri for "
            "a range), not numbers: cron and the scheduler number them differently."
        )
    return gettext("This is not a valid schedule: %(detail)s.") % {"detail": error.detail}
