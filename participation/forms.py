"""Forms of the public pages and the dashboard. They read input; services decide."""

import zoneinfo
from datetime import datetime

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from subscribers import proof_of_work
from subscribers.forms import AddressField

from .models import (
    Call,
    Consultation,
    Goal,
    GoalKind,
    GoalUpdateKind,
    ParticipationSettings,
    Question,
    QuestionKind,
)
from .services.calls import CREDIT_MAX, LINK_MAX, TITLE_MAX
from .services.consultations import ANSWER_TEXT_MAX, COMMENT_MAX

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


class Honeypot(forms.Form):
    """A field hidden from people, filled in by naive bots (as on the subscribe form)."""

    website = forms.CharField(required=False, label=_("Leave this field empty"))

    @property
    def is_bot(self) -> bool:
        return bool(self.data.get("website"))


# Public


class AnswerForm(forms.Form):
    """One question's answer, with the option the reader tapped chosen already."""

    comment = forms.CharField(
        label=_("A comment (optional)"),
        required=False,
        max_length=COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, question: Question, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.question = question
        choices = [(str(choice.pk), choice.label) for choice in question.choices.all()]
        if question.kind == QuestionKind.TEXT:
            self.fields["answer"] = forms.CharField(
                label=question.prompt,
                max_length=ANSWER_TEXT_MAX,
                widget=forms.Textarea(attrs={"rows": 4}),
            )
        elif question.kind == QuestionKind.MULTIPLE:
            self.fields["answer"] = forms.MultipleChoiceField(
                label=question.prompt, choices=choices, widget=forms.CheckboxSelectMultiple
            )
        else:
            self.fields["answer"] = forms.ChoiceField(
                label=question.prompt, choices=choices, widget=forms.RadioSelect
            )
        self.fields["answer"].error_messages["invalid_choice"] = _(
            "This option is not one of the question's."
        )
        self.order_fields(["answer", "comment"])

    def chosen(self) -> tuple[list[int], str]:
        """(choice ids, free text) for ``services.consultations.answer_record``."""
        value = self.cleaned_data["answer"]
        if self.question.kind == QuestionKind.TEXT:
            return [], value
        if isinstance(value, list):
            return [int(pk) for pk in value], ""
        return [int(value)], ""


class AnswerLinkForm(Honeypot):
    email = AddressField(label=_("Your email address"))


class SubmissionForm(Honeypot):
    title = forms.CharField(label=_("Title"), max_length=TITLE_MAX)
    link = forms.CharField(
        label=_("Link (optional)"),
        max_length=LINK_MAX,
        required=False,
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
    )
    text = forms.CharField(label=_("Tell us about it"), widget=forms.Textarea(attrs={"rows": 6}))
    credit_name = forms.CharField(
        label=_("Credit it to"),
        max_length=CREDIT_MAX,
        help_text=_("Your name, a nickname or your project's: published as you write it."),
    )
    email = forms.CharField(
        label=_("Your email address (optional)"),
        max_length=254,
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text=_("Only for the editors, if they have a question. Never published."),
    )
    notify_on_publish = forms.BooleanField(label=_("Tell me when it is published"), required=False)
    consent = forms.BooleanField(required=True)
    altcha = forms.CharField(required=False)

    def __init__(self, *args, call: Call, edit: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.call = call
        self.fields["text"].max_length = settings.CALL_TEXT_MAX_CHARS
        self.fields["text"].help_text = _("At most %(count)s characters.") % {
            "count": settings.CALL_TEXT_MAX_CHARS
        }
        self.fields["consent"].label = call.consent_text
        self.fields["consent"].error_messages["required"] = _(
            "Tick the box to agree to publication."
        )
        if edit:
            del self.fields["email"], self.fields["notify_on_publish"], self.fields["altcha"]

    def clean_altcha(self) -> str:
        payload = self.cleaned_data["altcha"]
        if self.call.require_proof_of_work and not proof_of_work.is_solved(payload):
            raise ValidationError(
                _("The anti-spam check did not finish. Wait a moment, then send again."),
                code="proof_of_work",
            )
        return payload


class ReferralSettingsForm(forms.Form):
    show_publicly = forms.BooleanField(
        label=_("Show me among the readers who brought the most subscribers"),
        required=False,
        help_text=_("Only the newsletter's editors see this list, under the name you give."),
    )
    display_name = forms.CharField(label=_("Under the name"), max_length=100, required=False)

    def clean(self):
        data = super().clean()
        if data.get("show_publicly") and not (data.get("display_name") or "").strip():
            self.add_error("display_name", _("Give the name to show."))
        return data


# Dashboard


class ZonedDateTimeField(forms.DateTimeField):
    """A date and time typed in the newsletter's time zone (``datetime-local``)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_FORMAT)

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("input_formats", [DATETIME_FORMAT])
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)


class ZonedForm(forms.ModelForm):
    """Dates shown and read in the newsletter's time zone, not the server's."""

    zoned = ("closes_at",)

    def __init__(self, *args, newsletter, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.newsletter = newsletter
        self.timezone = zoneinfo.ZoneInfo(newsletter.timezone)
        for name in self.zoned:
            if name in self.fields:
                self.fields[name] = ZonedDateTimeField(
                    label=self.fields[name].label,
                    help_text=_("In %(zone)s; empty: no end.") % {"zone": newsletter.timezone},
                )
                value = getattr(self.instance, name, None)
                if value is not None:
                    self.initial[name] = value.astimezone(self.timezone).strftime(DATETIME_FORMAT)

    def _clean_fields(self) -> None:
        super()._clean_fields()
        for name in self.zoned:
            value = self.cleaned_data.get(name)
            if isinstance(value, datetime):
                self.cleaned_data[name] = value.replace(tzinfo=None).replace(tzinfo=self.timezone)


OPTIONS_HELP = _("For single and multiple choice: one option per line, 2 to 10.")


class QuestionForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=QuestionKind.choices)
    prompt = forms.CharField(label=_("Question"), max_length=300)
    options = forms.CharField(
        label=_("Options"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=OPTIONS_HELP,
    )

    def spec(self):
        from .services.consultations import QuestionSpec

        return QuestionSpec(
            kind=self.cleaned_data["kind"],
            prompt=self.cleaned_data["prompt"],
            options=self.cleaned_data["options"].splitlines(),
        )


class ConsultationForm(ZonedForm):
    class Meta:
        model = Consultation
        fields = ["title", "slug", "description", "public_results", "closes_at"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, with_question: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["slug"].help_text = _(
            "In its public address and its block tag {{ consultation.SLUG }}; made from "
            "the title when empty."
        )
        if with_question:
            self.fields.update(QuestionForm().fields)

    def question_spec(self):
        return QuestionForm.spec(self)


class CallForm(ZonedForm):
    class Meta:
        model = Call
        fields = [
            "title",
            "slug",
            "description",
            "closes_at",
            "consent_text",
            "require_proof_of_work",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 4}),
            "consent_text": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["slug"].help_text = _(
            "In its public address, /n/<newsletter>/calls/SLUG/; made from the title when empty."
        )


class ModerationForm(forms.Form):
    ACTIONS = [
        ("accept", _("Accept")),
        ("reject", _("Reject")),
        ("changes", _("Ask for changes")),
        ("take_out", _("Take out of the draft")),
        ("forget", _("Forget the contributor's address")),
    ]
    action = forms.ChoiceField(choices=ACTIONS)
    note = forms.CharField(
        label=_("Note to the contributor"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class InsertForm(forms.Form):
    campaign = forms.ChoiceField(label=_("Into the draft"))

    def __init__(self, *args, drafts, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.drafts = {str(draft.pk): draft for draft in drafts}
        self.fields["campaign"].choices = [(pk, draft.name) for pk, draft in self.drafts.items()]

    def chosen(self):
        return self.drafts[self.cleaned_data["campaign"]]


class GoalForm(ZonedForm):
    cta_url = forms.URLField(
        label=_("call-to-action link"),
        max_length=500,
        assume_scheme="https",
        help_text=_("Where supporters go: your donation page, a sign-up form."),
    )

    class Meta:
        model = Goal
        fields = [
            "title",
            "slug",
            "description",
            "kind",
            "currency",
            "target",
            "cta_label",
            "cta_url",
            "closes_at",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["kind"].initial = GoalKind.MONEY


class ProgressForm(forms.Form):
    kind = forms.ChoiceField(
        label=pgettext_lazy("goal progress", "Change"),
        choices=[
            (GoalUpdateKind.ADD, _("Add to the total")),
            (GoalUpdateKind.SET, _("Set the total")),
        ],
        initial=GoalUpdateKind.ADD,
        help_text=_("To take away from the total, add a negative amount."),
    )
    amount = forms.CharField(label=_("Amount"), max_length=20)
    note = forms.CharField(label=_("Note (optional)"), max_length=300, required=False)


class ParticipationSettingsForm(forms.ModelForm):
    class Meta:
        model = ParticipationSettings
        fields = ["transparency_page", "referral_thanks"]
