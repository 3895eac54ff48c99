from django import forms
from django.utils.translation import gettext_lazy as _

from newsletter.headers import validate_single_line
from newsletter.models import Newsletter, Role


class TestMessageForm(forms.Form):
    to = forms.EmailField(
        label=_("Send a test message to"),
        validators=[validate_single_line],
        help_text=_("A worker sends it through the configured backend."),
    )


class SecondFactorForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=20,
        help_text=_("The six digits your authenticator app shows, or one of your backup codes."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "inputmode": "text"}
        ),
    )


class PasswordConfirmForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("Wrong password."), code="wrong_password")
        return password


class NewsletterSettingsForm(forms.ModelForm):
    """Everything an owner may change about the newsletter itself (not its slug)."""

    class Meta:
        model = Newsletter
        fields = [
            "name",
            "description",
            "language",
            "timezone",
            "from_name",
            "from_email",
            "reply_to",
            "postal_address",
            "consent_text",
            "record_consent_ip",
            "require_proof_of_work",
            "tracking_policy",
            "record_tracking_ip",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "postal_address": forms.Textarea(attrs={"rows": 3}),
            "consent_text": forms.Textarea(attrs={"rows": 3}),
            "tracking_policy": forms.RadioSelect,
            "timezone": forms.TextInput(attrs={"list": "timezones", "autocomplete": "off"}),
        }
        help_texts = {
            "description": _("Shown on the public page above the subscribe form."),
            "timezone": _("Dates on the dashboard and the growth chart use it, e.g. Europe/Paris."),
        }


class MemberAddForm(forms.Form):
    identifier = forms.CharField(
        label=_("Username or email"),
        max_length=254,
        help_text=_("Someone who already has an account on this Crier."),
    )
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.VIEWER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class ApiTokenForm(forms.Form):
    """A token for oneself, with at most one's own role."""

    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What uses it, e.g. “release script”."),
    )
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args, ceiling: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [
            (value, label) for value, label in Role.choices if Role.includes(ceiling, value)
        ]
        self.fields["role"].initial = Role.VIEWER
