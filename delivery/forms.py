import zoneinfo
from datetime import datetime

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from newsletter.headers import validate_single_line

from .models import BackendKind, SendingBackend, SmtpSecurity
from .sending_backends import SECRET_LABELS
from .transports import KINDS


def send_at_field(**kwargs) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=_("Send at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M"],
        **kwargs,
    )


class NewsletterTimeMixin:
    """``send_at`` typed and shown in the newsletter's time zone, not the server's:
    call ``use_newsletter_time`` at the end of ``__init__``."""

    def use_newsletter_time(self, newsletter) -> None:
        self.timezone = zoneinfo.ZoneInfo(newsletter.timezone)
        self.fields["send_at"].help_text = _("In the newsletter's time zone, %(zone)s.") % {
            "zone": newsletter.timezone
        }
        current = self.initial.get("send_at")
        if isinstance(current, datetime) and current.tzinfo is not None:
            # Django would show it in the server's zone; the editor thinks in the newsletter's.
            self.initial["send_at"] = current.astimezone(self.timezone).replace(tzinfo=None)

    def clean_send_at(self) -> datetime | None:
        value = self.cleaned_data["send_at"]
        if value is None:
            return None
        return value.replace(tzinfo=self.timezone)


class ScheduleForm(NewsletterTimeMixin, forms.Form):
    """When a campaign goes: the campaign list's and the campaign page's scheduling."""

    send_at = send_at_field()

    def __init__(self, *args, newsletter, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.use_newsletter_time(newsletter)


class SendForm(NewsletterTimeMixin, forms.Form):
    """Who receives the campaign, and when: now, or at a time in the newsletter's zone."""

    lists = forms.MultipleChoiceField(
        label=_("Send to"), widget=forms.CheckboxSelectMultiple, required=False
    )
    segment = forms.ChoiceField(
        label=_("Only the people of a segment"),
        required=False,
        help_text=_("With no list ticked, the segment picks from every list."),
    )
    send_at = send_at_field()
    local_hour = forms.TypedChoiceField(
        label=_("Deliver"),
        coerce=int,
        empty_value=None,
        required=False,
        help_text=_(
            "With an hour, each reader gets it at that hour of their own day (their time "
            "zone, else the newsletter's), the first such hour after sending starts: some "
            "wait up to a day. Readers on a digest get it in their digest."
        ),
    )

    def __init__(self, *args, newsletter, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lists_by_pk = {str(lst.pk): lst for lst in newsletter.lists.active()}
        self.fields["lists"].choices = [(pk, lst.name) for pk, lst in self.lists_by_pk.items()]
        self.segments_by_pk = {str(segment.pk): segment for segment in newsletter.segments.all()}
        self.fields["segment"].choices = [("", _("Everyone on the lists"))] + [
            (pk, segment.name) for pk, segment in self.segments_by_pk.items()
        ]
        if not self.segments_by_pk:
            self.fields["segment"].widget = forms.HiddenInput()
        # Built per form, so that each hour is said in the viewer's language.
        self.fields["local_hour"].choices = [("", _("As soon as it is sent"))] + [
            (hour, _("At %(hour)02d:00 in each reader's time zone") % {"hour": hour})
            for hour in range(24)
        ]
        self.use_newsletter_time(newsletter)

    def clean(self) -> dict:
        cleaned = super().clean()
        if not cleaned.get("lists") and not cleaned.get("segment") and "lists" not in self.errors:
            self.add_error(
                "lists",
                _("Choose at least one list or a segment.")
                if self.segments_by_pk
                else _("Choose at least one list."),
            )
        return cleaned

    def chosen_lists(self):
        return [self.lists_by_pk[pk] for pk in self.cleaned_data["lists"]]

    def chosen_segment(self):
        return self.segments_by_pk.get(self.cleaned_data.get("segment") or "")


# What each service needs, in the order the page shows it; nothing else is shown
# (no SMTP host beside an SES region). Limits are common to all.
API_FIELDS = ["api_url", "secret"]
PROVIDER_FIELDS: dict[str, list[str]] = {
    BackendKind.OUTBOX: [],
    BackendKind.SMTP: ["host", "port", "security", "username", "secret"],
    BackendKind.AMAZON_SES: ["region", "secret", "secret_key", "api_url"],
    BackendKind.MAILGUN: [*API_FIELDS, "sender_domain", "webhook_signing_key", "batch_size"],
    BackendKind.SENDGRID: [*API_FIELDS, "batch_size"],
    BackendKind.POSTMARK: API_FIELDS,
    BackendKind.BREVO: API_FIELDS,
    BackendKind.RESEND: API_FIELDS,
    BackendKind.SPARKPOST: API_FIELDS,
    BackendKind.MAILJET: [*API_FIELDS, "secret_key"],
}
SECRET_FIELDS = ("secret", "secret_key")
# A provider field not shown is saved blank: a service never keeps another's settings.
BLANK = {"host": "", "port": None, "security": SmtpSecurity.STARTTLS, "username": "",
         "api_url": "", "region": "", "sender_domain": "", "batch_size": 0}  # fmt: skip


class SendingBackendForm(forms.ModelForm):
    """The service, the fields that service needs, limits, and secrets that are never
    shown back: a blank secret keeps the stored one while the destination stays the
    same (``sending_backends.sending_backend_save``)."""

    secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    secret_key = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    webhook_signing_key = forms.CharField(
        label=_("Webhook signing key"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "Mailgun → Sending → Webhooks → HTTP webhook signing key. Mailgun's events "
            "are refused without it."
        ),
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

    def __init__(
        self, *args, stored_secrets: set[str] = frozenset(), kind: str | None = None, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.kind = self._chosen_kind(kind)
        if kind in KINDS:
            self.initial["kind"] = kind
        shown = PROVIDER_FIELDS.get(self.kind, [])
        for name in {field for fields in PROVIDER_FIELDS.values() for field in fields}:
            if name not in shown:
                del self.fields[name]
        if "port" in self.fields:
            self.fields["port"].widget.attrs["placeholder"] = "587"
        names = KINDS[self.kind].secrets if self.kind in KINDS else ()
        for field, name in zip(SECRET_FIELDS, names, strict=False):
            self.fields[field].label = capfirst(SECRET_LABELS[name])
            self.fields[field].help_text = (
                _("Set. Leave blank to keep it.")
                if field in stored_secrets
                else _("Stored encrypted; never shown again.")
            )
        if "webhook_signing_key" in self.fields and "webhook_signing_key" in stored_secrets:
            self.fields["webhook_signing_key"].help_text = _("Set. Leave blank to keep it.")
        self.fields["kind"].widget.attrs["data-provider-select"] = ""

    def _chosen_kind(self, kind: str | None) -> str:
        """The service whose fields to show: the one posted, asked for, or saved."""
        posted = self.data.get("kind") if self.is_bound else None
        for candidate in (posted, kind, self.instance.kind if self.instance.pk else None):
            if candidate in KINDS:
                return candidate
        return ""

    @property
    def kind_label(self) -> str:
        return dict(BackendKind.choices).get(self.kind, "")

    @property
    def provider_fields(self) -> list:
        return [self[name] for name in PROVIDER_FIELDS.get(self.kind, [])]

    def clean_api_url(self) -> str:
        """HTTPS only: an API key must not travel in clear, and the page shows what the
        URL answers, so plain-HTTP internal addresses (cloud metadata) stay out of reach."""
        url = self.cleaned_data["api_url"]
        if url and not url.startswith("https://"):
            raise forms.ValidationError(_("Use an https:// address."))
        return url

    def values(self) -> dict:
        return {
            name: self.cleaned_data[name] if name in self.fields else BLANK[name]
            for name in self.Meta.fields
        }

    def new_secrets(self) -> dict[str, str]:
        """The secrets typed in, under the names the chosen service uses."""
        kind = KINDS[self.cleaned_data["kind"]]
        typed = [self.cleaned_data.get(field, "") for field in SECRET_FIELDS]
        secrets = dict(zip(kind.secrets, typed, strict=False))
        if kind.webhook_key:
            secrets[kind.webhook_key] = self.cleaned_data.get("webhook_signing_key", "")
        return {name: value for name, value in secrets.items() if value}


class BackendTestForm(forms.Form):
    to = forms.EmailField(label=_("Send a test message to"), validators=[validate_single_line])


def stored_secret_fields(kind: str, stored: set[str]) -> set[str]:
    """Which of the form's secret fields have a value stored (to say "set")."""
    fields = {
        field
        for field, name in zip(SECRET_FIELDS, KINDS[kind].secrets, strict=False)
        if name in stored
    }
    if KINDS[kind].webhook_key in stored:
        fields.add("webhook_signing_key")
    return fields
