import zoneinfo
from datetime import datetime

from django import forms
from django.utils.translation import gettext_lazy as _


class SendForm(forms.Form):
    """Who receives the campaign, and when: now, or at a time in the newsletter's zone."""

    lists = forms.MultipleChoiceField(
        label=_("Send to"), widget=forms.CheckboxSelectMultiple, required=True
    )
    send_at = forms.DateTimeField(
        label=_("Send at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M"],
    )

    def __init__(self, *args, newsletter, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.timezone = zoneinfo.ZoneInfo(newsletter.timezone)
        self.lists_by_pk = {str(lst.pk): lst for lst in newsletter.lists.all()}
        self.fields["lists"].choices = [(pk, lst.name) for pk, lst in self.lists_by_pk.items()]
        self.fields["lists"].error_messages["required"] = _("Choose at least one list.")
        self.fields["send_at"].help_text = _("In the newsletter's time zone, %(zone)s.") % {
            "zone": newsletter.timezone
        }

    def clean_send_at(self) -> datetime | None:
        value = self.cleaned_data["send_at"]
        if value is None:
            return None
        return value.replace(tzinfo=self.timezone)

    def chosen_lists(self):
        return [self.lists_by_pk[pk] for pk in self.cleaned_data["lists"]]
