from django import forms
from django.utils.translation import gettext_lazy as _

from .events import SUBSCRIBABLE


class EndpointForm(forms.Form):
    """Field-level input only; the service decides whether the URL may be called."""

    url = forms.URLField(
        label=_("Endpoint URL"),
        max_length=2000,
        assume_scheme="https",
        help_text=_("An HTTPS address on the public internet."),
    )
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=[(event.value, event.label) for event in SUBSCRIBABLE],
        widget=forms.CheckboxSelectMultiple,
    )
