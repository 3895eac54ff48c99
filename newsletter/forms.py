"""What every dashboard form shares."""

from django import forms
from django.core.exceptions import ValidationError
from django.forms.renderers import TemplatesSetting


class FormRenderer(TemplatesSetting):
    """Every field drawn one way (``templates/forms/field.html``), whatever the page:
    a checkbox inside its own label, a choice list as a fieldset with a legend, the
    error and the help under the control. ``{{ form.field.as_field_group }}`` uses it."""

    field_template_name = "forms/field.html"


def add_service_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """Attach a service's ValidationError to the form, next to the fields it names
    (services validate content the form cannot, such as a render or a slug)."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)
