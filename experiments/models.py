"""An experiment: a campaign's sample split between 2 to 4 variants, then the winner to the rest.

The state moves once each way, always under the campaign's row lock
(``services``): ``ready`` (set up on a draft) → ``testing`` (the campaign started:
the sample is being sent, the rest held) → ``decided`` (the winner became the
campaign and the rest was released).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

LABELS = "ABCD"
MIN_VARIANTS = 2
MAX_VARIANTS = 4


class Metric(models.TextChoices):
    OPENS = "opens", _("Human opens")
    CLICKS = "clicks", _("Human clicks")
    ANSWERS = "answers", _("Consultation answers")


class SampleKind(models.TextChoices):
    PERCENT = "percent", _("A percentage of the audience")
    COUNT = "count", _("A number of people")


class Decision(models.TextChoices):
    AUTOMATIC = "automatic", _("Automatically when the time is up")
    EDITOR = "editor", _("When an editor chooses")


class State(models.TextChoices):
    READY = "ready", pgettext_lazy("experiment", "Ready")
    TESTING = "testing", _("Testing on the sample")
    DECIDED = "decided", _("Decided")


class Experiment(models.Model):
    campaign = models.OneToOneField(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="experiment"
    )
    metric = models.CharField(
        _("winner by"), max_length=10, choices=Metric.choices, default=Metric.OPENS
    )
    sample_kind = models.CharField(
        _("sample as"), max_length=10, choices=SampleKind.choices, default=SampleKind.PERCENT
    )
    sample_size = models.PositiveIntegerField(
        _("sample size"), help_text=_("A percentage (1 to 99) or a number of people.")
    )
    wait_hours = models.PositiveIntegerField(
        _("decide after (hours)"), default=4, help_text=_("Counted from the start of sending.")
    )
    decision = models.CharField(
        _("decision"), max_length=10, choices=Decision.choices, default=Decision.AUTOMATIC
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.READY)
    started_at = models.DateTimeField(null=True, blank=True)
    decide_at = models.DateTimeField(null=True, blank=True)
    sample_count = models.PositiveIntegerField(null=True, blank=True)
    winner = models.CharField(max_length=1, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=255, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["decide_at"],
                condition=models.Q(state="testing", decision="automatic"),
                name="experiment_due",
            )
        ]

    def __str__(self) -> str:
        return f"experiment of campaign {self.campaign_id}"


class Variant(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    label = models.CharField(max_length=1)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    body = models.TextField(_("body"), blank=True)

    class Meta:
        ordering = ["experiment", "label"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "label"], name="one_variant_per_label")
        ]

    def __str__(self) -> str:
        return f"variant {self.label}"
