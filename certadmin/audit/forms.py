"""Filter forms of the audit views: they validate what auditors type into the query string."""

import threading
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from django import forms
from django.conf import settings
from django.utils.decorators import method_decorator
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from certadmin.audit.custody_report import ReportPeriod
from certadmin.audit.models import REDACTABLE_FIELDS, AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.reasons import KeyAccessForm
from certadmin.audit.selectors import KEY_ACTIONS
from certadmin.certs.key_identity import KeyIdentity, KeyInputError, key_identity_parse
from certadmin.certs.loading import MAX_INPUT_CHARS
from certadmin.iot.accounts import IotAccount

# One choice for "who has seen a key": a reveal or a key-bundle download.
ANY_KEY_ACCESS = "key_access"
FILTER_FIELDS = ("account", "user", "product_key", "device_name", "outcome", "date_from", "date_to")


class PageForm(forms.Form):
    """Keyset paging: the id the next page's events must be older than."""

    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


# The audit list's filter fields as HTML, by what decides them (``EventFilterForm.fields_html``):
# the most recently used, in this process.
_FIELDS_HTML: OrderedDict[tuple, SafeString] = OrderedDict()
_FIELDS_HTML_LOCK = threading.Lock()
FIELDS_HTML_KEPT = 256


def _hashable(value):
    # What a widget read from the query: a text, None, or a list of them (a multiple choice).
    return tuple(value) if isinstance(value, list) else value


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

    def fields_html(self) -> SafeString:
        """Every visible field's group, each in its ``audit-field`` box: what the audit list
        shows above its rows.

        Written once per process for each language, account choices and typed values, then
        reused: the choices (actions, outcomes, the accounts this auditor may read) change
        only with a new release or configuration, and the same values give the same fields,
        errors included. Writing them was a fifth of the list's time under load. The account
        choices are part of the key, so an auditor is never shown another's accounts."""
        fields = self.visible_fields()
        key = (
            get_language(),
            tuple(self.fields["account"].choices) if "account" in self.fields else (),
            self.is_bound,
            *((field.name, _hashable(field.data)) for field in fields),
        )
        with _FIELDS_HTML_LOCK:
            written = _FIELDS_HTML.get(key)
            if written is not None:
                _FIELDS_HTML.move_to_end(key)
                return written
        written = format_html_join(
            "\n",
            '<div class="field audit-field audit-field-{}">{}</div>',
            ((field.name, field.as_field_group()) for field in fields),
        )
        with _FIELDS_HTML_LOCK:
            _FIELDS_HTML[key] = written
            while len(_FIELDS_HTML) > FIELDS_HTML_KEPT:
                _FIELDS_HTML.popitem(last=False)
        return written

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


class NeverEchoedTextarea(forms.Textarea):
    """A textarea that never writes back what was typed into it: a pasted private key must not
    come back in the page, not even beside an error."""

    def format_value(self, value):
        return None


# Why a pasted text names no key pair (``KeyInputError.code``), as the form says it.
KEY_INPUT_ERRORS = {
    "empty": _("Paste a certificate, a public key or a private key."),
    "too_large": _("The text is too large for a certificate or a key."),
    "encrypted": _(
        "This private key is encrypted. Paste its certificate or its public key instead; "
        "never type its passphrase here."
    ),
    "unrecognised": _(
        "This is not a certificate, a public key or a private key in PEM, DER (base64 or hex) "
        "or OpenSSH form."
    ),
}


