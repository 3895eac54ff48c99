from datetime import timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, Layout
from newsletter.headers import validate_single_line
from newsletter.models import Newsletter

DEFAULT_SUBJECT = "{{ feed.title }}: {{ items.first.title }}"
DEFAULT_ITEM_TEMPLATE = "## [{{ item.title }}]({{ item.url }})\n\n{{ item.summary }}"


class FeedAction(models.TextChoices):
    DRAFT = "draft", _("Compose a draft for me to send")
    SEND = "send", _("Send the issue")


class FeedSchedule(models.TextChoices):
    HOURLY = "hourly", _("Every hour")
    DAILY = "daily", _("Every day")
    WEEKLY = "weekly", _("Every week")


INTERVALS = {
    FeedSchedule.HOURLY: timedelta(hours=1),
    FeedSchedule.DAILY: timedelta(days=1),
    FeedSchedule.WEEKLY: timedelta(weeks=1),
}


class Feed(models.Model):
    """A feed the newsletter follows: on its schedule, the items new since the last issue
    become an issue (a draft or a sent campaign) in its layout, to its lists."""

    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="feeds")
    name = models.CharField(
        _("name"), max_length=200, help_text=_("For you; readers never see it.")
    )
    url = models.CharField(
        _("feed address"),
        max_length=2000,
        help_text=_("The address of an RSS or Atom feed, such as a project's release feed."),
    )
    # The feed's own title, as it last said it (``{{ feed.title }}``).
    title = models.CharField(max_length=300, blank=True, editable=False)
    lists = models.ManyToManyField(
        "subscribers.MailingList",
        related_name="feeds",
        verbose_name=_("lists"),
        help_text=_("Each issue goes to the confirmed subscribers of these lists."),
    )
    layout = models.ForeignKey(
        Layout, on_delete=models.PROTECT, related_name="feeds", verbose_name=_("layout")
    )
    # Narrows its lists, as a campaign's segment does; kept while a feed names it.
    segment = models.ForeignKey(
        "audiences.Segment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="feeds",
        verbose_name=_("segment"),
        help_text=_("Only the people of its lists whom this segment picks get its issues."),
    )
    action = models.CharField(
        _("each issue"), max_length=10, choices=FeedAction.choices, default=FeedAction.DRAFT
    )
    schedule = models.CharField(
        _("look for new items"),
        max_length=10,
        choices=FeedSchedule.choices,
        default=FeedSchedule.DAILY,
    )
    subject = models.CharField(
        _("subject"),
        max_length=250,
        default=DEFAULT_SUBJECT,
        validators=[validate_single_line],
        help_text=_(
            "May use {{ feed.title }}, {{ feed.name }}, {{ items.count }}, "
            "{{ items.first.title }} and {{ date }}."
        ),
    )
    intro = models.TextField(
        _("introduction"),
        blank=True,
        help_text=_("Markdown above the items; merge tags such as {{ subscriber.name }} work."),
    )
    item_template = models.TextField(
        _("template for each item"),
        default=DEFAULT_ITEM_TEMPLATE,
        help_text=_(
            "Markdown for one item, with {{ item.title }}, {{ item.url }}, {{ item.summary }}, "
            "{{ item.date }} and {{ item.author }}. Items are separated by a new section."
        ),
    )
    max_items = models.PositiveSmallIntegerField(
        _("items per issue at most"),
        default=10,
        help_text=_("The newest new items go in; older ones beyond this are skipped."),
    )
    public = models.BooleanField(
        _("public"), default=True, help_text=_("Show its issues in the public archive and feed.")
    )
    active = models.BooleanField(_("active"), default=True)
    next_run_at = models.DateTimeField(editable=False)
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Why the last run made no issue when it should have (fetch, parse or compose);
    # empty after a run that went through.
    last_error = models.TextField(blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            # Only what beat looks at: active feeds, by due time.
            models.Index(fields=["next_run_at"], name="feed_due", condition=models.Q(active=True))
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse(
            "dashboard:feed_detail", kwargs={"slug": self.newsletter.slug, "pk": self.pk}
        )

    @property
    def interval(self) -> timedelta:
        return INTERVALS[FeedSchedule(self.schedule)]


class FeedItem(models.Model):
    """An item of a feed that was seen, so that it goes into one issue at most.

    Written in the transaction that creates the issue carrying it: both exist or
    neither does. ``key`` is a digest of the item's id (its guid), else its link,
    else its title and date; the unique constraint is the last word on "once".
    """

    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="items")
    key = models.CharField(max_length=64)
    title = models.CharField(max_length=500, blank=True)
    url = models.CharField(max_length=2000, blank=True)
    published = models.DateTimeField(null=True, blank=True)
    # The issue that carried it; null for an item skipped as older than an issue's
    # newest ``max_items``, or whose issue was deleted since.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-seen_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["feed", "key"], name="feed_item_seen_once")]

    def __str__(self) -> str:
        return self.title or self.url or self.key
