"""Filter forms of the audit views: they validate what auditors type into the query string."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from certadmin.audit.models import REDACTABLE_FIELDS, AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.reasons import KeyAccessForm
from certadmin.audit.selectors import KEY_ACTIONS
from certadmin.iot.accounts import IotAccount

# One choice for "who has seen a key": a reveal or a key-bundle download.
ANY_KEY_ACCESS = "key_access"
FILTER_FIELDS = ("account", "user", "product_key", "device_name", "outcome", "date_from", "date_to")


class PageForm(forms.Form):
    """Keyset paging: the id the next page's events must be older than."""

    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class EventFilterForm(PageForm):
    account = forms.ChoiceField(label=_("API account"), required=False)
    user = forms.CharField(
        label=_("User"),
        max_length=152,
        required=False,
        help_text=_('Any part of the name, any case. In quotes ("…") exactly that name.'),
    )
    product_key = forms.CharField(label=_("ProductKey"), max_length=64, required=False)
    device_name = forms.CharField(
        label=_("DeviceName"),
        max_length=66,
        required=False,
        help_text=_('Any part of the name, any case. In quotes ("…") exactly that name.'),
    )
    action = forms.MultipleChoiceField(
        label=_("Action"),
        choices=[
            (ANY_KEY_ACCESS, _("Any key access (reveal or key bundle)")),
            *AuditAction.choices,
        ],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every action."),
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

    def __init__(self, *args, accounts: Collection[IotAccount] | None = None, **kwargs):
        """``accounts``: the API accounts the auditor may filter by, those whose events they
        may read (default: every configured account)."""
        # The site's labels carry no colon.
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if accounts is None:
            accounts = settings.IOT_ACCOUNTS.values()
        if len(accounts) > 1:
            self.fields["account"].choices = [
                ("", _("Any account")),
                *((account.name, account.display_name) for account in accounts),
            ]
        else:
            # One account: nothing to choose, and no field to fill in.
            del self.fields["account"]

    def clean(self):
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned

    def filters(self) -> dict:
        """The cleaned filters, as keyword arguments of ``selectors.events_filtered``."""
        data = self.cleaned_data
        actions: set[str] = set()
        for action in data["action"]:
            actions.update(KEY_ACTIONS if action == ANY_KEY_ACCESS else (action,))
        return {
            "actions": sorted(actions),
            **{name: data.get(name, "") for name in FILTER_FIELDS},
        }


@dataclass(frozen=True)
class QuickRange:
    """A named period the filter form offers as one click: it sets date_from and date_to."""

    label: str
    date_from: date
    date_to: date


def quick_ranges(*, today: date) -> list[QuickRange]:
    """Today, the last 7 and 30 days (today included), and the last calendar month."""
    last_month_end = today.replace(day=1) - timedelta(days=1)
    last_month_start = last_month_end.replace(day=1)
    return [
        QuickRange(_("Today"), today, today),
        QuickRange(_("Last 7 days"), today - timedelta(days=6), today),
        QuickRange(_("Last 30 days"), today - timedelta(days=29), today),
        QuickRange(_("Last month"), last_month_start, last_month_end),
    ]


class ChainVerifyForm(forms.Form):
    """Verify now, optionally against a head hash the auditor anchored elsewhere earlier."""

    expect_head = forms.RegexField(
        label=_("Anchored head hash (optional)"),
        regex=r"^[0-9a-f]{64}$",
        required=False,
        max_length=64,
        strip=True,
        help_text=_(
            "A head hash you kept earlier (64 hexadecimal characters): the check fails unless "
            "that row is still in the chain."
        ),
        error_messages={"invalid": _("Enter the 64 hexadecimal characters of a head hash.")},
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def full_clean(self):
        # Pasted hashes come in either case; the chain stores lower case.
        if self.is_bound and "expect_head" in self.data:
            self.data = self.data.copy()
            self.data["expect_head"] = self.data["expect_head"].strip().lower()
        super().full_clean()


class FieldRedactForm(KeyAccessForm):
    """A superuser's redaction of one text of one event: which text, why (a reason judged as a
    key access's is), and the password when it was not entered in the last minutes."""

    field = forms.ChoiceField(label=_("Text to redact"), widget=forms.RadioSelect)

    field_order = ("field", "reason", "password")

    def __init__(self, *args, event: AuditEvent, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = event_redactable_fields(event)
        self.fields["reason"].help_text = _(
            "Why this text must go (ticket, request…). Your reason is recorded and stays."
        )


def event_redactable_fields(event: AuditEvent) -> list[tuple[str, str]]:
    """The texts of ``event`` that can be redacted now, as (field, label) choices: those of a
    row covered by their digests (hash version 4) that are neither empty nor redacted."""
    return [
        (name, AuditEvent._meta.get_field(name).verbose_name)
        for name in REDACTABLE_FIELDS
        if getattr(event, name)
        and getattr(event, f"{name}_digest")
        and getattr(event, f"{name}_redacted_by") is None
    ]
