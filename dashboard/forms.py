from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from campaigns.forms import CampaignForm
from campaigns.models import Status
from delivery.forms import NewsletterTimeMixin, send_at_field
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
            "require_two_factor",
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

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The model lets a newsletter made by ``create_newsletter`` lack it; a form never.
        self.fields["postal_address"].required = True


class NewsletterCreateForm(forms.ModelForm):
    """What a new newsletter needs before it may lawfully send; the rest is in Settings."""

    class Meta:
        model = Newsletter
        fields = [
            "name",
            "slug",
            "from_name",
            "from_email",
            "postal_address",
            "language",
            "timezone",
        ]
        widgets = {
            "name": forms.TextInput(attrs={"autofocus": True}),
            # frontend/forms.js fills it from the name as it is typed.
            "slug": forms.TextInput(attrs={"data-slug-from": "name"}),
            "postal_address": forms.Textarea(attrs={"rows": 3}),
            "timezone": forms.TextInput(attrs={"list": "timezones", "autocomplete": "off"}),
        }
        help_texts = {
            "slug": _(
                "In the address of the public page, /n/<slug>/; it never changes. "
                "Made from the name if left empty."
            ),
            "from_name": _("Readers see it as the sender, e.g. your project's name."),
            "timezone": _("Dates on the dashboard and the growth chart use it, e.g. Europe/Paris."),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["postal_address"].required = True


class InvitationForm(forms.Form):
    email = forms.EmailField(
        label=_("Email address"),
        help_text=_(
            "They get a link to create their account, or to accept with the one they have."
        ),
    )
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.VIEWER)


class InvitationSignUpForm(UserCreationForm):
    """A username and password for the invited address (Django's checks: a username
    no one has in any letter case, a password the validators accept)."""

    def __init__(self, *args, email: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # So the validators can refuse a password that looks like the address.
        self.instance.email = email
        self.fields["username"].widget.attrs["autocomplete"] = "username"


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )


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


class CampaignEditorForm(NewsletterTimeMixin, CampaignForm):
    """The campaign editor: its content and lists, and when it goes (``send_at``)."""

    send_at = send_at_field()

    def __init__(self, *args, newsletter: Newsletter, **kwargs) -> None:
        instance = kwargs.get("instance")
        if instance is not None and instance.status == Status.SCHEDULED:
            kwargs.setdefault("initial", {})["send_at"] = instance.send_at
        super().__init__(*args, newsletter=newsletter, **kwargs)
        self.use_newsletter_time(newsletter)
        self.fields["send_at"].help_text = _(
            "In the newsletter's time zone, %(zone)s. Saved with a time, it is scheduled; "
            "leave it empty to keep a draft (clearing it unschedules)."
        ) % {"zone": newsletter.timezone}