class KeyLookupForm(forms.Form):
    """What an auditor pastes to ask who has seen a key. Once cleaned, only ``identity`` (the
    key pair's fingerprints) is kept: the text itself is not kept in ``cleaned_data``, and the
    field never shows it again."""

    material = forms.CharField(
        label=_("Certificate or key"),
        max_length=MAX_INPUT_CHARS,
        strip=False,
        error_messages={"required": KEY_INPUT_ERRORS["empty"]},
        help_text=_(
            "A certificate, a public key or a private key: PEM, DER as base64 or hex, or an "
            "OpenSSH public key. A private key is only used to work out its public key: it is "
            "not stored, logged or shown again."
        ),
        widget=NeverEchoedTextarea(
            attrs={"rows": 10, "spellcheck": "false", "autocomplete": "off", "wrap": "off"}
        ),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.identity: KeyIdentity | None = None
        self.refusal = ""

    @method_decorator(sensitive_variables("text"))
    def clean_material(self) -> str:
        text = self.cleaned_data["material"]
        try:
            self.identity = key_identity_parse(text)
        except KeyInputError as error:
            self.refusal = error.code
            raise forms.ValidationError(KEY_INPUT_ERRORS[error.code], code=error.code) from None
        return ""


REPORT_PERIODS = ("month", "quarter", "range")


def quarter_of(day: date) -> str:
    """``2026-Q1``: the calendar quarter of ``day``."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def quarter_days(label: str) -> tuple[date, date]:
    """The first and last day of quarter ``label`` (``2026-Q1``)."""
    year, quarter = int(label[:4]), int(label[-1])
    start = date(year, 3 * quarter - 2, 1)
    end = date(year + (quarter == 4), 1 if quarter == 4 else 3 * quarter + 1, 1)
    return start, end - timedelta(days=1)


def month_days(label: str) -> tuple[date, date]:
    """The first and last day of month ``label`` (``2026-03``)."""
    start = date(int(label[:4]), int(label[5:7]), 1)
    end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return start, end - timedelta(days=1)


class CustodyReportForm(forms.Form):
    """The custody report's period (a month, a quarter or a range of days) and API account.
    Unfilled, it is the current month."""

    period = forms.ChoiceField(
        label=_("Period"),
        choices=[("month", _("Month")), ("quarter", _("Quarter")), ("range", _("Custom range"))],
        required=False,
        widget=forms.RadioSelect,
    )
    month = forms.RegexField(
        label=_("Month"),
        regex=r"^\d{4}-(0[1-9]|1[0-2])$",
        required=False,
        error_messages={"invalid": _("Enter a month as YYYY-MM.")},
        widget=forms.DateInput(attrs={"type": "month"}),
    )
    quarter = forms.RegexField(
        label=_("Quarter"),
        regex=r"^\d{4}-Q[1-4]$",
        required=False,
        error_messages={"invalid": _("Enter a quarter as YYYY-Q1 to YYYY-Q4.")},
        widget=forms.TextInput(attrs={"placeholder": "2026-Q1", "size": 8}),
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    account = forms.ChoiceField(label=_("API account"), required=False)

    def __init__(self, *args, today: date, accounts: Collection[IotAccount], **kwargs):
        """``accounts``: those whose events the auditor may read."""
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.today = today
        if len(accounts) > 1:
            self.fields["account"].choices = [
                ("", _("Any account")),
                *((account.name, account.display_name) for account in accounts),
            ]
        else:
            del self.fields["account"]

    def clean(self):
        cleaned = super().clean()
        period = cleaned.get("period") or "month"
        cleaned["period"] = period
        if period == "range":
            date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
            if not date_from:
                self.add_error("date_from", _("Enter the first day of the range."))
            if not date_to:
                self.add_error("date_to", _("Enter the last day of the range."))
            if date_from and date_to and date_from > date_to:
                self.add_error("date_to", _("The end date is before the start date."))
        return cleaned

    def report_period(self) -> ReportPeriod:
        """The chosen period (the form must be valid)."""
        data = self.cleaned_data
        if data["period"] == "range":
            start, end = data["date_from"], data["date_to"]
            return ReportPeriod(f"{start.isoformat()}..{end.isoformat()}", start, end)
        if data["period"] == "quarter":
            label = data.get("quarter") or quarter_of(self.today)
            return ReportPeriod(label, *quarter_days(label))
        label = data.get("month") or self.today.strftime("%Y-%m")
        return ReportPeriod(label, *month_days(label))

    def account_chosen(self) -> str:
        return self.cleaned_data.get("account", "")


@dataclass(frozen=True)
class QuickPeriod:
    """A month or quarter the report page offers as one click: its query's ``period`` and the
    month (``2026-03``) or quarter (``2026-Q1``)."""

    label: str
    period: str
    month: str | None = None
    quarter: str | None = None


def report_quick_periods(*, today: date) -> list[QuickPeriod]:
    """This and last month, this and last quarter."""
    last_month = today.replace(day=1) - timedelta(days=1)
    this_quarter = quarter_of(today)
    last_quarter = quarter_of(quarter_days(this_quarter)[0] - timedelta(days=1))
    return [
        QuickPeriod(_("This month"), "month", month=today.strftime("%Y-%m")),
        QuickPeriod(_("Last month"), "month", month=last_month.strftime("%Y-%m")),
        QuickPeriod(_("This quarter"), "quarter", quarter=this_quarter),
        QuickPeriod(_("Last quarter"), "quarter", quarter=last_quarter),
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
