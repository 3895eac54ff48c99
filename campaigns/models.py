from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from newsletter.headers import validate_single_line
from newsletter.models import Newsletter

from .rendering import Problem, Rendered
from .rendering.mergetags import Compiled


class Layout(models.Model):
    """A reusable MJML frame (header, footer) with a ``{{ content }}`` slot for campaigns."""

    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="layouts")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    mjml = models.TextField(
        "MJML",
        help_text=_(
            "A full <mjml> document with one {{ content }} slot; the footer must carry "
            "{{ unsubscribe_url }}, {{ preferences_url }} and {{ newsletter.postal_address }}."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["newsletter", "name"], name="layout_name_per_newsletter"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse(
            "dashboard:layout_edit", kwargs={"slug": self.newsletter.slug, "pk": self.pk}
        )


class BodyFormat(models.TextChoices):
    MARKDOWN = "markdown", _("Markdown")
    MJML = "mjml", _("MJML")


class Status(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    SENDING = "sending", _("Sending")
    PAUSED = "paused", _("Paused")
    SENT = "sent", _("Sent")
    CANCELLED = "cancelled", _("Cancelled")
    # A scheduled campaign that could not start (its reason in ``failure_reason``):
    # kept out of beat's way until an editor fixes it and schedules or sends it again.
    FAILED = "failed", _("Could not start")


# Nothing has left yet: content, lists and time may change, and it may be deleted.
NOT_STARTED = (Status.DRAFT, Status.SCHEDULED, Status.FAILED)


class Kind(models.TextChoices):
    """A campaign sent once to its lists, or the email of an automation's step: that one
    stays ``sending`` while its automation runs, its recipients arriving one at a time
    (``delivery/ongoing.py``), and its content may change while it sends."""

    ISSUE = "issue", _("Issue")
    AUTOMATION = "automation", _("Automation step")


class Campaign(models.Model):
    """One message to a newsletter's readers, and its cached render.

    The render (``rendered_*``) is computed once per change of the campaign or its
    layout (``rendered_digest`` identifies the inputs) and holds the message as
    literal chunks with slots that each recipient fills.
    """

    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200, help_text=_("For you; readers never see it."))
    slug = models.SlugField(
        max_length=100,
        blank=True,
        help_text=_("Used in the public archive's address; made from the name when empty."),
    )
    subject = models.CharField(max_length=250, validators=[validate_single_line])
    preheader = models.CharField(
        max_length=250,
        blank=True,
        help_text=_("The preview line most inboxes show after the subject."),
    )
    layout = models.ForeignKey(Layout, on_delete=models.PROTECT, related_name="campaigns")
    body_format = models.CharField(
        max_length=10, choices=BodyFormat.choices, default=BodyFormat.MARKDOWN
    )
    body = models.TextField()
    public = models.BooleanField(
        default=False, help_text=_("Show it in the public archive and feed once sent.")
    )
    lists = models.ManyToManyField(
        "subscribers.MailingList",
        related_name="campaigns",
        blank=True,
        help_text=_("Confirmed subscribers of any of these lists receive it, once each."),
    )
    # Narrows the lists (or, with no list, all the newsletter's lists) to the people its
    # rules pick; consent rules still apply on top (delivery.audience). Protected: deleting
    # it would silently widen the audience to the whole lists.
    segment = models.ForeignKey(
        "audiences.Segment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        help_text=_("Only the people this segment picks receive it."),
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.ISSUE)
    edition_fallback = models.BooleanField(
        _("send the default edition where a translation is pending"),
        default=False,
        help_text=_(
            "Readers of an edition still marked pending get the campaign in the "
            "newsletter's default language instead of waiting for the translation."
        ),
    )
    send_at = models.DateTimeField(null=True, blank=True)
    # Deliver at this hour of each reader's own day (their time zone, else the
    # newsletter's): rows wait, queued with that moment, until it comes. Empty: at once.
    local_hour = models.PositiveSmallIntegerField(
        _("deliver at a local hour"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(23)],
        help_text=_("Each reader gets it at this hour of their own day (0 to 23). Empty: at once."),
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    # Why a scheduled campaign could not start (status FAILED); empty otherwise.
    failure_reason = models.TextField(blank=True, editable=False)
    # Set once when sending starts, so progress never has to count a million rows.
    recipient_count = models.PositiveIntegerField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rendered_digest = models.CharField(max_length=64, blank=True, editable=False)
    rendered_subject = models.JSONField(null=True, blank=True, editable=False)
    rendered_html = models.JSONField(null=True, blank=True, editable=False)
    rendered_text = models.JSONField(null=True, blank=True, editable=False)
    rendered_html_bytes = models.PositiveIntegerField(default=0, editable=False)
    render_problems = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["newsletter", "slug"], name="campaign_slug_per_newsletter"
            )
        ]
        indexes = [models.Index(fields=["newsletter", "status", "public", "sent_at"])]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse(
            "dashboard:campaign_edit", kwargs={"slug": self.newsletter.slug, "pk": self.pk}
        )

    @property
    def has_started(self) -> bool:
        """Whether sending ever began: it then has a report and its content is frozen
        (except an automation step's, which people keep reaching while it is edited)."""
        return self.status not in NOT_STARTED

    @property
    def content_editable(self) -> bool:
        return not self.has_started or self.kind == Kind.AUTOMATION

    def get_public_url(self) -> str:
        return reverse(
            "campaigns:archive",
            kwargs={"newsletter": self.newsletter.slug, "campaign": self.slug},
        )

    def cached_render(self) -> Rendered | None:
        """The stored render, or None if there is none (it may still be stale)."""
        return _cached_render(self)


class EditionStatus(models.TextChoices):
    PENDING = "pending", _("Translation pending")
    READY = "ready", _("Ready")


class Edition(models.Model):
    """The campaign in another language: its own subject, preheader and body.

    The campaign's own fields are its edition in the newsletter's language (the
    default, which readers without an edition of their language get); layout, body
    format, lists and "public" are shared. Its render is cached like the
    campaign's and frozen with it once sending starts.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="editions")
    language = models.CharField(
        _("language"),
        max_length=10,
        help_text=_(
            "A language code such as fr, de or pt-br; readers whose language it is get "
            "this edition."
        ),
    )
    status = models.CharField(
        max_length=10, choices=EditionStatus.choices, default=EditionStatus.PENDING
    )
    subject = models.CharField(max_length=250, validators=[validate_single_line])
    preheader = models.CharField(max_length=250, blank=True)
    body = models.TextField()
    rendered_digest = models.CharField(max_length=64, blank=True, editable=False)
    rendered_subject = models.JSONField(null=True, blank=True, editable=False)
    rendered_html = models.JSONField(null=True, blank=True, editable=False)
    rendered_text = models.JSONField(null=True, blank=True, editable=False)
    rendered_html_bytes = models.PositiveIntegerField(default=0, editable=False)
    render_problems = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["language"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "language"], name="one_edition_per_language"
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign} ({self.language})"

    @property
    def is_ready(self) -> bool:
        return self.status == EditionStatus.READY

    def get_public_url(self) -> str:
        return reverse(
            "campaigns:archive_edition",
            kwargs={
                "newsletter": self.campaign.newsletter.slug,
                "campaign": self.campaign.slug,
                "language": self.language,
            },
        )

    def cached_render(self) -> Rendered | None:
        return _cached_render(self)


def _cached_render(owner: "Campaign | Edition") -> Rendered | None:
    """The stored render of a campaign or an edition, or None (it may still be stale)."""
    if not owner.rendered_digest:
        return None
    problems = [Problem.from_dict(item) for item in owner.render_problems]
    if owner.rendered_html is None:
        return Rendered(digest=owner.rendered_digest, problems=problems)
    return Rendered(
        digest=owner.rendered_digest,
        problems=problems,
        subject=Compiled.from_dict(owner.rendered_subject),
        html=Compiled.from_dict(owner.rendered_html),
        text=Compiled.from_dict(owner.rendered_text),
        html_bytes=owner.rendered_html_bytes,
    )


def image_path(image: "Image", filename: str) -> str:
    return f"images/{image.newsletter.slug}/{filename}"


class Image(models.Model):
    """An uploaded picture for campaigns, linked from mail by its absolute URL."""

    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to=image_path, max_length=300)
    alt = models.CharField(
        _("description"), max_length=300, help_text=_("What the picture shows, for screen readers.")
    )
    content_type = models.CharField(max_length=50)
    size = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.alt

    def absolute_url(self) -> str:
        url = self.file.url
        return url if "://" in url else f"{settings.SITE_URL}{url}"

    def markdown(self) -> str:
        alt = self.alt.replace("[", "(").replace("]", ")")
        return f"![{alt}]({self.absolute_url()})"
