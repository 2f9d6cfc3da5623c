"""The project's form renderer (``FORM_RENDERER``): Django's own templates, with each field's
``as_field_group`` (what ``{{ form }}`` and ``{{ field.as_field_group }}`` show) written in
Python.

Its label, help text, errors and widget (radio and checkbox groups in a fieldset) are the same
HTML as Django's own field and widget templates, byte for byte for the widgets listed in
``WRITERS``, without their template renders (an ``include`` per option and per attribute list):
the audit list and the certificate page are served under load, and those renders were a third
of the one and of the other's view. Templates write only Django's spellings.

Attributes, values, ids, ``checked``/``selected`` and ``aria-*`` come from Django's own
``BoundField.build_widget_attrs`` and ``Widget.get_context``; only the markup is written here.
A widget this module does not know falls back to Django's rendering.
"""

from django import forms
from django.forms.boundfield import BoundField
from django.forms.renderers import DjangoTemplates
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe


def _attrs(attrs: dict) -> str:
    # django/forms/widgets/attrs.html: False left out, True as a bare name.
    out = []
    for name, value in attrs.items():
        if value is False:
            continue
        if value is True:
            out.append(f" {name}")
        else:
            out.append(f' {name}="{conditional_escape(str(value))}"')
    return "".join(out)


def _input(widget: dict) -> str:
    # django/forms/widgets/input.html
    value = widget["value"]
    value_attr = f' value="{conditional_escape(str(value))}"' if value is not None else ""
    return (
        f'<input type="{widget["type"]}" name="{conditional_escape(widget["name"])}"'
        f"{value_attr}{_attrs(widget['attrs'])}>"
    )


def _select(widget: dict) -> str:
    # django/forms/widgets/select.html and select_option.html (no optgroups in these forms)
    parts = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
    for _group, options, _index in widget["optgroups"]:
        for option in options:
            parts.append(
                f'\n  <option value="{conditional_escape(str(option["value"]))}"'
                f"{_attrs(option['attrs'])}>{conditional_escape(option['label'])}</option>\n"
            )
    parts.append("\n</select>")
    return "".join(parts)


def _textarea(widget: dict) -> str:
    # django/forms/widgets/textarea.html
    value = widget["value"]
    return (
        f'<textarea name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>\n'
        f"{conditional_escape(value) if value else ''}</textarea>"
    )


def _options(widget: dict) -> str:
    # django/forms/widgets/multiple_input.html with input_option.html per option (checkboxes
    # and radio buttons alike)
    id_ = widget["attrs"].get("id")
    parts = ["<div", f' id="{conditional_escape(id_)}"' if id_ else ""]
    if widget["attrs"].get("class"):
        parts.append(f' class="{conditional_escape(widget["attrs"]["class"])}"')
    parts.append(">")
    for _group, options, _index in widget["optgroups"]:
        for option in options:
            option_id = option["attrs"].get("id")
            label_for = f' for="{conditional_escape(option_id)}"' if option_id else ""
            parts.append(
                f"<div>\n    <label{label_for}>{_input(option)}\n"
                f" {conditional_escape(option['label'])}</label>\n\n</div>"
            )
    parts.append("\n</div>")
    return "".join(parts)


WRITERS = {
    forms.TextInput: _input,
    forms.DateInput: _input,
    forms.PasswordInput: _input,
    forms.Textarea: _textarea,
    forms.Select: _select,
    forms.CheckboxSelectMultiple: _options,
    forms.RadioSelect: _options,
}


def field_group_html(field: BoundField) -> SafeString | None:
    """``field``'s field group as Django's templates write it, or None where this module does
    not know how (an unknown widget, another field template, a localized field, a label suffix,
    a required CSS class)."""
    widget = field.field.widget
    writer = WRITERS.get(type(widget))
    form = field.form
    if (
        writer is None
        or field.template_name != DjangoTemplates.field_template_name
        or field.field.localize
        or form.label_suffix
        or getattr(form, "required_css_class", None)
    ):
        return None
    attrs = field.build_widget_attrs({}, widget)
    if field.auto_id and "id" not in widget.attrs:
        attrs.setdefault("id", field.auto_id)
    context = widget.get_context(field.html_name, field.value(), attrs)["widget"]
    # django/forms/field.html
    label = conditional_escape(field.label) if field.label else ""
    if field.use_fieldset:
        described = field.aria_describedby
        parts = [
            "<fieldset",
            f' aria-describedby="{conditional_escape(described)}"' if described else "",
            ">\n  ",
            f"<legend>{label}</legend>" if label else "",
            "\n\n",
        ]
    else:
        label_for = widget.id_for_label(attrs.get("id"))
        parts = [
            "",
            (f'<label for="{conditional_escape(label_for)}">' if label_for else "<label>")
            + f"{label}</label>"
            if label
            else "",
            "\n\n",
        ]
    if field.help_text:
        help_id = f' id="{field.auto_id}_helptext"' if field.auto_id else ""
        parts.append(f'<div class="helptext"{help_id}>{field.help_text}</div>')
    parts.append("\n")
    parts.append(str(field.errors) if field.errors else "")
    parts.append("\n")
    parts.append(writer(context))
    if field.use_fieldset:
        parts.append("</fieldset>")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped


class FieldGroupBoundField(BoundField):
    """A bound field whose field group is written by ``field_group_html`` (Django's templates
    for what it does not know)."""

    def as_field_group(self) -> SafeString:
        written = field_group_html(self)
        return super().as_field_group() if written is None else written


class FormRenderer(DjangoTemplates):
    """Django's template renderer with ``FieldGroupBoundField`` for every form's fields."""

    bound_field_class = FieldGroupBoundField
