"""Forms whose labels read as the pages show them."""

from django import forms


class PlainLabelForm(forms.Form):
    """A form whose labels read as the pages show them: without a trailing colon."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
