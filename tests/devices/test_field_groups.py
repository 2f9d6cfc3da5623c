"""The device pages' forms written by the project's form renderer (``web.forms``) are Django's
own field groups, byte for byte: the key form (radio buttons, passwords, the reason's text
area) unbound, bound, with errors, in both languages, and the instance retry field; and every
form of the project is rendered by it."""

import pytest
from django.forms.boundfield import BoundField
from django.utils import translation

from certadmin.devices.forms import (
    DeviceLookupForm,
    DeviceSearchForm,
    InstanceRetryForm,
    InventoryFilterForm,
    KeyActionForm,
)
from certadmin.jobs.forms import ProductSyncForm
from certadmin.web.forms import FieldGroupBoundField, field_group_html

KEY_CASES = [
    None,
    {"action": "p12", "reason": "short", "passphrase": "a", "passphrase_confirm": "b"},
    {"action": "pem", "reason": 'ticket OPS-1 <b>&</b> "quoted"\nsecond line', "password": "x"},
    {"action": "nope", "reason": ""},
]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("data", KEY_CASES)
def test_key_form_fields_are_djangos_field_groups(data, language):
    with translation.override(language):
        form = KeyActionForm(data) if data is not None else KeyActionForm()
        if data is not None:
            assert not form.is_valid() or data["action"] == "pem"
        for field in form.visible_fields():
            assert field_group_html(field) is not None, field.name
            assert field.as_field_group() == BoundField.as_field_group(field), field.name


@pytest.mark.parametrize("data", [None, {"instance": "bad id!"}, {"instance": "iot-06z00abc"}])
def test_the_instance_retry_field_is_djangos_field_group(data):
    form = InstanceRetryForm(data, instances=["iot-1"]) if data else InstanceRetryForm()
    if data:
        form.is_valid()
    field = form["instance"]
    assert field_group_html(field) is not None
    assert field.as_field_group() == BoundField.as_field_group(field)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize(
    ("form_class", "data"),
    [
        (InventoryFilterForm, None),
        (InventoryFilterForm, {"q": "unit-<1>", "state": "days_8_30", "sort": "-days_left"}),
        (InventoryFilterForm, {"q": "x" * 300, "state": "nope", "sort": "nope"}),
        (DeviceLookupForm, None),
        (DeviceLookupForm, {"product_key": "a1<b>", "device_name": ""}),
        (DeviceSearchForm, None),
        (DeviceSearchForm, {"product_key": "", "q": "thermo"}),
    ],
)
def test_the_search_and_list_forms_are_djangos_field_groups(form_class, data, language):
    with translation.override(language):
        form = form_class(data) if data is not None else form_class()
        if data is not None:
            form.is_valid()
        for field in form.visible_fields():
            # The page number is never shown as a field (a NumberInput, left to Django).
            assert field_group_html(field) is not None or field.name == "page", field.name
            assert field.as_field_group() == BoundField.as_field_group(field), field.name


def test_every_form_renders_its_fields_with_the_project_renderer():
    # FORM_RENDERER's bound field class: templates write only Django's spellings.
    for form in (KeyActionForm(), InventoryFilterForm(), ProductSyncForm()):
        assert all(isinstance(field, FieldGroupBoundField) for field in form)
