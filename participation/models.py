"""Participation: consultations, open calls, referrals, support goals, the transparency page.

Counts that pages read (answers per choice, clicks on a goal's call to action, the
transparency page's figures) are kept in rollup columns and tables, written in the
same transaction as what they count, so that reading never counts rows.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from newsletter.models import Newsletter


class ParticipationSettings(models.Model):
    """A newsletter's choices about participation; a row exists once an owner saved them."""

    newsletter = models.OneToOneField(
        Newsletter, on_delete=models.CASCADE, primary_key=True, related_name="participation"
    )
    transparency_page = models.BooleanField(
        _("publish the transparency page"),
        default=False,
        help_text=_(
            "A public page with the newsletter's figures: subscribers over time, issues "
            "sent, opens and clicks by people, unsubscribes, public consultation results, "
            "the tracking policy and the consent wording. No figure under 5 is shown."
        ),
    )
    referral_thanks = models.BooleanField(
        _("thank readers who bring subscribers"),
        default=False,
        help_text=_("A short thank-you mail when 1, 5 and 25 people subscribed through a link."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"participation settings of {self.newsletter}"


# Consultations


class Consultation(models.Model):
    """Questions put to the readers, answered from their mail through signed links."""

    newsletter = models.ForeignKey(
        Newsletter, on_delete=models.CASCADE, related_name="consultations"
    )
    title = models.CharField(_("title"), max_length=200)
    slug = models.SlugField(
        max_length=100,
        help_text=_("In its public address and its block tag, {{ consultation.SLUG }}."),
    )
    description = models.TextField(_("description"), blank=True)
    public_results = models.BooleanField(
        _("results are public"),
        default=False,
        help_text=_("Shown on its public page and the transparency page; counts under 5 hidden."),
    )
    closes_at = models.DateTimeField(
        _("closes at"), null=True, blank=True, help_text=_("Empty: open until you close it.")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["newsletter", "slug"], name="consultation_slug_per_newsletter"
            )
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse(
            "participation:consultation",
            kwargs={"newsletter": self.newsletter.slug, "consultation": self.slug},
        )

    @property
    def is_open(self) -> bool:
        return self.closes_at is None or self.closes_at > timezone.now()


class QuestionKind(models.TextChoices):
    SINGLE = "single", _("Single choice")
    MULTIPLE = "multiple", _("Multiple choice")
    SCALE = "scale", _("Scale from 1 to 5")
    TEXT = "text", _("Short free text")


class Question(models.Model):
    consultation = models.ForeignKey(
        Consultation, on_delete=models.CASCADE, related_name="questions"
    )
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(_("kind"), max_length=10, choices=QuestionKind.choices)
    prompt = models.CharField(_("question"), max_length=300)
    # Rollup: how many people answered (the answers' rows are never counted on read).
    respondents = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["consultation", "position", "id"]

    def __str__(self) -> str:
        return self.prompt


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="choices")
    position = models.PositiveIntegerField(default=0)
    label = models.CharField(max_length=200)
    # Rollup: how many answers include this choice.
    answers = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["question", "position", "id"]

    def __str__(self) -> str:
        return self.label


class Answer(models.Model):
    """One person's answer to one question.

    ``respondent`` is a keyed digest (HMAC with a server key) of the question and the
    person: it keeps one answer each and lets the same link change it, and says
    nothing about who answered to anyone without the key. ``subscriber`` is set only
    under the newsletter's individual tracking policy, for a person who did not opt
    out; under the others no row ties an answer to a person.
    """

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="answer_rows")
    respondent = models.CharField(max_length=64)
    subscriber = models.ForeignKey(
        "subscribers.Subscriber",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="consultation_answers",
    )
    choices = models.JSONField(default=list, blank=True)
    text = models.TextField(blank=True)
    comment = models.TextField(blank=True)
    # To the hour, when no person is known: a time to the second could be matched
    # with a web server's log.
    answered_at = models.DateTimeField()
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["question", "respondent"], name="one_answer_each")
        ]
        indexes = [models.Index(fields=["subscriber"], name="answer_subscriber")]

    def __str__(self) -> str:
        return f"answer to {self.question_id}"


# Open calls


