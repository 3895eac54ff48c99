import zoneinfo
from datetime import datetime, time

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import proof_of_work, services


class AddressField(forms.CharField):
    """An email address as email-validator normalises it, with its own error message."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 254)
        kwargs.setdefault(
            "widget", forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"})
        )
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        try:
            return services.normalize_email(value)
        except ValidationError:
            raise ValidationError(
                _("Enter a valid email address, like name@example.org."), code="invalid"
            ) from None


class SubscribeForm(forms.Form):
    email = AddressField(label=_("Email address"))
    name = forms.CharField(label=_("Name (optional)"), max_length=200, required=False)
    lists = forms.MultipleChoiceField(
        label=_("Lists"), widget=forms.CheckboxSelectMultiple, required=True
    )
    consent = forms.BooleanField(required=True)
    # A honeypot: hidden from people, filled in by naive bots.
    website = forms.CharField(required=False, label=_("Leave this field empty"))
    altcha = forms.CharField(required=False)

    def __init__(self, *args, newsletter, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.newsletter = newsletter
        self.public_lists = {lst.slug: lst for lst in newsletter.lists.filter(public=True)}
        self.fields["lists"].choices = [(slug, lst.name) for slug, lst in self.public_lists.items()]
        self.fields["lists"].error_messages["required"] = _("Choose at least one list.")
        self.fields["consent"].label = newsletter.consent_text
        self.fields["consent"].error_messages["required"] = _(
            "Please tick the box to agree before subscribing."
        )
        if len(self.public_lists) == 1:
            self.fields["lists"].initial = list(self.public_lists)

    def clean_altcha(self) -> str:
        payload = self.cleaned_data["altcha"]
        if self.newsletter.require_proof_of_work and not proof_of_work.is_solved(payload):
            raise ValidationError(
                _("The anti-spam check did not finish. Wait a moment, then subscribe again."),
                code="proof_of_work",
            )
        return payload

    @property
    def is_bot(self) -> bool:
        return bool(self.data.get("website"))

    def chosen_lists(self):
        return [self.public_lists[slug] for slug in self.cleaned_data["lists"]]


class PreferencesForm(forms.Form):
    lists = forms.MultipleChoiceField(
        label=_("Lists you receive"), widget=forms.CheckboxSelectMultiple, required=False
    )
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    tracking_opt_out = forms.BooleanField(
        label=_("Do not track my opens and clicks individually"), required=False
    )
    paused_until = forms.DateField(
        label=_("Pause all mail until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Leave empty to receive mail as usual."),
    )

    def __init__(self, *args, offered_lists, timezone: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.timezone = zoneinfo.ZoneInfo(timezone)
        self.fields["lists"].choices = [(str(lst.pk), lst.name) for lst in offered_lists]

    def clean_paused_until(self) -> datetime | None:
        """A date means "from midnight that day", in the newsletter's time zone."""
        day = self.cleaned_data["paused_until"]
        if day is None:
            return None
        if day <= datetime.now(self.timezone).date():
            raise ValidationError(_("Choose a date in the future."), code="past")
        return datetime.combine(day, time.min, tzinfo=self.timezone)
