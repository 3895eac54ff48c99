import zoneinfo
from datetime import datetime

from django import forms
from django.utils.translation import gettext_lazy as _

from newsletter.headers import validate_single_line

from .models import SendingBackend
from .sending_backends import KINDS


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


class SendingBackendForm(forms.ModelForm):
    """The service, its non-secret options, limits, and secrets that are never shown back:
    a blank secret keeps the stored one (``sending_backends.sending_backend_save``)."""

    secret = forms.CharField(
        label=_("Password, API key or server token (Amazon SES: access key ID)"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    secret_key = forms.CharField(
        label=_("Secret key (Mailjet, Amazon SES)"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    api_url = SendingBackend._meta.get_field("api_url").formfield(assume_scheme="https")

    class Meta:
        model = SendingBackend
        fields = [
            "kind",
            "active",
            "host",
            "port",
            "security",
            "username",
            "api_url",
            "region",
            "sender_domain",
            "rate_per_second",
            "rate_per_hour",
            "rate_per_day",
            "domain_rate_per_minute",
            "batch_size",
        ]

    def __init__(self, *args, stored_secrets: set[str] = frozenset(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["port"].widget.attrs["placeholder"] = "587"
        for name in ("secret", "secret_key"):
            if name in stored_secrets:
                self.fields[name].help_text = _("Set. Leave blank to keep it.")
        self.fields["secret"].help_text = self.fields["secret"].help_text or _(
            "SMTP password, or the service's API key (Postmark: server token). "
            "Stored encrypted; never shown again."
        )

    def clean_api_url(self) -> str:
        """HTTPS only: an API key must not travel in clear, and the page shows what the
        URL answers, so plain-HTTP internal addresses (cloud metadata) stay out of reach."""
        url = self.cleaned_data["api_url"]
        if url and not url.startswith("https://"):
            raise forms.ValidationError(_("Use an https:// address."))
        return url

    def values(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}

    def new_secrets(self) -> dict[str, str]:
        """The secrets typed in, under the names the chosen service uses."""
        names = KINDS[self.cleaned_data["kind"]].secrets
        typed = [self.cleaned_data["secret"], self.cleaned_data["secret_key"]]
        return {name: value for name, value in zip(names, typed, strict=False) if value}


class BackendTestForm(forms.Form):
    to = forms.EmailField(label=_("Send a test through it to"), validators=[validate_single_line])


def stored_secret_fields(kind: str, stored: set[str]) -> set[str]:
    """Which of the form's secret fields have a value stored (to say "set")."""
    return {
        field
        for field, name in zip(("secret", "secret_key"), KINDS[kind].secrets, strict=False)
        if name in stored
    }
