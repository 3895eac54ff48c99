"""The dashboard's forms: they parse input; the services check what only they can."""

from datetime import timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from audiences.models import Segment
from campaigns.models import BodyFormat, Layout
from subscribers.models import MailingList

from .models import Automation, StepKind, Trigger, Weekday, ZoneOf
from .services import StepSpec


class AutomationForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=200, help_text=_("For you; readers never see it.")
    )
    trigger = forms.ChoiceField(
        label=_("Starts when"),
        choices=Trigger.choices,
        initial=Trigger.LIST_CONFIRMED,
        help_text=_("Each person goes through it once, whatever starts it again."),
    )
    trigger_field = forms.CharField(
        label=_("Date field"),
        max_length=100,
        required=False,
        help_text=_(
            "Anniversary only: the subscriber attribute holding a date (YYYY-MM-DD), "
            "e.g. first_commit."
        ),
    )
    segment = forms.ModelChoiceField(
        label=_("Segment"),
        queryset=Segment.objects.none(),
        required=False,
        help_text=_(
            "Entering a segment only: whoever it picks (and is confirmed on a list below) enters."
        ),
    )
    lists = forms.ModelMultipleChoiceField(
        label=_("Lists"),
        queryset=MailingList.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Its emails go to people confirmed on one of these lists; with “Confirmed on "
            "one of its lists”, confirming on one of them starts it."
        ),
    )

    def __init__(self, *args, newsletter, automation: Automation | None = None, **kwargs) -> None:
        if automation is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": automation.name,
                    "trigger": automation.trigger,
                    "trigger_field": automation.trigger_field,
                    "segment": automation.segment_id,
                    "lists": list(automation.lists.all()),
                },
            )
        super().__init__(*args, **kwargs)
        self.fields["lists"].queryset = MailingList.objects.filter(newsletter=newsletter).active()
        self.fields["segment"].queryset = Segment.objects.filter(newsletter=newsletter)


class StepForm(forms.Form):
    """The fields of one kind of step (the others are left out)."""

    subject = forms.CharField(label=_("Subject"), max_length=250)
    preheader = forms.CharField(
        label=_("Preview line"),
        max_length=250,
        required=False,
        help_text=_("The preview line most inboxes show after the subject."),
    )
    layout = forms.ModelChoiceField(label=_("Layout"), queryset=Layout.objects.none())
    body_format = forms.ChoiceField(
        label=_("Format"), choices=BodyFormat.choices, initial=BodyFormat.MARKDOWN
    )
    body = forms.CharField(label=_("Body"), widget=forms.Textarea(attrs={"rows": 12}))
    days = forms.IntegerField(label=_("Days"), min_value=0, max_value=366, initial=1)
    hours = forms.IntegerField(label=_("Hours"), min_value=0, max_value=23, initial=0)
    minutes = forms.IntegerField(label=_("Minutes"), min_value=0, max_value=59, initial=0)
    weekday = forms.TypedChoiceField(
        label=_("Day"),
        choices=[("", _("Any day")), *Weekday.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    hour = forms.IntegerField(
        label=_("Hour"), min_value=0, max_value=23, initial=9, help_text=_("0 to 23, on the hour.")
    )
    zone_of = forms.ChoiceField(
        label=_("In the time zone of"), choices=ZoneOf.choices, initial=ZoneOf.NEWSLETTER
    )
    segment = forms.ModelChoiceField(
        label=_("Segment"),
        queryset=Segment.objects.none(),
        help_text=_("People it picks when they reach this step go on to the next one."),
    )
    skip = forms.IntegerField(
        label=_("The others skip this many steps"),
        min_value=0,
        max_value=50,
        required=False,
        help_text=_("Empty: the others leave the automation."),
    )

    FIELDS = {
        StepKind.SEND: ("subject", "preheader", "layout", "body_format", "body"),
        StepKind.WAIT: ("days", "hours", "minutes"),
        StepKind.WAIT_UNTIL: ("weekday", "hour", "zone_of"),
        StepKind.BRANCH: ("segment", "skip"),
        StepKind.STOP: (),
    }

    def __init__(self, *args, kind: str, newsletter, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        for name in list(self.fields):
            if name not in self.FIELDS[kind]:
                del self.fields[name]
        if "layout" in self.fields:
            layouts = Layout.objects.filter(newsletter=newsletter)
            self.fields["layout"].queryset = layouts
            self.fields["layout"].initial = layouts.order_by("pk").first()
        if "segment" in self.fields:
            self.fields["segment"].queryset = Segment.objects.filter(newsletter=newsletter)

    @staticmethod
    def initial_for(step) -> dict:
        if step.campaign_id:
            campaign = step.campaign
            return {
                "subject": campaign.subject,
                "preheader": campaign.preheader,
                "layout": campaign.layout_id,
                "body_format": campaign.body_format,
                "body": campaign.body,
            }
        if step.kind == StepKind.BRANCH:
            return {"segment": step.segment_id, "skip": step.skip}
        if step.delay is not None:
            return {
                "days": step.delay.days,
                "hours": step.delay.seconds // 3600,
                "minutes": step.delay.seconds % 3600 // 60,
            }
        return {"weekday": step.weekday, "hour": step.hour, "zone_of": step.zone_of}

    def spec(self) -> StepSpec:
        data = self.cleaned_data
        if self.kind == StepKind.WAIT:
            delay = timedelta(days=data["days"], hours=data["hours"], minutes=data["minutes"])
            return StepSpec(kind=self.kind, delay=delay)
        if self.kind == StepKind.WAIT_UNTIL:
            return StepSpec(
                kind=self.kind, weekday=data["weekday"], hour=data["hour"], zone_of=data["zone_of"]
            )
        if self.kind == StepKind.SEND:
            return StepSpec(
                kind=self.kind,
                subject=data["subject"],
                preheader=data["preheader"],
                layout=data["layout"],
                body_format=data["body_format"],
                body=data["body"],
            )
        if self.kind == StepKind.BRANCH:
            return StepSpec(kind=self.kind, segment=data["segment"], skip=data["skip"])
        return StepSpec(kind=self.kind)
