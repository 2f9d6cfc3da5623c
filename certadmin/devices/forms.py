"""Input validation for device lookups and key access. Refused input never reaches the IoT API.

Every field is rendered by Django (``as_field_group``): its label, help, errors, ``maxlength``
and ``rows`` come from here only.
"""

import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib.auth import hashers as password_hashers
from django.utils.functional import lazy
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from zxcvbn import zxcvbn

from certadmin.accounts.api_accounts import iot_accounts
from certadmin.audit.reasons import INVISIBLE_CHARACTERS, KeyAccessForm
from certadmin.certs.bundles import PASSPHRASE_MIN_LENGTH
from certadmin.devices.display_names import DEVICE_STATUSES
from certadmin.devices.expiry import EXPIRY_STATES, STATE_GROUPS
from certadmin.devices.models import REMOVED_STATE, NodeType
from certadmin.iot.accounts import IotAccount
from certadmin.iot.identity import DeviceRef, is_device_name, is_instance_id, is_product_key
from certadmin.web.form_labels import PlainLabelForm

CONTROL_CHARS_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _no_control_characters(value: str) -> None:
    if CONTROL_CHARS_RE.search(value):
        raise forms.ValidationError(_("Remove the control characters (tabs, line breaks…)."))


def clean_product_key(value: str) -> str:
    """Validate a ProductKey; raises ValidationError with a message for the user."""
    _no_control_characters(value)
    if not is_product_key(value):
        raise forms.ValidationError(
            _("A ProductKey is 4–32 letters and digits, for example a1BwAGV1234.")
        )
    return value


def clean_device_name(value: str) -> str:
    """Validate a DeviceName against the platform's naming rules."""
    _no_control_characters(value)
    if not is_device_name(value):
        raise forms.ValidationError(
            _("A DeviceName is 4–32 characters: letters, digits and - _ . @ : only.")
        )
    return value


def clean_instance_id(value: str) -> str:
    """Validate an IotInstanceId loosely (its formats vary); empty means the public instance."""
    _no_control_characters(value)
    if value and not is_instance_id(value):
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


