"""The route and channel forms. Labels, help and limits live here only. A channel's URL is a
password field that never shows its value again."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from certadmin.devices.forms import AccountField, clean_product_key, offer_accounts
from certadmin.findings.severity import SEVERITY_BY_NAME, Severity
from certadmin.iot.accounts import IotAccount
from certadmin.notifications.configuration import CHANNEL_NAME
from certadmin.notifications.services import RouteFields
from certadmin.web.form_labels import PlainLabelForm


class RouteForm(PlainLabelForm):
    name = forms.CharField(label=_("Name"), max_length=60, strip=True)
    account = AccountField()
    product_key = forms.CharField(
        label=_("ProductKey"),
        max_length=32,
        required=False,
        strip=True,
        help_text=_("Empty: every product of the account, and the CA bundle's findings."),
    )
    min_severity = forms.ChoiceField(label=_("Minimum severity"), initial="high")
    channel = forms.ChoiceField(label=_("Channel"))
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    digest = forms.BooleanField(label=_("Daily digest"), required=False, initial=True)
    custody = forms.BooleanField(
        label=_("Custody messages"),
        required=False,
        initial=True,
        help_text=_(
            "Key requests and their decisions, break-glass releases and possible "
            "interceptions of hand-over links for the account's devices, whatever the minimum "
            "severity."
        ),
    )
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)

    def __init__(self, *args, accounts: list[IotAccount], channels: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        offer_accounts(self, accounts)
        self.fields["min_severity"].choices = [
            (severity.name.lower(), severity.label) for severity in Severity
        ]
        self.fields["channel"].choices = [(name, name) for name in channels]

    def clean_product_key(self) -> str:
        value = self.cleaned_data["product_key"]
        return clean_product_key(value) if value else ""

    def route_fields(self) -> RouteFields:
        data = self.cleaned_data
        return RouteFields(
            name=data["name"],
            account=data["account"],
            product_key=data["product_key"],
            min_severity=SEVERITY_BY_NAME[data["min_severity"]],
            channel=data["channel"],
            language=data["language"],
            digest=data["digest"],
            enabled=data["enabled"],
            custody=data["custody"],
        )


class ChannelForm(PlainLabelForm):
    name = forms.CharField(
        label=_("Name"),
        max_length=40,
        strip=True,
        help_text=_("Lower-case letters, digits and -; the same name replaces its URL."),
    )
    url = forms.CharField(
        label=_("apprise URL"),
        max_length=2000,
        strip=True,
        # Never rendered back: the URL holds the channel's token.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_(
            "For example dingtalk://TOKEN/, wecombot://KEY, feishu://TOKEN/, "
            "mailto://user:password@smtp.example.com?to=ops@example.com or "
            "jsons://hooks.example.com/path. Stored encrypted, never shown again."
        ),
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].lower()
        if not CHANNEL_NAME.match(name):
            raise forms.ValidationError(
                _("Use 1 to 40 lower-case letters, digits and -, starting with a letter or digit.")
            )
        return name
