"""Input validation for device lookups and key access. Refused input never reaches the IoT API.

Every field is rendered by Django (``as_field_group``): its label, help, errors, ``maxlength``
and ``rows`` come from here only.
"""

import re
import unicodedata
from collections.abc import Sequence

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from certadmin.certs.bundles import PASSPHRASE_MIN_LENGTH
from certadmin.devices.expiry import EXPIRY_STATES
from certadmin.devices.platform import iot_accounts
from certadmin.devices.services import DeviceRef
from certadmin.iot.accounts import IotAccount

# DeviceName: 4–32 letters, digits and - _ . @ : (IoT Platform naming rules).
DEVICE_NAME_RE = re.compile(r"^[A-Za-z0-9_.@:-]{4,32}$")
# ProductKey: an opaque alphanumeric id (11 characters in every example seen): validated loosely.
PRODUCT_KEY_RE = re.compile(r"^[A-Za-z0-9]{4,32}$")
# IotInstanceId: iot-cn-0pp1n8t****, iot-06z00ep2pjifrby, iot_instc_pu****_c*-v64********.
INSTANCE_ID_RE = re.compile(r"^[A-Za-z0-9_*-]{4,64}$")
CONTROL_CHARS_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A reason may span lines; other control characters are refused.
REASON_FORBIDDEN_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _no_control_characters(value: str) -> None:
    if CONTROL_CHARS_RE.search(value):
        raise forms.ValidationError(_("Remove the control characters (tabs, line breaks…)."))


def clean_product_key(value: str) -> str:
    """Validate a ProductKey; raises ValidationError with a message for the user."""
    _no_control_characters(value)
    if not PRODUCT_KEY_RE.fullmatch(value):
        raise forms.ValidationError(
            _("A ProductKey is 4–32 letters and digits, for example a1BwAGV1234.")
        )
    return value


def clean_device_name(value: str) -> str:
    """Validate a DeviceName against the platform's naming rules."""
    _no_control_characters(value)
    if not DEVICE_NAME_RE.fullmatch(value):
        raise forms.ValidationError(
            _("A DeviceName is 4–32 characters: letters, digits and - _ . @ : only.")
        )
    return value


def clean_instance_id(value: str) -> str:
    """Validate an IotInstanceId loosely (its formats vary); empty means the public instance."""
    _no_control_characters(value)
    if value and not INSTANCE_ID_RE.fullmatch(value):
        raise forms.ValidationError(
            _("An IotInstanceId looks like iot-06z00ep2pjifrby: letters, digits, - and _.")
        )
    return value


def _identifier_input() -> forms.TextInput:
    # Ids, not words: no autocompletion from other sites' fields, no spelling marks.
    return forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"})


class InstanceField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(
            label=_("IotInstanceId"),
            required=False,
            max_length=64,
            help_text=_("Only for enterprise instances."),
            widget=_identifier_input(),
            **kwargs,
        )


class AccountField(forms.ChoiceField):
    """The API account to use, among those offered (the ones the user may use). A hidden
    input when only one is offered; empty means the default account."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Account"))
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def offer(self, accounts: Sequence[IotAccount]) -> None:
        self.choices = [(account.name, account.display_name) for account in accounts]
        self.initial = settings.IOT_DEFAULT_ACCOUNT
        if len(accounts) <= 1:
            self.widget = forms.HiddenInput()
        self.error_messages["invalid_choice"] = _("Choose one of the accounts you may use.")

    def clean(self, value):
        return super().clean(value or settings.IOT_DEFAULT_ACCOUNT)

    def valid_value(self, value) -> bool:
        return any(str(choice) == str(value) for choice, _label in self.choices)


def offer_accounts(form: forms.Form, accounts: Sequence[IotAccount] | None) -> None:
    """Offer ``accounts`` (None: every configured one) in the form's ``account`` field, and
    pre-select the default account's instance."""
    offered = list(accounts) if accounts is not None else iot_accounts()
    form.fields["account"].offer(offered)
    form.account_names = [account.name for account in offered]
    if "instance" in form.fields:
        default = next((a for a in offered if a.name == settings.IOT_DEFAULT_ACCOUNT), None)
        form.fields["instance"].initial = default.instance_id if default else ""


