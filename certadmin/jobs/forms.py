"""Input for starting jobs. Refused input starts nothing and never reaches the IoT API."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from certadmin.devices.forms import InstanceField, clean_instance_id, clean_product_key


class ProductSyncForm(forms.Form):
    """Which product to sync: ProductKey (+ IotInstanceId for enterprise instances)."""

    product_key = forms.CharField(label=_("ProductKey"), max_length=32, strip=True)
    instance = InstanceField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instance"].initial = settings.IOT_INSTANCE_ID

    def clean_product_key(self) -> str:
        return clean_product_key(self.cleaned_data["product_key"])

    def clean_instance(self) -> str:
        return clean_instance_id(self.cleaned_data["instance"])
