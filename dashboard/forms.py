from django import forms
from django.utils.translation import gettext_lazy as _


class TestMessageForm(forms.Form):
    to = forms.EmailField(
        label=_("Send a test message to"),
        help_text=_("A worker sends it through the configured backend."),
    )
