"""Dashboard forms for segments and custom fields: field-level input only; the services
check the rules (by compiling them) and the definitions."""

import json

from django import forms
from django.utils.translation import gettext_lazy as _

from subscribers.models import FieldDefinition


class SegmentForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    match = forms.ChoiceField(
        label=_("Who matches"),
        choices=[("all", _("People who match every condition")),
                 ("any", _("People who match any condition"))],
        initial="all",
        required=False,
    )  # fmt: skip
    rules_json = forms.CharField(
        label=_("Rules as JSON"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 10, "class": "code", "spellcheck": "false"}),
        help_text=_("Groups (all, any, not) and conditions, as in the API: see the documentation."),
    )

    def rules_from_json(self) -> object:
        """The JSON rules, or a ValidationError on ``rules_json`` saying where it broke."""
        text = self.cleaned_data.get("rules_json") or ""
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                {
                    "rules_json": _("Not valid JSON (line %(line)d: %(msg)s).")
                    % {"line": error.lineno, "msg": error.msg}
                }
            ) from None


class FieldForm(forms.ModelForm):
    choices_text = forms.CharField(
        label=_("Choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("For “One of a few choices”: one per line."),
    )

    class Meta:
        model = FieldDefinition
        fields = [
            "label",
            "key",
            "type",
            "description",
            "shown_to_reader",
            "editable_by_reader",
            "on_public_form",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "key": forms.TextInput(attrs={"data-slug-from": "label", "spellcheck": "false"}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # Key and type never change (docs/audiences.md).
            for name in ("key", "type"):
                self.fields[name].disabled = True
            self.initial["choices_text"] = "\n".join(self.instance.choices)

    def choices(self) -> list[str]:
        text = self.cleaned_data.get("choices_text") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]

    def _post_clean(self) -> None:
        """Skip ModelForm's model validation: the service checks the definition."""