class ScopeForm(PlainLabelForm):
    """The ProductKey, IotInstanceId and API account every form that names a product shares,
    with their labels, help and rules written once: the lookup, search, device list, inventory
    filter, product sync and batch forms are all this form plus their own fields.

    A form that does not ask for a field drops it (``instance = None``); one for which the
    product is optional says so in its ``__init__`` (empty then means every product). The
    accounts offered are those the user may use (``accounts``; None: every configured one).
    """

    product_key = forms.CharField(
        label=_("ProductKey"), max_length=32, strip=True, widget=_identifier_input()
    )
    instance = InstanceField()
    account = AccountField()

    def __init__(self, *args, accounts: Sequence[IotAccount] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        offer_accounts(self, accounts)

    def clean_product_key(self) -> str:
        value = self.cleaned_data["product_key"]
        return clean_product_key(value) if value else ""

    def clean_instance(self) -> str:
        return clean_instance_id(self.cleaned_data["instance"])


class DeviceLookupForm(ScopeForm):
    """ProductKey + DeviceName (+ instance): opens one device's certificate."""

    device_name = forms.CharField(
        label=_("DeviceName"), max_length=32, strip=True, widget=_identifier_input()
    )
    field_order = ("product_key", "device_name", "instance", "account")

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
        return self._canonical("product_key", super().clean_product_key())

    def clean_device_name(self) -> str:
        return self._canonical("device_name", clean_device_name(self.cleaned_data["device_name"]))

    def clean_instance(self) -> str:
        return self._canonical("instance", super().clean_instance())


class DeviceSearchForm(ScopeForm):
    """The search form of the home page: a ProductKey, and a DeviceName or part of one.

    Enter means what the person typed: the whole DeviceName opens the device, part of one
    (or none) shows the product's devices filtered by it. So the name is not held to the
    DeviceName rules here; the device page checks the name it opens.
    """

    device_name = forms.CharField(
        label=_("DeviceName"),
        max_length=32,
        required=False,
        strip=True,
        help_text=_("The whole name opens the device; part of it lists the devices it matches."),
        widget=_identifier_input(),
    )
    field_order = ("product_key", "device_name", "instance", "account")

    def __init__(
        self, *args, products: Sequence[str] = (), instances: Sequence[str] = (), **kwargs
    ):
        super().__init__(*args, **kwargs)
        # The ProductKeys and instances the dashboard knows, offered as the fields' suggestions.
        self.product_suggestions = list(products)
        self.instance_suggestions = list(instances)
        if self.product_suggestions:
            self.fields["product_key"].widget.attrs["list"] = "product-suggestions"
        if self.instance_suggestions:
            self.fields["instance"].widget.attrs["list"] = "instance-suggestions"

    def clean_device_name(self) -> str:
        value = self.cleaned_data["device_name"]
        _no_control_characters(value)
        return value


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


class DeviceListForm(ScopeForm):
    """ProductKey (+ name filter, page): lists a product's devices."""

    name = forms.CharField(label=_("Name contains"), max_length=32, required=False, strip=True)
    page = forms.IntegerField(min_value=1, max_value=10_000, required=False)

    def clean_name(self) -> str:
        value = self.cleaned_data["name"]
        _no_control_characters(value)
        return value


# --- Passphrases ------------------------------------------------------------------------------
# A PKCS#12 file or encrypted key can be attacked offline, at any speed: at least
# PASSPHRASE_MIN_LENGTH characters and zxcvbn's top score (an estimated 10^10 guesses or more).
PASSPHRASE_MIN_SCORE = 4
# zxcvbn's cost grows with the length; its own limit is 72. A longer passphrase is judged by
# its first characters (it is at least that strong).
PASSPHRASE_ESTIMATE_LENGTH = 72
PASSPHRASE_MAX_LENGTH = 256
# zxcvbn keeps the user inputs in a module-level dictionary while it estimates: one estimate at
# a time, or two requests would judge each other's passphrases.
_zxcvbn_lock = threading.Lock()
# zxcvbn's feedback texts, marked for translation here (zxcvbn itself is in English only).
ZXCVBN_FEEDBACK = (
    gettext_noop("Use a few words, avoid common phrases."),
    gettext_noop("No need for symbols, digits, or uppercase letters."),
    gettext_noop("Add another word or two. Uncommon words are better."),
    gettext_noop("Straight rows of keys are easy to guess."),
    gettext_noop("Short keyboard patterns are easy to guess."),
    gettext_noop("Use a longer keyboard pattern with more turns."),
    gettext_noop('Repeats like "aaa" are easy to guess.'),
    gettext_noop('Repeats like "abcabcabc" are only slightly harder to guess than "abc".'),
    gettext_noop("Avoid repeated words and characters."),
    gettext_noop('Sequences like "abc" or "6543" are easy to guess.'),
    gettext_noop("Avoid sequences."),
    gettext_noop("Recent years are easy to guess."),
    gettext_noop("Avoid recent years."),
    gettext_noop("Avoid years that are associated with you."),
    gettext_noop("Dates are often easy to guess."),
    gettext_noop("Avoid dates and years that are associated with you."),
    gettext_noop("This is a top-10 common password."),
    gettext_noop("This is a top-100 common password."),
    gettext_noop("This is a very common password."),
    gettext_noop("This is similar to a commonly used password."),
    gettext_noop("A word by itself is easy to guess."),
    gettext_noop("Names and surnames by themselves are easy to guess."),
    gettext_noop("Common names and surnames are easy to guess."),
    gettext_noop("Capitalization doesn't help very much."),
    gettext_noop("All-uppercase is almost as easy to guess as all-lowercase."),
    gettext_noop("Reversed words aren't much harder to guess."),
    gettext_noop("Predictable substitutions like '@' instead of 'a' don't help very much."),
)


@dataclass(frozen=True)
class PassphraseContext:
    """What a passphrase must not be made of: the words an attacker holding the file knows
    (the person's names and email, the device's names, the files' names) and the person
    whose login password it must not be. Holds no secret."""

    user: object = None
    words: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"PassphraseContext({len(self.words)} words)"


def _letters_and_digits(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


@sensitive_variables("passphrase", "estimate")
def passphrase_problem(passphrase: str, *, context: PassphraseContext | None = None) -> str:
    """Why ``passphrase`` may not protect a key file, or "" when it may.

    At least ``PASSPHRASE_MIN_LENGTH`` characters, no control or invisible characters, not
    the person's login password, not (part of) a name in ``context`` (a file name, the
    device, the person), and an estimated guessing cost of zxcvbn's score
    ``PASSPHRASE_MIN_SCORE`` with ``context``'s words as what an attacker knows; the message
    then carries zxcvbn's advice. Nothing is stored or logged.
    """
    context = context or PassphraseContext()
    if len(passphrase) < PASSPHRASE_MIN_LENGTH:
        return gettext("Choose a passphrase of at least %(min)d characters.") % {
            "min": PASSPHRASE_MIN_LENGTH
        }
    if any(
        unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") or ch in INVISIBLE_CHARACTERS
        for ch in passphrase
    ):
        return gettext("Remove the control or invisible characters from the passphrase.")
    plain = _letters_and_digits(passphrase)
    if len(plain) >= 4 and any(plain in _letters_and_digits(word) for word in context.words):
        return gettext(
            "The passphrase is a name anyone with the file can read (the file's, the "
            "device's or yours): choose another."
        )
    # hashers.check_password without a setter: a hash that would be upgraded is not saved.
    login_password = getattr(context.user, "password", None)
    if login_password and password_hashers.check_password(passphrase, login_password):
        return gettext(
            "Do not use your login password as the passphrase: the file travels to other "
            "people and places. Choose another."
        )
    # zxcvbn prices spaces as random characters; a guesser tries word lists with and without
    # them, so the passphrase is judged without its spaces too, by the weaker estimate.
    spaceless = "".join(passphrase.split())
    with _zxcvbn_lock:
        estimate = min(
            (
                zxcvbn(text[:PASSPHRASE_ESTIMATE_LENGTH], user_inputs=list(context.words))
                for text in dict.fromkeys((passphrase, spaceless))
                if text
            ),
            key=lambda result: result["guesses"],
        )
    if estimate["score"] >= PASSPHRASE_MIN_SCORE:
        return ""
    advice = [estimate["feedback"]["warning"], *estimate["feedback"]["suggestions"]]
    return " ".join(
        [
            gettext(
                "This passphrase would be guessed too easily: choose a longer one, for "
                "example four or five words that do not belong together."
            ),
            *(gettext(text) for text in advice if text),
        ]
    )


def _passphrase_help_text() -> str:
    # Formatted when shown, in the language of the request (a class attribute is made once).
    return gettext(
        "At least %(min)d characters and hard to guess: several unrelated words work well. "
        "Not your password, nor the device's or the file's name. It is never stored: keep it "
        "safe."
    ) % {"min": PASSPHRASE_MIN_LENGTH}


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
        max_length=PASSPHRASE_MAX_LENGTH,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_passphrase_help(),
    )
    passphrase_confirm = forms.CharField(
        label=_("Passphrase again"),
        required=False,
        max_length=PASSPHRASE_MAX_LENGTH,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, passphrase_context: PassphraseContext | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # What the passphrase must not be made of (the person, the device, the files' names).
        self.passphrase_context = passphrase_context

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") not in self.PASSPHRASE_ACTIONS:
            return cleaned
        passphrase = cleaned.get("passphrase", "")
        if problem := passphrase_problem(passphrase, context=self.passphrase_context):
            self.add_error("passphrase", problem)
        elif passphrase != cleaned.get("passphrase_confirm", ""):
            self.add_error("passphrase_confirm", gettext("The two passphrases differ."))
        return cleaned

    def chosen_action(self) -> str:
        """The action asked for, valid or not (to keep it chosen when the form comes back)."""
        return str(self.data.get("action", "")) if self.is_bound else self["action"].initial


# The device-status filter's values in a URL, each the platform's word for that status.
DEVICE_STATUS_FILTERS = {
    "online": "ONLINE",
    "offline": "OFFLINE",
    "never_activated": "UNACTIVE",
    "disabled": "DISABLE",
}
# The node-type filter's values in a URL.
NODE_TYPE_FILTERS = {"gateway": NodeType.GATEWAY, "device": NodeType.DEVICE}
_translated = lazy(gettext, str)


class ProductPickForm(PlainLabelForm):
    """The expiry overview's product picker: one of ``products`` (the inventory's products the
    person may see, ``selectors.inventory_products_visible``) or every product. The overview's
    other filters ride along unseen, so picking a product keeps them. A choice's value is
    ``account/ProductKey/IotInstanceId`` (none of the three can hold a ``/``)."""

    product = forms.ChoiceField(label=_("Product"), required=False)
    q = forms.CharField(required=False, max_length=128, widget=forms.HiddenInput())
    state = forms.CharField(required=False, max_length=32, widget=forms.HiddenInput())
    device = forms.MultipleChoiceField(
        required=False,
        choices=[(value, value) for value in DEVICE_STATUS_FILTERS],
        widget=forms.MultipleHiddenInput(),
    )
    node = forms.CharField(required=False, max_length=32, widget=forms.HiddenInput())
    sort = forms.CharField(required=False, max_length=32, widget=forms.HiddenInput())

    def __init__(self, *args, products: Sequence, current: str = "", **kwargs):
        # Its own ids: the overview's table form has fields of the same names.
        kwargs.setdefault("auto_id", "id_picker_%s")
        super().__init__(*args, **kwargs)
        several_accounts = len({product.account for product in products}) > 1
        choices = [("", _("All products"))]
        for product in products:
            label = product.product_key
            if product.iot_instance_id:
                label += f" ({product.iot_instance_id})"
            if several_accounts:
                label += f" · {product.account_label}"
            value = self.value_of(
                account=product.account,
                product_key=product.product_key,
                iot_instance_id=product.iot_instance_id,
            )
            choices.append((value, label))
        # The product on the page stays shown even when the list does not hold it (no record
        # yet, or past the list's length).
        if current and all(value != current for value, _label in choices):
            choices.append((current, current.split("/")[1]))
        self.fields["product"].choices = choices
        self.fields["product"].initial = current
        self.fields["product"].error_messages["invalid_choice"] = _(
            "Choose one of the products in the list."
        )

    @staticmethod
    def value_of(*, account: str, product_key: str, iot_instance_id: str) -> str:
        """The choice value naming one product."""
        return f"{account}/{product_key}/{iot_instance_id}"

    def picked_query(self) -> dict[str, str | list[str]]:
        """The overview's query for the valid form's choice: the product's ``product_key``,
        ``instance`` and ``account`` (left out when default or empty), and the carried
        filters that are set (``device`` a list: it may be given several times)."""
        data = self.cleaned_data
        query: dict[str, str | list[str]] = {}
        if data["product"]:
            account, product_key, instance = data["product"].split("/")
            query = {"product_key": product_key, "instance": instance}
            if account != settings.IOT_DEFAULT_ACCOUNT:
                query["account"] = account
        query.update({name: data[name] for name in ("q", "state", "device", "node", "sort")})
        return {name: value for name, value in query.items() if value}


class InventoryFilterForm(ScopeForm):
    """What a device table of the inventory shows: one product (or every product), a search,
    an expiry state, the devices' status and node type, an order and a page. The product
    device list and the expiry overview both read it, so one URL says "expired certificate,
    device online" (``?state=expired&device=online``) on either."""

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
        label=_("Expiry"),
        required=False,
        choices=(
            ("", _("Any")),
            *((group, label) for group, (label, _s) in STATE_GROUPS.items()),
            *EXPIRY_STATES,
            (REMOVED_STATE, _("Removed from the platform")),
        ),
    )
    device = forms.MultipleChoiceField(
        label=_("Device status"),
        required=False,
        choices=[
            (value, _translated(DEVICE_STATUSES[word][0]))
            for value, word in DEVICE_STATUS_FILTERS.items()
        ],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("From the last sync. None ticked: any status."),
    )
    node = forms.ChoiceField(
        label=_("Node type"),
        required=False,
        choices=(
            ("", _("Any")),
            ("gateway", _("Gateways")),
            ("device", _("Devices, not gateways")),
        ),
    )
    sort = forms.ChoiceField(label=_("Order"), required=False, choices=SORTS)
    page = forms.IntegerField(min_value=1, max_value=100_000, required=False)

    def __init__(self, *args, default_sort: str = "name", **kwargs):
        super().__init__(*args, **kwargs)
        # The table's own form carries its product along, unseen; no product: every product.
        self.fields["product_key"].required = False
        for name in ("product_key", "instance", "account"):
            self.fields[name].widget = forms.HiddenInput()
        self.default_sort = default_sort
        self.fields["sort"].initial = default_sort
        # A bound form shows its data, not ``initial``: without a sort in the query, the Order
        # box would show its first option while the rows are in the default order, and Show
        # would then re-sort them. The box shows the order the rows are in.
        if self.is_bound and not self.data.get("sort"):
            self.data = self.data.copy()
            self.data["sort"] = default_sort

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
        context = {
            "device_statuses": tuple(sorted(DEVICE_STATUS_FILTERS[v] for v in data["device"])),
            "node_type": NODE_TYPE_FILTERS.get(data["node"]),
        }
        if product_key is None:
            return {"product_key": None, "accounts": self.account_names, **context}
        return {
            "product_key": product_key,
            "iot_instance_id": data["instance"],
            "account": data["account"],
            **context,
        }
