"""The custody forms: a request for a key, an approver's decision, break-glass, a hand-over
link, opening one, and an auditor's review. Reasons follow the audit trail's rule
(``audit.reasons``); break-glass asks for more."""

import re

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from certadmin.audit.reasons import KeyAccessForm, clean_reason, reason_words
from certadmin.custody.models import Delivery, KeyRequest
from certadmin.devices.forms import KeyActionForm
from certadmin.web.form_labels import PlainLabelForm

# Break-glass skips the second person, so its reason must stand on its own for the reviewer.
BREAK_GLASS_MIN_WORDS = 10
_TICKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:#/-]{0,63}")


def _ticket_field(*, required: bool) -> forms.CharField:
    return forms.CharField(
        label=_("Ticket"),
        required=required,
        max_length=64,
        help_text=_("The incident or change ticket this is for, such as INC-4711."),
    )


def _clean_ticket(value: str) -> str:
    value = value.strip()
    if value and not _TICKET.fullmatch(value):
        raise forms.ValidationError(
            gettext("A ticket is letters, digits and . _ : # / - (such as INC-4711)."),
            code="ticket",
        )
    return value


def _recipient_field() -> forms.CharField:
    return forms.CharField(
        label=_("Recipient's username"),
        required=False,
        max_length=150,
        help_text=_(
            "The person who receives the key: they open the link after logging in as "
            "themselves and entering their password again."
        ),
    )


def _active_user(username: str):
    """The active user called ``username``, or a ValidationError."""
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise forms.ValidationError(
            gettext("There is no active user called %(name)s.") % {"name": username[:150]},
            code="recipient",
        )
    return user


class KeyRequestForm(PlainLabelForm):
    """A custodian's request for a key, for the approvers to decide on."""

    action = forms.ChoiceField(
        label=_("What for"), choices=KeyRequest.ACTIONS, initial="reveal", widget=forms.RadioSelect
    )
    recipient = _recipient_field()
    delivery = forms.ChoiceField(
        label=_("The link gives"),
        choices=Delivery.choices,
        initial=Delivery.P12,
        required=False,
        widget=forms.RadioSelect,
    )
    reason = KeyAccessForm.base_fields["reason"]
    ticket = _ticket_field(required=False)

    def clean_reason(self) -> str:
        return clean_reason(self.cleaned_data["reason"])

    def clean_ticket(self) -> str:
        return _clean_ticket(self.cleaned_data["ticket"])

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") != "handover":
            cleaned["recipient"], cleaned["delivery"] = None, ""
            return cleaned
        username = (cleaned.get("recipient") or "").strip()
        if not username:
            self.add_error("recipient", gettext("Name the person who receives the key."))
        else:
            try:
                cleaned["recipient"] = _active_user(username)
            except forms.ValidationError as error:
                self.add_error("recipient", error)
        cleaned["delivery"] = cleaned.get("delivery") or Delivery.P12
        return cleaned


class DecisionForm(PlainLabelForm):
    """An approver's decision on a request, with their own reason."""

    DECISIONS = (("approve", _("Approve")), ("refuse", _("Refuse")))

    decision = forms.ChoiceField(label=_("Decision"), choices=DECISIONS, widget=forms.RadioSelect)
    reason = forms.CharField(
        label=_("Your reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Why you approve or refuse, on one line. It is recorded."),
        error_messages={"required": _("Give a reason: it is recorded in the audit trail.")},
    )

    def clean_reason(self) -> str:
        return clean_reason(self.cleaned_data["reason"])


class BreakGlassForm(KeyActionForm):
    """The key form for a custodian who cannot wait for approvals: a ticket, and a reason of at
    least ``BREAK_GLASS_MIN_WORDS`` different words, since an auditor reviews it afterwards."""

    ticket = _ticket_field(required=True)

    def clean_reason(self) -> str:
        reason = super().clean_reason()
        if len(set(reason_words(reason))) < BREAK_GLASS_MIN_WORDS:
            raise forms.ValidationError(
                gettext(
                    "Break-glass needs a fuller reason: at least %(count)d different words "
                    "saying what is broken and why it cannot wait for an approval."
                )
                % {"count": BREAK_GLASS_MIN_WORDS},
                code="reason",
            )
        return reason

    def clean_ticket(self) -> str:
        return _clean_ticket(self.cleaned_data["ticket"])


class HandOverForm(KeyAccessForm):
    """A one-time link that gives a named person the key (no approvals configured)."""

    recipient = _recipient_field()
    delivery = forms.ChoiceField(
        label=_("The link gives"),
        choices=Delivery.choices,
        initial=Delivery.P12,
        widget=forms.RadioSelect,
    )
    ticket = _ticket_field(required=False)

    field_order = ["recipient", "delivery", "reason", "ticket", "password"]

    def clean_recipient(self):
        username = self.cleaned_data["recipient"].strip()
        if not username:
            raise forms.ValidationError(gettext("Name the person who receives the key."))
        return _active_user(username)

    def clean_ticket(self) -> str:
        return _clean_ticket(self.cleaned_data["ticket"])


class PasswordForm(PlainLabelForm):
    """The password again, where nothing else is asked (opening a hand-over link)."""

    password = KeyAccessForm.base_fields["password"]


class ReviewForm(PlainLabelForm):
    """An auditor's review of a break-glass release."""

    note = forms.CharField(
        label=_("Review"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("What you checked and found, on one line (the ticket, who confirmed it)."),
        error_messages={"required": _("Say what you checked: it is recorded.")},
    )

    def clean_note(self) -> str:
        return clean_reason(self.cleaned_data["note"])
