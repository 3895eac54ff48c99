"""Automations: a sequence of steps that each person goes through once, started by a trigger.

An ``Enrolment`` is one person in one automation, ever (unique); it points at the step
the person is on and says when it is next due. Beat advances due enrolments in small
transactions (``services.enrolments_advance``). A "send" step owns a campaign of kind
``automation``; reaching it queues the person's row in that campaign's delivery ledger,
so the sending engine sends it once, whatever crashes in between.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from newsletter.models import Newsletter


class Trigger(models.TextChoices):
    LIST_CONFIRMED = "list_confirmed", _("Confirmed on one of its lists")
    ANNIVERSARY = "anniversary", _("Anniversary of a date field")
    API = "api", _("An API call")
    SEGMENT = "segment", _("Entering a segment")


class AutomationStatus(models.TextChoices):
    """draft → active ⇄ paused. Paused: nobody advances and its emails wait, but people
    who qualify are still enrolled (they start when it resumes)."""

    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")


class Automation(models.Model):
    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="automations")
    name = models.CharField(
        _("name"), max_length=200, help_text=_("For you; readers never see it.")
    )
    trigger = models.CharField(
        _("trigger"), max_length=20, choices=Trigger.choices, default=Trigger.LIST_CONFIRMED
    )
    # Anniversary trigger: the subscriber attribute holding a date (YYYY-MM-DD).
    trigger_field = models.CharField(_("date field"), max_length=100, blank=True)
    # Segment trigger: whoever the segment picks (and is confirmed on its lists) enters.
    segment = models.ForeignKey(
        "audiences.Segment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="automations",
        verbose_name=_("segment"),
    )
    lists = models.ManyToManyField(
        "subscribers.MailingList",
        related_name="automations",
        verbose_name=_("lists"),
        help_text=_(
            "Its emails go to people confirmed on one of these lists; someone who leaves "
            "them all leaves the automation."
        ),
    )
    status = models.CharField(
        max_length=10, choices=AutomationStatus.choices, default=AutomationStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse(
            "dashboard:automation_detail", kwargs={"slug": self.newsletter.slug, "pk": self.pk}
        )


class StepKind(models.TextChoices):
    SEND = "send", _("Send an email")
    WAIT = "wait", _("Wait for a while")
    WAIT_UNTIL = "wait_until", _("Wait until a day and hour")
    BRANCH = "branch", _("Branch on a segment")
    STOP = "stop", _("Stop")


WAITS = (StepKind.WAIT, StepKind.WAIT_UNTIL)


class ZoneOf(models.TextChoices):
    SUBSCRIBER = "subscriber", _("The person's time zone (the newsletter's if unknown)")
    NEWSLETTER = "newsletter", _("The newsletter's time zone")


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class Step(models.Model):
    """One step, in ``position`` order. A removed step keeps its row (its campaign keeps
    its report); people on it move on to the next step at their next turn."""

    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    kind = models.CharField(_("step"), max_length=12, choices=StepKind.choices)
    campaign = models.OneToOneField(
        "campaigns.Campaign",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="automation_step",
    )
    delay = models.DurationField(_("wait"), null=True, blank=True)
    weekday = models.PositiveSmallIntegerField(
        _("weekday"), choices=Weekday.choices, null=True, blank=True, help_text=_("Empty: any day.")
    )
    hour = models.PositiveSmallIntegerField(_("hour"), null=True, blank=True)
    zone_of = models.CharField(
        _("time zone"), max_length=10, choices=ZoneOf.choices, default=ZoneOf.NEWSLETTER
    )
    # Branch: people the segment picks go on; the others skip ``skip`` steps, or leave
    # the automation when it is empty.
    segment = models.ForeignKey(
        "audiences.Segment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="automation_steps",
        verbose_name=_("segment"),
    )
    skip = models.PositiveSmallIntegerField(
        _("steps the others skip"),
        null=True,
        blank=True,
        help_text=_("Empty: people the segment does not pick leave the automation."),
    )
    removed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["automation", "position"],
                condition=models.Q(removed_at__isnull=True),
                name="one_live_step_per_position",
            ),
            models.CheckConstraint(
                condition=models.Q(hour__isnull=True) | models.Q(hour__lte=23),
                name="step_hour_of_a_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.automation_id}#{self.position}: {self.kind}"

    def delay_display(self) -> str:
        """A wait as people say it: "2 days, 3 hours"."""
        if self.delay is None:
            return ""
        hours, rest = divmod(self.delay.seconds, 3600)
        units = (
            (self.delay.days, ngettext("%(n)d day", "%(n)d days", self.delay.days)),
            (hours, ngettext("%(n)d hour", "%(n)d hours", hours)),
            (rest // 60, ngettext("%(n)d minute", "%(n)d minutes", rest // 60)),
        )
        parts = [label % {"n": amount} for amount, label in units if amount]
        return ", ".join(parts) or ngettext("%(n)d second", "%(n)d seconds", rest) % {"n": rest}


class EnrolmentState(models.TextChoices):
    ACTIVE = "active", _("In progress")
    DONE = "done", _("Finished")
    EXITED = "exited", _("Left (consent gone)")


class Enrolment(models.Model):
    """One person in one automation, once ever. ``step`` is where they are: a wait they
    are waiting out, or (when due) the step to run next; None before the first."""

    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="enrolments")
    subscriber = models.ForeignKey(
        "subscribers.Subscriber", on_delete=models.CASCADE, related_name="enrolments"
    )
    step = models.ForeignKey(
        Step, on_delete=models.CASCADE, null=True, blank=True, related_name="enrolments"
    )
    state = models.CharField(
        max_length=10, choices=EnrolmentState.choices, default=EnrolmentState.ACTIVE
    )
    next_run_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    exit_reason = models.CharField(max_length=200, blank=True)
    enrolled_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-enrolled_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["automation", "subscriber"], name="one_enrolment_per_person"
            )
        ]
        indexes = [
            # Beat's question every few seconds: who is due? Finished rows stay out.
            models.Index(
                fields=["next_run_at"],
                condition=models.Q(state="active"),
                name="enrolment_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.automation_id}/{self.subscriber_id}: {self.state}"
