"""The fleet page's filters and the suppression form. Labels, help and limits live here only."""

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from certadmin.audit.reasons import clean_reason
from certadmin.devices.forms import clean_device_name, clean_instance_id, clean_product_key
from certadmin.findings.codes import FINDING_CODES, NEVER_SUPPRESSED
from certadmin.findings.models import Severity
from certadmin.findings.suppressions import MAX_SUPPRESSION
from certadmin.iot.accounts import IotAccount
from certadmin.web.form_labels import PlainLabelForm

STATE_CHOICES = (
    ("open", _("Open (not suppressed)")),
    ("suppressed", _("Suppressed")),
    ("closed", _("Closed")),
    ("all", _("All")),
)


def _code_choices(codes) -> list[tuple[str, str]]:
    return [(code, f"{code} · {FINDING_CODES[code].title}") for code in codes]


def _account_choices(accounts: list[IotAccount]) -> list[tuple[str, str]]:
    return [(account.name, account.display_name) for account in accounts]


class FindingFilterForm(PlainLabelForm):
    """Which findings the fleet page, its CSV and its counts show."""

    account = forms.ChoiceField(label=_("Account"), required=False)
    product_key = forms.CharField(label=_("ProductKey"), max_length=32, required=False)
    code = forms.ChoiceField(label=_("Code"), required=False)
    severity = forms.ChoiceField(label=_("Severity"), required=False)
    state = forms.ChoiceField(label=_("State"), required=False, choices=STATE_CHOICES)
    page = forms.IntegerField(min_value=1, max_value=100_000, required=False)

    def __init__(self, *args, accounts: list[IotAccount], **kwargs):
        super().__init__(*args, **kwargs)
        # The accounts offered, for the caller that scopes by them (asked of the person once).
        self.accounts = accounts
        self.fields["account"].choices = [("", _("All accounts")), *_account_choices(accounts)]
        if len(accounts) <= 1:
            self.fields["account"].widget = forms.HiddenInput()
        self.fields["code"].choices = [("", _("Any")), *_code_choices(FINDING_CODES)]
        self.fields["severity"].choices = [
            ("", _("Any")),
            *[(severity.name.lower(), severity.label) for severity in Severity],
        ]

    def clean_product_key(self) -> str:
        value = self.cleaned_data["product_key"].strip()
        return clean_product_key(value) if value else ""

    def clean_state(self) -> str:
        return self.cleaned_data["state"] or "open"


class SuppressionForm(PlainLabelForm):
    """Suppress findings of a code on one device, or every device of a product, until a date."""

    code = forms.ChoiceField(label=_("Code"))
    account = forms.ChoiceField(label=_("Account"))
    product_key = forms.CharField(label=_("ProductKey"), max_length=32)
    instance = forms.CharField(
        label=_("IotInstanceId"),
        max_length=64,
        required=False,
        help_text=_("Only for enterprise instances."),
    )
    device_name = forms.CharField(
        label=_("DeviceName"),
        max_length=32,
        required=False,
        help_text=_("Empty: every device of the product."),
    )
    # One finding's subject (a lint rule, a key): set when suppressing from a finding.
    subject = forms.CharField(max_length=128, required=False, widget=forms.HiddenInput())
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Why these findings need no attention until the end date. It is recorded."),
        error_messages={"required": _("Give a reason: it is recorded in the audit trail.")},
    )
    ends_on = forms.DateField(
        label=_("Ends on"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("The suppression ends by itself at the start of this day (at most a year)."),
        error_messages={"required": _("Give an end date: a suppression never lasts for ever.")},
    )

    def __init__(self, *args, accounts: list[IotAccount], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].choices = _code_choices(
            code for code in FINDING_CODES if code not in NEVER_SUPPRESSED
        )
        self.fields["account"].choices = _account_choices(accounts)
        if len(accounts) <= 1:
            self.fields["account"].widget = forms.HiddenInput()
            if accounts:
                self.fields["account"].initial = accounts[0].name

    def clean_code(self) -> str:
        return self.cleaned_data["code"]

    def clean_product_key(self) -> str:
        return clean_product_key(self.cleaned_data["product_key"].strip())

    def clean_instance(self) -> str:
        return clean_instance_id(self.cleaned_data["instance"].strip())

    def clean_device_name(self) -> str:
        value = self.cleaned_data["device_name"].strip()
        return clean_device_name(value) if value else ""

    def clean_reason(self) -> str:
        return clean_reason(self.cleaned_data["reason"])

    def clean_ends_on(self) -> dt.date:
        value = self.cleaned_data["ends_on"]
        today = timezone.localdate()
        if value <= today:
            raise forms.ValidationError(_("The end date must be in the future."))
        if value > today + MAX_SUPPRESSION - dt.timedelta(days=1):
            raise forms.ValidationError(_("A suppression lasts at most a year."))
        return value

    def ends_at(self) -> dt.datetime:
        """The valid form's end: the start of its end day, in the dashboard's time zone."""
        day = self.cleaned_data["ends_on"]
        return timezone.make_aware(dt.datetime.combine(day, dt.time.min))
