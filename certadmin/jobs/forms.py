"""Input for starting jobs. Refused input starts nothing and never reaches the IoT API."""

from django import forms
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from certadmin.devices.batch_csv import (
    BATCH_MAX_BYTES,
    BATCH_MAX_ROWS,
    BatchCsvError,
    BatchDevices,
    batch_csv_parse,
)
from certadmin.devices.forms import ScopeForm
from certadmin.jobs.models import SyncMode


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
    (its row problems and duplicates) once the form has been cleaned."""

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
    # Each row names its product and instance; the form names only the API account.
    product_key = None
    instance = None
    field_order = ("text", "file", "account")

    batch: BatchDevices | None = None

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
        if upload and text.strip():
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
                self.batch = batch_csv_parse(upload.read())
            else:
                self.batch = batch_csv_parse(text)
        except BatchCsvError as refused:
            raise forms.ValidationError(refused.message) from None
        if self.batch.problems:
            raise forms.ValidationError(
                ngettext(
                    "%(count)d row cannot be looked up (below). Fix it and send the list "
                    "again: nothing was started.",
                    "%(count)d rows cannot be looked up (below). Fix them and send the list "
                    "again: nothing was started.",
                    len(self.batch.problems),
                )
                % {"count": len(self.batch.problems)}
            )
        return cleaned