class Call(models.Model):
    """An open call for contributions: a public page with a form, and a deadline."""

    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="calls")
    title = models.CharField(_("title"), max_length=200)
    slug = models.SlugField(max_length=100, help_text=_("In its public address."))
    description = models.TextField(_("what you are asking for"))
    closes_at = models.DateTimeField(
        _("deadline"), null=True, blank=True, help_text=_("Empty: open until you close it.")
    )
    consent_text = models.TextField(
        _("publication consent"),
        default=(
            "I agree that this newsletter publishes my contribution with the name I give, "
            "and edits it for length."
        ),
        help_text=_("What contributors agree to; stored with every submission."),
    )
    require_proof_of_work = models.BooleanField(
        _("ask for a proof of work"),
        default=False,
        help_text=_("The browser solves a small puzzle before submitting. Needs JavaScript."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["newsletter", "slug"], name="call_slug_per_newsletter")
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse(
            "participation:call", kwargs={"newsletter": self.newsletter.slug, "call": self.slug}
        )

    @property
    def is_open(self) -> bool:
        return self.closes_at is None or self.closes_at > timezone.now()


class SubmissionStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Waiting for moderation")
    CHANGES_REQUESTED = "changes_requested", _("Changes asked for")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    PUBLISHED = "published", _("Published")


class Submission(models.Model):
    """A contribution to a call, with the consent to publish it under a name.

    The consent is kept as a subscription's is: the exact wording, when, and, if
    the newsletter records them, the IP address and browser it came from.
    """

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="submissions")
    title = models.CharField(max_length=200)
    link = models.URLField(max_length=500, blank=True)
    text = models.TextField()
    credit_name = models.CharField(max_length=100)
    email = models.EmailField(max_length=254, blank=True)
    notify_on_publish = models.BooleanField(default=False)
    consent_wording = models.TextField()
    consented_at = models.DateTimeField()
    consent_ip = models.GenericIPAddressField(null=True, blank=True)
    consent_user_agent = models.TextField(blank=True)
    status = models.CharField(
        max_length=20, choices=SubmissionStatus.choices, default=SubmissionStatus.SUBMITTED
    )
    note = models.TextField(blank=True, help_text=_("The moderator's note to the contributor."))
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    moderated_at = models.DateTimeField(null=True, blank=True)
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contributions",
    )
    published_at = models.DateTimeField(null=True, blank=True)
    contributor_told_at = models.DateTimeField(null=True, blank=True)
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["call", "-created_at", "-id"]
        indexes = [models.Index(fields=["call", "status"])]

    def __str__(self) -> str:
        return self.title


# Referrals


class ReferrerProfile(models.Model):
    """What a reader chose about their referrals in one newsletter, and thanks sent."""

    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="+")
    subscriber = models.ForeignKey(
        "subscribers.Subscriber", on_delete=models.CASCADE, related_name="referrer_profiles"
    )
    show_publicly = models.BooleanField(default=False)
    display_name = models.CharField(max_length=100, blank=True)
    milestone_thanked = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["newsletter", "subscriber"], name="one_referrer_profile"
            )
        ]

    def __str__(self) -> str:
        return f"referrer profile {self.pk}"


class Referral(models.Model):
    """Someone who subscribed through a reader's referral link; counted once confirmed."""

    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="+")
    referrer = models.ForeignKey(
        "subscribers.Subscriber", on_delete=models.CASCADE, related_name="referrals_made"
    )
    referred = models.ForeignKey(
        "subscribers.Subscriber", on_delete=models.CASCADE, related_name="referred_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["newsletter", "referred"], name="referred_once")
        ]
        indexes = [
            models.Index(fields=["newsletter", "confirmed_at"], name="referral_confirmed"),
            models.Index(fields=["referrer", "newsletter"], name="referral_referrer"),
        ]

    def __str__(self) -> str:
        return f"referral {self.pk}"


# Support goals


class GoalKind(models.TextChoices):
    MONEY = "money", _("Money raised")
    SPONSORS = "sponsors", _("Sponsors")
    VOLUNTEERS = "volunteers", _("Volunteers signed up")


