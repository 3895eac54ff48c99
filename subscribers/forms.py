import zoneinfo
from datetime import datetime, time

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from newsletter.uploads import MaxUploadSize

from . import import_files, proof_of_work, services
from .models import MailingList, SubscriberStatus, SubscriptionStatus

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
    language = forms.ChoiceField(
        label=_("Language"),
        choices=settings.LANGUAGES,
        help_text=_("Of this page and of the mail this server sends you."),
    )
    # Only offered when the newsletter counts per person: under the other policies no
    # one's opens and clicks are ever recorded as theirs, so there is nothing to refuse.
    tracking_opt_out = forms.BooleanField(
        label=_("Never record my opens and clicks as mine (count them only in the totals)"),
        required=False,
    )
    paused_until = forms.DateField(
        label=_("Pause all mail until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
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
    after = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, lists, **kwargs) -> None:
        super().__init__(*args, **kwargs)
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

    def selector_filters(self) -> dict:
        """Keyword arguments for ``selectors.subscribers_of``."""
        data = self.cleaned_data
        return {
            "search": data["q"].strip() or None,
            "status": data["status"] or None,
            "mailing_list": self.lists.get(data["list"]),
            "subscription_status": data["subscription"] or None,
        }

    def filter_query(self) -> dict[str, str]:
        """The filter values that are set, as a query string's or hidden fields' pairs."""
        return {
            key: str(self.cleaned_data[key])
            for key in ("q", "status", "list", "subscription")
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
