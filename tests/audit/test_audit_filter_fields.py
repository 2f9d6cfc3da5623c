"""The audit filter form written in Python (``web.forms``, the project's form renderer) is
Django's own field rendering, byte for byte: labels, help, errors, ids, values, ``checked``
and ``selected`` (the audit list under load)."""

import pytest
from django import forms
from django.forms.boundfield import BoundField
from django.utils import translation

from certadmin.audit.forms import EventFilterForm
from certadmin.web.forms import field_group_html

CASES = [
    None,
    {},
    {
        "user": "a<b\"&'",
        "action": ["key_access", "not-an-action"],
        "date_from": "2026-01-05",
        "date_to": "2026-01-01",
    },
    {
        "action": ["key_reveal", "cert_export"],
        "outcome": "denied",
        "account": "staging",
        "product_key": "a1B<x>",
        "device_name": '"thermo-001"',
    },
    {"date_from": "garbage", "outcome": "nope", "account": "nope", "user": "x" * 200},
]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("data", CASES)
def test_filter_field_is_djangos_field_group(data, language, settings):
    with translation.override(language):
        form = EventFilterForm(data) if data is not None else EventFilterForm()
        if data is not None:
            form.is_valid()
        fields = form.visible_fields()
        assert {field.name for field in fields} >= {"user", "action", "outcome", "date_to"}
        for field in fields:
            assert field_group_html(field) is not None, field.name
            assert field.as_field_group() == BoundField.as_field_group(field), field.name


def test_unknown_widget_falls_back_to_django():
    form = EventFilterForm({"user": "x"})
    form.fields["user"].widget = forms.URLInput()
    field = form["user"]
    assert field_group_html(field) is None
    assert field.as_field_group() == BoundField.as_field_group(field)


@pytest.mark.parametrize("data", CASES)
def test_the_written_fields_are_the_field_groups_in_their_boxes(data):
    # Twice: written, then reused from the cache, the same.
    for _ in range(2):
        form = EventFilterForm(data) if data is not None else EventFilterForm()
        expected = "\n".join(
            f'<div class="field audit-field audit-field-{field.name}">'
            f"{BoundField.as_field_group(field)}</div>"
            for field in form.visible_fields()
        )
        assert form.fields_html() == expected
