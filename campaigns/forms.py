from django import forms
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from newsletter.headers import has_line_break
from newsletter.models import Newsletter

from .models import Campaign, Edition, Layout
from .services import EDITABLE_FIELDS, EDITION_FIELDS

MAX_TEST_RECIPIENTS = 5

# The models' fields carry no verbose names (a rename there is a migration); the labels
# are given here so that the editor reads them in their language.
CONTENT_LABELS = {"subject": _("Subject"), "preheader": _("Preheader"), "body": _("Body")}


class CampaignForm(forms.ModelForm):
    """Field-level input only; the service validates the content and its render."""

    class Meta:
        model = Campaign
        fields = [*EDITABLE_FIELDS, "lists", "segment"]
        widgets = {
            "body": forms.Textarea(attrs={"rows": 22, "spellcheck": "true", "class": "code"}),
            "lists": forms.CheckboxSelectMultiple,
            # frontend/forms.js fills it from the name as it is typed.
            "slug": forms.TextInput(attrs={"data-slug-from": "name"}),
        }
        labels = {
            "name": _("Name"),
            "slug": _("Slug"),
            "layout": _("Layout"),
            "body_format": _("Body format"),
            "public": _("Public"),
            "lists": _("Send to"),
            "segment": _("Only the people of a segment"),
            **CONTENT_LABELS,
        }

    def __init__(self, *args, newsletter: Newsletter, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["layout"].queryset = Layout.objects.filter(newsletter=newsletter)
        self.fields["layout"].empty_label = None
        # Archived lists get no new campaigns.
        self.fields["lists"].queryset = newsletter.lists.active()
        self.fields["lists"].label_from_instance = lambda mailing_list: mailing_list.name
        # The newsletter's own saved segments only: another's id is "not a valid choice".
        self.fields["segment"].queryset = newsletter.segments.all()
        self.fields["segment"].empty_label = _("None: everyone on the lists chosen")
        self.fields["segment"].help_text = _(
            "Narrows the lists (or, with no list ticked, every list) to the people its "
            "rules pick. Consent rules always apply on top."
        )

    def _post_clean(self) -> None:
        """Skip ModelForm's model validation: the service runs it, with the render."""


class EditionForm(forms.ModelForm):
    """An edition's own fields; the campaign's layout and body format ride along, hidden,
    so the live preview renders it as it will be sent."""

    layout = forms.IntegerField(widget=forms.HiddenInput, required=False)
    body_format = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Edition
        fields = list(EDITION_FIELDS)
        widgets = {
            "body": forms.Textarea(attrs={"rows": 22, "spellcheck": "true", "class": "code"}),
            "language": forms.TextInput(attrs={"autocomplete": "off", "size": 10}),
        }
        labels = {"status": _("Translation"), **CONTENT_LABELS}

    def __init__(self, *args, campaign: Campaign, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["layout"].initial = campaign.layout_id
        self.fields["body_format"].initial = campaign.body_format
        if self.instance.pk:
            # The language names the edition (its address, the delivery ledger): fixed.
            self.fields["language"].disabled = True

    def edition_values(self) -> dict:
        """What the service takes: every edition field, but the language only when new."""
        return {
            name: self.cleaned_data[name]
            for name in EDITION_FIELDS
            if name != "language" or not self.instance.pk
        }

    def _post_clean(self) -> None:
        """Skip ModelForm's model validation: the service runs it, with the render."""


class LayoutForm(forms.ModelForm):
    class Meta:
        model = Layout
        fields = ["name", "description", "mjml"]
        widgets = {
            "mjml": forms.Textarea(attrs={"rows": 30, "spellcheck": "false", "class": "code"}),
            "description": forms.Textarea(attrs={"rows": 2}),
        }

    def _post_clean(self) -> None:
        """Skip ModelForm's model validation: the service runs it, with the render."""


class MultipleEmailField(forms.CharField):
    def to_python(self, value) -> list[str]:
        text = super().to_python(value)
        return [item.strip() for item in text.replace(",", " ").split() if item.strip()]

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        if len(value) > MAX_TEST_RECIPIENTS:
            raise forms.ValidationError(
                _("At most %(count)d addresses per test send."),
                params={"count": MAX_TEST_RECIPIENTS},
            )
        for address in value:
            try:
                if has_line_break(address):  # Django's validator lets some through quoted
                    raise forms.ValidationError("line break", code="line_break")
                validate_email(address)
            except forms.ValidationError as error:
                raise forms.ValidationError(
                    _("%(address)s is not a valid email address."), params={"address": address}
                ) from error


class TestSendForm(forms.Form):
    to = MultipleEmailField(
        label=_("Send a test to"),
        help_text=_('Up to 5 addresses, separated by commas. The subject starts with "[TEST]".'),
    )


class SampleRecipientForm(forms.Form):
    name = forms.CharField(label=_("Name"), required=False, max_length=200)
    email = forms.EmailField(label=_("Email"), required=False)


class ImageForm(forms.Form):
    file = forms.FileField(label=_("Image"))
    alt = forms.CharField(
        label=_("Description"),
        max_length=300,
        help_text=_("What the picture shows, for people who cannot see it."),
    )