class PlainLabelForm(forms.Form):
    """A form whose labels read as the pages show them: without a trailing colon."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class DeviceLookupForm(PlainLabelForm):
    """ProductKey + DeviceName (+ instance): opens one device's certificate."""

    product_key = forms.CharField(
        label=_("ProductKey"), max_length=32, strip=True, widget=_identifier_input()
    )
    device_name = forms.CharField(
        label=_("DeviceName"), max_length=32, strip=True, widget=_identifier_input()
    )
    instance = InstanceField()
    account = AccountField()

    def __init__(self, *args, accounts: Sequence[IotAccount] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        offer_accounts(self, accounts)

    # Set by from_path: a URL names a device exactly, so a value that cleaning would change is
    # refused instead of being used as (or beside) its cleaned form.
    canonical_only = False

    @classmethod
    def from_path(
        cls, product_key: str, device_name: str, instance: str, account: str = ""
    ) -> "DeviceLookupForm":
        """The form bound to a device URL's parts (and its ``?instance=`` and ``?account=``).
        Only canonical values are valid: one with leading or trailing spaces (of any script),
        tabs or line breaks is refused, not stripped. Whether the user may use the account is
        the view's question (``account_allowed``)."""
        form = cls(
            {
                "product_key": product_key,
                "device_name": device_name,
                "instance": instance,
                "account": account,
            }
        )
        form.canonical_only = True
        return form

    def _canonical(self, name: str, value: str) -> str:
        if self.canonical_only and self.data.get(name, "") != value:
            raise forms.ValidationError(
                _("Remove the spaces or invisible characters around the value."),
                code="not_canonical",
            )
        return value

    def device(self) -> DeviceRef:
        """The device the valid form names."""
        data = self.cleaned_data
        return DeviceRef(
            data["product_key"], data["device_name"], data["instance"], data["account"]
        )

    def clean_product_key(self) -> str:
        return self._canonical("product_key", clean_product_key(self.cleaned_data["product_key"]))

    def clean_device_name(self) -> str:
        return self._canonical("device_name", clean_device_name(self.cleaned_data["device_name"]))

    def clean_instance(self) -> str:
        return self._canonical("instance", clean_instance_id(self.cleaned_data["instance"]))


class DeviceSearchForm(PlainLabelForm):
    """The search form of the home page: a ProductKey, and a DeviceName or part of one.

    Enter means what the person typed: the whole DeviceName opens the device, part of one
    (or none) shows the product's devices filtered by it. So the name is not held to the
    DeviceName rules here; the device page checks the name it opens.
    """

    product_key = forms.CharField(
        label=_("ProductKey"), max_length=32, strip=True, widget=_identifier_input()
    )
    device_name = forms.CharField(
        label=_("DeviceName"),
        max_length=32,
        required=False,
        strip=True,
        help_text=_("The whole name opens the device; part of it lists the devices it matches."),
        widget=_identifier_input(),
    )
    instance = InstanceField()
    account = AccountField()

    def __init__(
        self,
        *args,
        products: Sequence[str] = (),
        instances: Sequence[str] = (),
        accounts: Sequence[IotAccount] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        offer_accounts(self, accounts)
        # The ProductKeys and instances the dashboard knows, offered as the fields' suggestions.
        self.product_suggestions = list(products)
        self.instance_suggestions = list(instances)
        if self.product_suggestions:
            self.fields["product_key"].widget.attrs["list"] = "product-suggestions"
        if self.instance_suggestions:
            self.fields["instance"].widget.attrs["list"] = "instance-suggestions"

    def clean_product_key(self) -> str:
        return clean_product_key(self.cleaned_data["product_key"])

    def clean_device_name(self) -> str:
        value = self.cleaned_data["device_name"]
        _no_control_characters(value)
        return value

    def clean_instance(self) -> str:
        return clean_instance_id(self.cleaned_data["instance"])


class InstanceRetryForm(PlainLabelForm):
    """The IotInstanceId to retry a device with, when the platform did not find its instance."""

    instance = InstanceField()

    def __init__(self, *args, instances: Sequence[str] = (), **kwargs):
        # Its own ids: the certificate page holds other forms.
        kwargs.setdefault("auto_id", "id_retry_%s")
        super().__init__(*args, **kwargs)
        self.fields["instance"].required = True
        self.fields["instance"].help_text = _(
            "An enterprise instance's id, as the IoT Platform console shows it."
        )
        self.instance_suggestions = list(instances)
        if self.instance_suggestions:
            self.fields["instance"].widget.attrs["list"] = "retry-instance-suggestions"

    def clean_instance(self) -> str:
        return clean_instance_id(self.cleaned_data["instance"])


class DeviceListForm(PlainLabelForm):
    """ProductKey (+ name filter, page): lists a product's devices."""

    product_key = forms.CharField(label=_("ProductKey"), max_length=32, strip=True)
    instance = InstanceField()
    account = AccountField()
    name = forms.CharField(label=_("Name contains"), max_length=32, required=False, strip=True)
    page = forms.IntegerField(min_value=1, max_value=10_000, required=False)

    def __init__(self, *args, accounts: Sequence[IotAccount] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        offer_accounts(self, accounts)

    def clean_product_key(self) -> str:
        return clean_product_key(self.cleaned_data["product_key"])

    def clean_instance(self) -> str:
        return clean_instance_id(self.cleaned_data["instance"])

    def clean_name(self) -> str:
        value = self.cleaned_data["name"]
        _no_control_characters(value)
        return value


class KeyAccessForm(PlainLabelForm):
    """What every key-bearing action asks for: a reason, and the password when it is stale."""

    reason = forms.CharField(
        label=_("Reason"),
        min_length=10,
        max_length=500,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Why you need this key (ticket number, incident…). It is recorded."),
        error_messages={
            "required": _("Give a reason: it is recorded in the audit trail."),
            "min_length": _("Give a reason of at least %(limit_value)d characters."),
        },
    )
    password = forms.CharField(
        label=_("Your password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_("Confirm it is you: needed when you have not entered it in the last minutes."),
    )

    def clean_reason(self) -> str:
        return clean_reason(self.cleaned_data["reason"])


# A reason must say something: this many letters or digits (any script), after NFKC.
REASON_MIN_WORD_CHARACTERS = 5
# Letters by category (Lo) that show as nothing: the Hangul fillers (NFKC maps the halfwidth
# one to U+1160) and the Khmer inherent vowels.
INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u17b4\u17b5")
# Format characters (Cf: bidi controls U+202A–U+202E and U+2066–U+2069, U+200E/U+200F, U+061C,
# zero-width spaces and joiners, …) and line/paragraph separators can make a recorded reason
# read differently from what was typed.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Zl", "Zp"})


def clean_reason(value: str) -> str:
    """A reason for a key access, NFKC-normalised: no control, format (bidi, zero-width) or
    line/paragraph separator characters, and at least ``REASON_MIN_WORD_CHARACTERS`` letters
    or digits of any script (invisible fillers do not count). Line breaks are kept."""
    value = unicodedata.normalize("NFKC", value)
    if REASON_FORBIDDEN_RE.search(value):
        raise forms.ValidationError(_("Remove the control characters from the reason."))
    if any(unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in value):
        raise forms.ValidationError(
            _(
                "Remove the invisible characters from the reason (direction marks, zero-width "
                "spaces, line or paragraph separators)."
            ),
            code="invisible",
        )
    words = sum(
        1 for ch in value if unicodedata.category(ch)[0] in "LN" and ch not in INVISIBLE_LETTERS
    )
    if words < REASON_MIN_WORD_CHARACTERS:
        raise forms.ValidationError(
            _("Give a reason in words: at least %(count)d letters or digits.")
            % {"count": REASON_MIN_WORD_CHARACTERS},
            code="no_words",
        )
    return value.strip()


# A PKCS#12 passphrase: PASSPHRASE_MIN_LENGTH characters, this many different ones that are not
# spaces, and not one of the passwords Django's CommonPasswordValidator lists.
PASSPHRASE_MIN_DISTINCT = 5


def passphrase_problem(passphrase: str) -> str:
    """Why ``passphrase`` is too weak for a PKCS#12 file, or "" when it will do."""
    if len(passphrase) < PASSPHRASE_MIN_LENGTH:
        return gettext("Choose a passphrase of at least %(min)d characters.") % {
            "min": PASSPHRASE_MIN_LENGTH
        }
    if CONTROL_CHARS_RE.search(passphrase) or any(
        unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in passphrase
    ):
        return gettext("Remove the control or invisible characters from the passphrase.")
    if len({ch for ch in passphrase if not ch.isspace()}) < PASSPHRASE_MIN_DISTINCT:
        return gettext(
            "Choose a passphrase with at least %(count)d different characters besides spaces."
        ) % {"count": PASSPHRASE_MIN_DISTINCT}
    try:
        password_validation.CommonPasswordValidator().validate(passphrase)
    except forms.ValidationError:
        return gettext("This passphrase is too common: choose another.")
    return ""


def _passphrase_help_text() -> str:
    # Formatted when shown, in the language of the request (a class attribute is made once).
    return gettext(
        "At least %(min)d characters, %(distinct)d of them different. "
        "It is never stored: keep it safe."
    ) % {"min": PASSPHRASE_MIN_LENGTH, "distinct": PASSPHRASE_MIN_DISTINCT}


_passphrase_help = lazy(_passphrase_help_text, str)


class KeyActionForm(KeyAccessForm):
    """The one form for a device's private key: what to do with it (reveal it on the page, or
    one of the downloads), the reason and password every key access asks for, and the
    passphrase the PKCS#12 file and the encrypted ZIP are protected with."""

    ACTIONS = (
        ("reveal", _("Reveal it on this page")),
        ("key", _("Download the key alone (PEM, PKCS#8, not encrypted)")),
        ("p12", _("Download a PKCS#12 file (.p12): certificate, key and CA, under a passphrase")),
        (
            "zip",
            _(
                "Download a ZIP bundle: certificate, CA, device.json, README and the key "
                "encrypted with a passphrase"
            ),
        ),
        (
            "zip-plain",
            _(
                "Download a ZIP bundle with the key NOT encrypted: anyone who gets the file "
                "can act as the device"
            ),
        ),
    )
    # What needs the passphrase; the page shows its fields only for these.
    PASSPHRASE_ACTIONS = ("p12", "zip")

    action = forms.ChoiceField(
        label=_("What to do"), choices=ACTIONS, initial="reveal", widget=forms.RadioSelect
    )
    passphrase = forms.CharField(
        label=_("Passphrase for the file"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_passphrase_help(),
    )
    passphrase_confirm = forms.CharField(
        label=_("Passphrase again"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") not in self.PASSPHRASE_ACTIONS:
            return cleaned
        passphrase = cleaned.get("passphrase", "")
        if problem := passphrase_problem(passphrase):
            self.add_error("passphrase", problem)
        elif passphrase != cleaned.get("passphrase_confirm", ""):
            self.add_error("passphrase_confirm", gettext("The two passphrases differ."))
        return cleaned

    def chosen_action(self) -> str:
        """The action asked for, valid or not (to keep it chosen when the form comes back)."""
        return str(self.data.get("action", "")) if self.is_bound else self["action"].initial


class KeyBundleForm(KeyActionForm):
    """The key bundle endpoint's form: one of the downloads, named by ``format`` (never a
    reveal)."""

    ACTIONS = tuple(choice for choice in KeyActionForm.ACTIONS if choice[0] != "reveal")

    def __init__(self, data=None, *args, **kwargs):
        if data is not None:
            data = data.copy()
            data["action"] = data.get("format", "")
        super().__init__(data, *args, **kwargs)
        self.fields["action"].choices = self.ACTIONS
        self.fields["action"].initial = "key"


class InventoryFilterForm(PlainLabelForm):
    """What a device table of the inventory shows: one product (or every product), a search,
    an expiry state, an order and a page. The product device list and the expiry overview
    both read it."""

    SORTS = (
        ("name", _("DeviceName A–Z")),
        ("-name", _("DeviceName Z–A")),
        ("days", _("Days left, fewest first")),
        ("-days", _("Days left, most first")),
        ("status", _("Status, most urgent first")),
        ("-status", _("Status, least urgent first")),
        ("checked", _("Last checked, oldest first")),
        ("-checked", _("Last checked, newest first")),
    )

    product_key = forms.CharField(
        label=_("ProductKey"), max_length=32, required=False, strip=True, widget=forms.HiddenInput
    )
    instance = forms.CharField(required=False, max_length=64, strip=True, widget=forms.HiddenInput)
    account = AccountField(widget=forms.HiddenInput)
    q = forms.CharField(
        label=_("Search"),
        max_length=128,
        required=False,
        strip=True,
        help_text=_("Part of a DeviceName or nickname, or a whole CertSN, serial or fingerprint."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "type": "search"}
        ),
    )
    state = forms.ChoiceField(
        label=_("Expiry"), required=False, choices=(("", _("Any")), *EXPIRY_STATES)
    )
    sort = forms.ChoiceField(label=_("Order"), required=False, choices=SORTS)
    page = forms.IntegerField(min_value=1, max_value=100_000, required=False)

    def __init__(
        self,
        *args,
        default_sort: str = "name",
        accounts: Sequence[IotAccount] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        offer_accounts(self, accounts)
        self.fields["account"].widget = forms.HiddenInput()
        self.default_sort = default_sort
        self.fields["sort"].initial = default_sort

    def clean_product_key(self) -> str:
        value = self.cleaned_data["product_key"]
        return clean_product_key(value) if value else ""

    def clean_instance(self) -> str:
        return clean_instance_id(self.cleaned_data["instance"])

    def clean_q(self) -> str:
        value = self.cleaned_data["q"]
        _no_control_characters(value)
        return value

    def clean_sort(self) -> str:
        return self.cleaned_data["sort"] or self.default_sort

    def scope(self) -> dict:
        """The valid form's choice of records, as ``inventory_devices``' arguments: one
        product of one API account, or every product of the accounts offered."""
        data = self.cleaned_data
        product_key = data["product_key"] or None
        if product_key is None:
            return {"product_key": None, "accounts": self.account_names}
        return {
            "product_key": product_key,
            "iot_instance_id": data["instance"],
            "account": data["account"],
        }
