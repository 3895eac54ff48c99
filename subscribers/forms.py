import zoneinfo
from datetime import datetime, time

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from newsletter.models import known_timezones
from newsletter.uploads import MaxUploadSize

from . import extensions, import_files, proof_of_work, services
from .fields import FieldSchema
from .models import (
    FieldType,
    Frequency,
    MailFormat,
    MailingList,
    SubscriberStatus,
    SubscriptionStatus,
    TrackingChoice,
)

SEARCH_MIN_LENGTH = 3  # shorter than a trigram, a search could not use the index


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
    # The reader's own tracking choice, beside the newsletter's privacy note; left out
    # (the embeddable form of an older version), it is the newsletter's policy.
    tracking = forms.ChoiceField(
        label=_("Opens and clicks"),
        choices=TrackingChoice.choices,
        widget=forms.RadioSelect,
        required=False,
        initial=TrackingChoice.NEWSLETTER,
    )
    # A honeypot: hidden from people, filled in by naive bots.
    website = forms.CharField(required=False, label=_("Leave this field empty"))
    altcha = forms.CharField(required=False)
    # A reader's referral code, from their link (/n/<newsletter>/?ref=CODE).
    ref = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, newsletter, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.newsletter = newsletter
        self.referrer = None
        self.public_lists = {lst.slug: lst for lst in newsletter.lists.active().filter(public=True)}
        self.fields["lists"].choices = [(slug, lst.name) for slug, lst in self.public_lists.items()]
        self.fields["lists"].error_messages["required"] = _("Choose at least one list.")
        self.fields["consent"].label = newsletter.consent_text
        self.fields["consent"].error_messages["required"] = _(
            "Please tick the box to agree before subscribing."
        )
        if len(self.public_lists) == 1:
            self.fields["lists"].initial = list(self.public_lists)
        asked = [field for field in newsletter.field_definitions.all() if field.on_public_form]
        # The custom fields the newsletter asks for, checked by type in clean().
        self.asked = FieldValuesForm(definitions=asked)
        self.fields.update(self.asked.fields)
        self.field_values: dict = {}

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.asked.definitions:
            self.asked.cleaned_data = {
                name: cleaned.get(name) for name in self.asked.fields if name in cleaned
            }
            try:
                self.field_values = FieldSchema(
                    {field.key: field for field in self.asked.definitions}
                ).clean(self.asked.values())
            except ValidationError as error:
                for name, messages in error.message_dict.items():
                    self.add_error(
                        FieldValuesForm.PREFIX + name.removeprefix("attributes."), messages
                    )
        return cleaned

    def clean_altcha(self) -> str:
        payload = self.cleaned_data["altcha"]
        if self.newsletter.require_proof_of_work and not proof_of_work.is_solved(payload):
            raise ValidationError(
                _("The anti-spam check did not finish. Wait a moment, then subscribe again."),
                code="proof_of_work",
            )
        return payload

    def clean_ref(self) -> str:
        code = self.cleaned_data["ref"].strip()
        if code:
            self.referrer = services.referrer_for(newsletter=self.newsletter, code=code)
            if self.referrer is None:
                raise ValidationError(
                    _(
                        "The invitation link you followed is not valid for this newsletter. "
                        "Subscribe from the newsletter's own page instead."
                    ),
                    code="invalid_referral",
                )
        return code

    def asked_fields(self) -> list:
        return [self[name] for name in self.asked.fields]

    @property
    def is_bot(self) -> bool:
        return bool(self.data.get("website"))

    def chosen_lists(self):
        return [self.public_lists[slug] for slug in self.cleaned_data["lists"]]