class Goal(models.Model):
    """A goal for support (money, sponsors, volunteers) with its progress.

    Crier handles no payment: progress is what editors, the API or a donation
    platform's signed webhook report. ``current`` is the sum of ``GoalUpdate`` rows.
    """

    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="goals")
    title = models.CharField(_("title"), max_length=200)
    slug = models.SlugField(max_length=100, help_text=_("Its block tag is {{ goal.SLUG }}."))
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=12, choices=GoalKind.choices)
    currency = models.CharField(
        _("currency"), max_length=3, blank=True, help_text=_("For money: EUR, USD…")
    )
    target = models.DecimalField(_("target"), max_digits=14, decimal_places=2)
    current = models.DecimalField(max_digits=14, decimal_places=2, default=0, editable=False)
    cta_label = models.CharField(_("call-to-action label"), max_length=80)
    cta_url = models.URLField(
        _("call-to-action link"),
        max_length=500,
        help_text=_("Where supporters go: your donation page, a sign-up form."),
    )
    cta_clicks = models.BigIntegerField(default=0, editable=False)
    closes_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    # Finds the goal from a webhook's URL; the signing secret is derived, never stored.
    webhook_key = models.CharField(max_length=32, unique=True, editable=False)
    webhook_version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["newsletter", "slug"], name="goal_slug_per_newsletter")
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse(
            "participation:goal", kwargs={"newsletter": self.newsletter.slug, "goal": self.slug}
        )

    @property
    def percent(self) -> int:
        if not self.target:
            return 0
        return max(0, min(100, int(self.current * 100 / self.target)))


class GoalUpdateKind(models.TextChoices):
    ADD = "add", _("Added")
    SET = "set", _("Set the total")


class GoalUpdateSource(models.TextChoices):
    DASHBOARD = "dashboard", _("Dashboard")
    API = "api", _("API")
    WEBHOOK = "webhook", _("Signed webhook")


class GoalUpdate(models.Model):
    """One change of a goal's progress; an ``external_id`` is applied once only."""

    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="updates")
    kind = models.CharField(max_length=3, choices=GoalUpdateKind.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    source = models.CharField(max_length=10, choices=GoalUpdateSource.choices)
    external_id = models.CharField(max_length=200, blank=True)
    actor = models.CharField(max_length=200, blank=True)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["goal", "-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["goal", "external_id"],
                condition=~models.Q(external_id=""),
                name="goal_update_applied_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} to goal {self.goal_id}"


# The transparency page's rollups, refreshed by beat (services/transparency.py)


class AudienceMonth(models.Model):
    """Subscriptions gained and lost in one month, and subscribers at its end (or now)."""

    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="+")
    month = models.DateField()
    joined = models.BigIntegerField(default=0)
    left = models.BigIntegerField(default=0)
    subscribers = models.BigIntegerField(default=0)
    final = models.BooleanField(default=False)

    class Meta:
        ordering = ["newsletter", "month"]
        constraints = [
            models.UniqueConstraint(fields=["newsletter", "month"], name="one_audience_month")
        ]

    def __str__(self) -> str:
        return f"{self.newsletter_id} {self.month:%Y-%m}"


class IssueFigures(models.Model):
    """A sent campaign's public figures: people, not machines; unsubscribes that followed."""

    campaign = models.OneToOneField(
        "campaigns.Campaign", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="+")
    sent_at = models.DateTimeField()
    recipients = models.BigIntegerField(default=0)
    opens_human = models.BigIntegerField(default=0)
    clicks_human = models.BigIntegerField(default=0)
    unique_opens_human = models.BigIntegerField(null=True, blank=True)
    unique_clicks_human = models.BigIntegerField(null=True, blank=True)
    unsubscribes = models.BigIntegerField(default=0)
    final = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["newsletter", "-sent_at"]
        indexes = [models.Index(fields=["newsletter", "sent_at"], name="issue_figures_sent")]

    def __str__(self) -> str:
        return f"figures of campaign {self.campaign_id}"


class WordingUse(models.Model):
    """A consent wording people agreed to, and when it was first and last used."""

    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64)
    wording = models.TextField()
    first_used = models.DateTimeField()
    last_used = models.DateTimeField()

    class Meta:
        ordering = ["newsletter", "first_used"]
        constraints = [
            models.UniqueConstraint(fields=["newsletter", "digest"], name="one_wording_use")
        ]

    def __str__(self) -> str:
        return self.wording[:60]
