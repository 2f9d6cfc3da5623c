"""Filter forms of the audit views: they validate what auditors type into the query string."""

from django import forms
from django.utils.translation import gettext_lazy as _

from certadmin.audit.models import AuditAction, AuditOutcome


class PageForm(forms.Form):
    """Keyset paging: the id the next page's events must be older than."""

    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class EventFilterForm(PageForm):
    user = forms.CharField(label=_("User"), max_length=150, required=False)
    product_key = forms.CharField(label=_("ProductKey"), max_length=64, required=False)
    device_name = forms.CharField(label=_("DeviceName"), max_length=64, required=False)
    action = forms.ChoiceField(
        label=_("Action"), choices=[("", _("Any action")), *AuditAction.choices], required=False
    )
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[("", _("Any outcome")), *AuditOutcome.choices],
        required=False,
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned

    def filters(self) -> dict:
        """The cleaned filters, as keyword arguments of ``selectors.events_filtered``."""
        data = self.cleaned_data
        return {
            name: data[name]
            for name in (
                "user",
                "product_key",
                "device_name",
                "action",
                "outcome",
                "date_from",
                "date_to",
            )
        }
