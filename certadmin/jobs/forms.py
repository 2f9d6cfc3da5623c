"""Input for starting jobs. Refused input starts nothing and never reaches the IoT API."""

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from certadmin.devices.batch_csv import (
    BATCH_MAX_BYTES,
    BATCH_MAX_ROWS,
    BatchCsvError,
    BatchDevices,
    batch_csv_decode,
    batch_csv_parse,
)
from certadmin.devices.forms import ScopeForm
from certadmin.jobs.models import SyncMode


class JobListPagesForm(forms.Form):
    """Which page of each section of the jobs list: the jobs started before the one named
    (the newest when left out)."""

    before = forms.IntegerField(required=False, min_value=1)
    others_before = forms.IntegerField(required=False, min_value=1)


class ProductSyncForm(ScopeForm):
    """Which product to sync: ProductKey (+ IotInstanceId for enterprise instances), and how
    much of it (``SyncMode``)."""

    mode = forms.ChoiceField(
        label=_("Sync mode"),
        choices=SyncMode.choices,
        initial=SyncMode.FULL,
        required=False,
        help_text=_(
            "Full: every device. Incremental: new and changed devices, certificates being "
            "generated or failed, and a share of the rest, so that every device is looked up "
            "again within the product's bound."
        ),
    )

    def clean_mode(self) -> str:
        # Left out (a form of an older page, the device list's button): a full sync.
        return self.cleaned_data["mode"] or SyncMode.FULL


class BatchLookupForm(ScopeForm):
    """A list of devices to look up, pasted or uploaded as CSV. ``batch`` holds what was read
    (every row naming a device, the rows that cannot be, the repeats) once the form has been
    cleaned; bad rows do not make the form invalid: ``jobs.services.batch_lookup_start``
    refuses them together with the rows naming an unknown product, in one pass.

    A browser cannot put a file back into a file input, so a refused upload is kept in the
    text box (``upload_keep``): the person fixes the listed rows there and sends again, or
    chooses a corrected file, which then replaces the box (``kept``)."""

    text = forms.CharField(
        label=_("Paste the list"),
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off", "class": "mono"}
        ),
        help_text=_(
            "One device a line: ProductKey,DeviceName[,IotInstanceId]. A header is optional."
        ),
    )
    file = forms.FileField(
        label=_("or upload a CSV file"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv,text/plain"}),
    )
    # Set when the box holds a refused upload's rows: a new file replaces them.
    kept = forms.BooleanField(required=False, widget=forms.HiddenInput)
    # Each row names its product and instance; the form names only the API account.
    product_key = None
    instance = None
    field_order = ("text", "file", "account", "kept")

    batch: BatchDevices | None = None
    # The uploaded file's name and text, once it has been read as UTF-8.
    upload_name: str = ""
    upload_text: str | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Formatted per request, in its language (a class attribute is made once).
        self.fields["file"].help_text = gettext(
            "UTF-8, with or without BOM; up to %(rows)s rows and %(size)s MB."
        ) % {"rows": f"{BATCH_MAX_ROWS:,}", "size": BATCH_MAX_BYTES // 1024 // 1024}

    def clean(self):
        cleaned = super().clean()
        text, upload = cleaned.get("text") or "", cleaned.get("file")
        if self.errors:
            return cleaned
        if upload and text.strip() and not cleaned.get("kept"):
            raise forms.ValidationError(_("Paste a list or upload a file, not both."))
        if not upload and not text.strip():
            raise forms.ValidationError(_("Paste a list of devices or upload a CSV file."))
        try:
            if upload:
                # The size first: a file over the limit is not read at all.
                if upload.size > BATCH_MAX_BYTES:
                    raise BatchCsvError(
                        gettext("The file is %(size)s MB; at most %(limit)s MB can be sent.")
                        % {
                            "size": f"{upload.size / 1024 / 1024:.1f}",
                            "limit": f"{BATCH_MAX_BYTES // 1024 // 1024}",
                        }
                    )
                text = batch_csv_decode(upload.read())
                self.upload_name, self.upload_text = upload.name, text
            self.batch = batch_csv_parse(text)
        except BatchCsvError as refused:
            raise forms.ValidationError(refused.message) from None
        return cleaned

    def upload_keep(self) -> None:
        """After a refusal, show the uploaded file's rows in the text box (marked ``kept``),
        with their line numbers unchanged, for the person to fix in place."""
        if self.upload_text is None:
            return
        data = self.data.copy()
        data["text"], data["kept"] = self.upload_text, "on"
        self.data = data