class ProfileForm(forms.Form):
    """About the person, in the preference center: applies to every newsletter shown."""

    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    language = forms.ChoiceField(
        label=_("Language"),
        choices=settings.LANGUAGES,
        help_text=_("Of this page and of the mail this server sends you."),
    )
    tracking = forms.ChoiceField(
        label=_("Opens and clicks"),
        choices=TrackingChoice.choices,
        widget=forms.RadioSelect,
        help_text=_("Whatever a newsletter's own policy, it follows your choice."),
    )
    mail_format = forms.ChoiceField(
        label=_("Format of your mail"), choices=MailFormat.choices, widget=forms.RadioSelect
    )
    time_zone = forms.ChoiceField(
        label=_("Your time zone"),
        required=False,
        help_text=_(
            "Mail sent at a local hour comes at that hour of your day, and a digest at the "
            "end of your week or month."
        ),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [("", _("The newsletter's"))] + [
            (zone, zone) for zone in known_timezones()
        ]

    @classmethod
    def of(cls, contact, data=None) -> "ProfileForm":
        return cls(
            data,
            initial={
                "name": contact.name,
                "language": contact.language or contact.newsletter.language,
                "tracking": contact.tracking_choice,
                "mail_format": contact.mail_format,
                "time_zone": contact.time_zone,
            },
        )

    def changes(self) -> dict:
        """Only the fields the person changed: contacts whose names differ keep theirs
        unless the name was edited."""
        return {key: self.cleaned_data[key] for key in self.changed_data}


class Pause(models.TextChoices):
    NONE = "none", _("Receive mail as usual")
    UNTIL = "until", _("Pause until a date")
    RETURN = "return", _("Pause until I come back")


class NewsletterChoicesForm(forms.Form):
    """One newsletter's part of the preference center: its lists, how often each, and a
    pause. Prefixed by the newsletter, so that several sit on one page."""

    lists = forms.MultipleChoiceField(
        label=_("Lists you receive"), widget=forms.CheckboxSelectMultiple, required=False
    )
    pause = forms.ChoiceField(
        label=_("Pause"), choices=Pause.choices, widget=forms.RadioSelect, required=False
    )
    paused_until = forms.DateField(
        label=_("Until this date, for a pause until a date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def __init__(self, *args, offered_lists, timezone: str, frequencies=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.timezone = zoneinfo.ZoneInfo(timezone)
        self.offered = list(offered_lists)
        self.fields["lists"].choices = [(str(lst.pk), lst.name) for lst in self.offered]
        for mailing_list in self.offered:
            self.fields[f"frequency_{mailing_list.pk}"] = forms.ChoiceField(
                label=_("How often: %(list)s") % {"list": mailing_list.name},
                choices=Frequency.choices,
                initial=(frequencies or {}).get(mailing_list.pk, Frequency.EVERY_ISSUE),
                required=False,
            )

    @classmethod
    def of(cls, contact, offered_lists, data=None) -> "NewsletterChoicesForm":
        subscriptions = {
            subscription.mailing_list_id: subscription
            for subscription in contact.subscriptions.all()
        }
        live = [pk for pk, each in subscriptions.items() if each.status in services.LIVE]
        if contact.paused_indefinitely:
            pause = Pause.RETURN
        elif contact.paused:
            pause = Pause.UNTIL
        else:
            pause = Pause.NONE
        newsletter = contact.newsletter
        return cls(
            data,
            prefix=f"n{newsletter.pk}",
            offered_lists=offered_lists,
            timezone=newsletter.timezone,
            frequencies={pk: each.frequency for pk, each in subscriptions.items()},
            initial={
                "lists": [str(pk) for pk in live],
                "pause": pause,
                "paused_until": (
                    contact.paused_until.astimezone(zoneinfo.ZoneInfo(newsletter.timezone)).date()
                    if pause == Pause.UNTIL
                    else None
                ),
            },
        )

    def rows(self):
        """Each list's checkbox beside its frequency, for the template."""
        return [
            (checkbox, self[f"frequency_{mailing_list.pk}"])
            for checkbox, mailing_list in zip(self["lists"], self.offered, strict=True)
        ]

    def clean(self):
        cleaned = super().clean()
        pause = cleaned.get("pause") or (Pause.UNTIL if cleaned.get("paused_until") else Pause.NONE)
        day = cleaned.get("paused_until")
        cleaned["pause"] = pause
        if pause == Pause.UNTIL:
            # A date means "from midnight that day", in the newsletter's time zone.
            if day is None:
                self.add_error(
                    "paused_until", ValidationError(_("Choose the date."), code="required")
                )
            elif day <= datetime.now(self.timezone).date():
                self.add_error(
                    "paused_until",
                    ValidationError(_("Choose a date in the future."), code="past"),
                )
        return cleaned

    def preferences(self) -> "services.Preferences":
        """The newsletter's choices, with no profile field (they are the person's)."""
        pause = self.cleaned_data["pause"]
        day = self.cleaned_data["paused_until"]
        return services.Preferences(
            lists=frozenset(int(pk) for pk in self.cleaned_data["lists"]),
            paused_until=(
                datetime.combine(day, time.min, tzinfo=self.timezone)
                if pause == Pause.UNTIL
                else None
            ),
            paused_indefinitely=pause == Pause.RETURN,
            frequencies={
                mailing_list.pk: self.cleaned_data[f"frequency_{mailing_list.pk}"]
                for mailing_list in self.offered
                if self.cleaned_data.get(f"frequency_{mailing_list.pk}")
            },
        )


# Dashboard


class MailingListForm(forms.ModelForm):
    class Meta:
        model = MailingList
        fields = ["name", "slug", "description", "public", "opt_in"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            # frontend/forms.js fills it from the name as it is typed.
            "slug": forms.TextInput(attrs={"data-slug-from": "name"}),
        }
        labels = {"opt_in": _("Opt-in")}
        help_texts = {
            "slug": _(
                "Used in links and the API: lower-case letters, digits, dashes. "
                "Made from the name when left empty."
            )
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False

    def clean_slug(self) -> str:
        """The slug typed, or one made from the name, as a campaign's is."""
        slug = self.cleaned_data["slug"]
        if slug:
            return slug
        made = slugify(self.cleaned_data.get("name", ""))[
            : MailingList._meta.get_field("slug").max_length
        ]
        if not made:
            raise ValidationError(
                _("Type a slug: the name has no letters or digits to make one from."),
                code="required",
            )
        return made


class SubscriberFilterForm(forms.Form):
    """Search and filters of the subscribers page; every field optional."""

    q = forms.CharField(
        label=_("Search by email or name"),
        required=False,
        min_length=SEARCH_MIN_LENGTH,
        max_length=254,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "autocomplete": "off",
                "placeholder": _("3 letters or more of an address or name"),
            }
        ),
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any")), *SubscriberStatus.choices],
    )
    list = forms.ChoiceField(label=_("List"), required=False)
    subscription = forms.ChoiceField(
        label=_("Subscription"),
        required=False,
        choices=[("", _("Any")), *SubscriptionStatus.choices],
    )
    segment = forms.ChoiceField(label=_("Segment"), required=False)
    after = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, lists, newsletter, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.newsletter = newsletter
        self.segments = extensions.segments()
        self.within = None
        self.fields["segment"].choices = [
            ("", _("Everyone")),
            *(self.segments.options(newsletter) if self.segments else []),
        ]
        self.lists = {mailing_list.slug: mailing_list for mailing_list in lists}
        self.fields["list"].choices = [
            ("", _("All lists")),
            *(
                (
                    slug,
                    _("%(name)s (archived)") % {"name": lst.name} if lst.archived_at else lst.name,
                )
                for slug, lst in self.lists.items()
            ),
        ]

    def clean_segment(self) -> str:
        """The segment's contacts, kept for ``selector_filters``; a segment broken since it
        was saved (a field or list deleted) is an error on this filter, naming why."""
        chosen = self.cleaned_data["segment"]
        if chosen and self.segments:
            try:
                self.within = self.segments.matching(self.newsletter, chosen)
            except ValidationError as error:
                raise ValidationError(
                    _("This segment cannot be used now: %(why)s")
                    % {"why": " ".join(error.messages)}
                ) from None
        return chosen

    def selector_filters(self) -> dict:
        """Keyword arguments for ``selectors.subscribers_of``."""
        data = self.cleaned_data
        return {
            "search": data["q"].strip() or None,
            "status": data["status"] or None,
            "mailing_list": self.lists.get(data["list"]),
            "subscription_status": data["subscription"] or None,
            "within": self.within,
        }

    def filter_query(self) -> dict[str, str]:
        """The filter values that are set, as a query string's or hidden fields' pairs."""
        return {
            key: str(self.cleaned_data[key])
            for key in ("q", "status", "list", "subscription", "segment")
            if self.cleaned_data.get(key)
        }


class BulkAction(models.TextChoices):
    ADD = "add", _("Add to list")
    REMOVE = "remove", _("Remove from list")
    UNSUBSCRIBE = "unsubscribe", _("Unsubscribe from all lists")
    EXPORT = "export", _("Export as CSV")


class BulkScope(models.TextChoices):
    SELECTED = "selected", _("The people ticked below")
    ALL = "all", _("Everyone who matches")


class SubscriberBulkForm(forms.Form):
    """A bulk action of the subscribers page; the filters travel beside it."""

    action = forms.ChoiceField(label=_("Action"), choices=BulkAction.choices)
    target = forms.ChoiceField(label=_("List"), required=False)
    attestation = forms.CharField(
        label=_("How they agreed"),
        required=False,
        max_length=1000,
        help_text=_("Needed to add people: it goes to each one's consent ledger."),
    )
    scope = forms.ChoiceField(
        label=_("Apply to"), choices=BulkScope.choices, initial=BulkScope.SELECTED
    )
    ids = forms.TypedMultipleChoiceField(coerce=int, required=False)

    def __init__(self, *args, lists, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lists = {mailing_list.slug: mailing_list for mailing_list in lists}
        self.fields["target"].choices = [
            ("", _("Choose a list")),
            *((slug, lst.name) for slug, lst in self.lists.items()),
        ]
        # Any number: the selector keeps only the newsletter's own contacts.
        self.fields["ids"].valid_value = lambda value: str(value).isdigit() and len(str(value)) < 19

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action in (BulkAction.ADD, BulkAction.REMOVE) and not data.get("target"):
            self.add_error("target", _("Choose the list to add them to or remove them from."))
        if action == BulkAction.ADD and not (data.get("attestation") or "").strip():
            self.add_error("attestation", _("Say how these people agreed to receive this list."))
        if data.get("scope") == BulkScope.SELECTED and not data.get("ids"):
            self.add_error("ids", _("Tick at least one person, or apply to everyone who matches."))
        return data

    def target_list(self) -> MailingList | None:
        return self.lists.get(self.cleaned_data.get("target") or "")


class AddSubscriberForm(forms.Form):
    email = AddressField(label=_("Email address"))
    name = forms.CharField(label=_("Name (optional)"), max_length=200, required=False)
    lists = forms.MultipleChoiceField(label=_("Lists"), widget=forms.CheckboxSelectMultiple)
    attestation = forms.CharField(
        label=_("How did this person consent? (optional)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_(
            "Say where and when they asked, e.g. “signed up on paper at FOSDEM 2026”: their "
            "lists are confirmed at once and your statement and name go to the consent "
            "ledger. Leave empty to send them a confirmation email instead."
        ),
    )

    def __init__(self, *args, lists, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lists = {mailing_list.slug: mailing_list for mailing_list in lists}
        self.fields["lists"].choices = [(slug, lst.name) for slug, lst in self.lists.items()]

    def chosen_lists(self) -> list[MailingList]:
        return [self.lists[slug] for slug in self.cleaned_data["lists"]]


class EraseForm(forms.Form):
    confirm_email = forms.CharField(label=_("Type the address to confirm"), max_length=254)

    def __init__(self, *args, subscriber, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.subscriber = subscriber

    def clean_confirm_email(self) -> str:
        typed = self.cleaned_data["confirm_email"].strip()
        if typed.lower() != (self.subscriber.email or "").lower():
            raise ValidationError(_("This is not the subscriber's address."), code="mismatch")
        return typed


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        validators=[MaxUploadSize("IMPORT_UPLOAD_MAX_BYTES")],
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
        help_text=_(
            "A header row, then one person per row. Exports of listmonk, Mailchimp "
            "and Mailman 3 are recognised as they are."
        ),
    )


class ImportForm(forms.Form):
    """The attestation and, for a free-form file, what each column holds."""

    attestation = forms.CharField(
        label=_("How did the people in this file consent?"),
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_(
            "Required. Recorded in each person's consent ledger with your name, e.g. "
            "“subscribed through our old Mailman list, double opt-in”."
        ),
    )

    def __init__(self, *args, header: list[str] | None, initial_mapping=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.header = header
        for index, column in enumerate(header or []):
            self.fields[f"column_{index}"] = forms.ChoiceField(
                label=column or _("(unnamed column %(number)s)") % {"number": index + 1},
                choices=import_files.Column.choices,
                initial=initial_mapping[index] if initial_mapping else None,
            )

    @property
    def mapping_fields(self) -> list:
        return [field for field in self if field.name.startswith("column_")]

    def clean(self):
        data = super().clean()
        if self.header is not None and not self.errors:
            mapping = self.mapping()
            try:
                import_files.check_mapping(self.header, mapping)
            except ValidationError as error:
                self.add_error(None, error)
        return data

    def mapping(self) -> list[str] | None:
        """Column uses in the header's order; None when the file keeps its own format."""
        if self.header is None:
            return None
        return [self.cleaned_data[f"column_{index}"] for index in range(len(self.header))]


class FieldValuesForm(forms.Form):
    """Inputs for some custom fields (the dashboard's, the preference center's editable
    ones, the subscribe form's asked ones), named ``field_<key>``. Only the shape is
    checked here; ``fields.FieldSchema`` checks and normalises the values when the
    service writes them, and its errors come back on the inputs (``add_value_errors``)."""

    PREFIX = "field_"

    def __init__(self, *args, definitions, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.definitions = list(definitions)
        for definition in self.definitions:
            self.fields[self.PREFIX + definition.key] = _value_field(definition)

    @classmethod
    def initial_from(cls, definitions, attributes: dict) -> dict:
        initial = {}
        for definition in definitions:
            value = attributes.get(definition.key)
            if isinstance(value, bool):
                value = "yes" if value else "no"
            initial[cls.PREFIX + definition.key] = value
        return initial

    def values(self) -> dict:
        """key → value as typed (None: no value, which removes a stored one)."""
        values = {}
        for definition in self.definitions:
            value = self.cleaned_data.get(self.PREFIX + definition.key)
            values[definition.key] = (
                value.isoformat()
                if hasattr(value, "isoformat")
                else (value if value not in ("", None) else None)
            )
        return values

    def add_value_errors(self, error: ValidationError) -> bool:
        """Put a service's ``attributes.<key>`` errors on their inputs; False if none were."""
        placed = False
        for name, messages in getattr(error, "message_dict", {}).items():
            key = name.removeprefix("attributes.")
            if self.PREFIX + key in self.fields:
                self.add_error(self.PREFIX + key, messages)
                placed = True
        return placed


def _value_field(definition) -> forms.Field:
    common = {"label": definition.label, "required": False, "help_text": definition.description}
    if definition.type == FieldType.DATE:
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if definition.type == FieldType.YES_NO:
        choices = [("", "—"), ("yes", _("Yes")), ("no", _("No"))]
        return forms.ChoiceField(choices=choices, **common)
    if definition.type == FieldType.CHOICE:
        choices = [("", "—"), *((choice, choice) for choice in definition.choices)]
        return forms.ChoiceField(choices=choices, **common)
    attrs = {"inputmode": "decimal"} if definition.type == FieldType.NUMBER else {}
    return forms.CharField(max_length=500, widget=forms.TextInput(attrs=attrs), **common)
