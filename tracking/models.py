"""What happened to a campaign once sent: its links, and opens and clicks counted.

Every table but ``Event`` and ``Engagement`` holds counts only: nothing in them
can say who opened or clicked. ``Event`` and ``Engagement`` are written only for
newsletters whose policy is ``individual`` and for subscribers who have not opted
out (see ``services.flush``).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Link(models.Model):
    """A URL that was in a campaign: the only places a click redirect may lead.

    Rows are only ever added (``services.campaign_links``), so a link's id keeps
    meaning the same URL for as long as the mail that carries it exists.
    """

    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="tracked_links"
    )
    position = models.PositiveIntegerField(help_text=_("Order of first appearance in the mail."))
    url = models.TextField()
    clicks_human = models.BigIntegerField(default=0)
    clicks_machine = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign", "position"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "position"], name="one_link_per_position")
        ]

    def __str__(self) -> str:
        return self.url


class CampaignCount(models.Model):
    """The running totals of one campaign, kept by the flush so that reading is one row.

    Unique counts come from ``Engagement`` and so exist only for individual tracking.
    ``scanner_visits`` counts fetches of the hidden link no person can see or click.
    """

    campaign = models.OneToOneField(
        "campaigns.Campaign", on_delete=models.CASCADE, primary_key=True, related_name="counts"
    )
    opens_human = models.BigIntegerField(default=0)
    opens_machine = models.BigIntegerField(default=0)
    clicks_human = models.BigIntegerField(default=0)
    clicks_machine = models.BigIntegerField(default=0)
    scanner_visits = models.BigIntegerField(default=0)
    unique_opens_human = models.BigIntegerField(default=0)
    unique_opens_machine = models.BigIntegerField(default=0)
    unique_clicks_human = models.BigIntegerField(default=0)
    unique_clicks_machine = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"counts of campaign {self.campaign_id}"


class HourlyCount(models.Model):
    """Opens and clicks of one campaign in one hour (UTC): the timeline's rollup."""

    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="hourly_counts"
    )
    hour = models.DateTimeField()
    opens_human = models.BigIntegerField(default=0)
    opens_machine = models.BigIntegerField(default=0)
    clicks_human = models.BigIntegerField(default=0)
    clicks_machine = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["campaign", "hour"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "hour"], name="one_count_per_hour")
        ]

    def __str__(self) -> str:
        return f"campaign {self.campaign_id} at {self.hour:%Y-%m-%d %H:00}"


class VariantCount(models.Model):
    """Opens and clicks of one experiment variant's sample (``tokens``: its letter is in
    every token of its mail): counts only, the same under every policy."""

    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="variant_counts"
    )
    variant = models.CharField(max_length=1)
    opens_human = models.BigIntegerField(default=0)
    opens_machine = models.BigIntegerField(default=0)
    clicks_human = models.BigIntegerField(default=0)
    clicks_machine = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "variant"], name="one_count_per_variant")
        ]

    def __str__(self) -> str:
        return f"campaign {self.campaign_id}, variant {self.variant}"


class EventKind(models.TextChoices):
    OPEN = "open", _("Open")
    CLICK = "click", _("Click")
    SCANNER = "scanner", _("Hidden link fetched")


class AgentClass(models.TextChoices):
    """What fetched the pixel or the link; the user agent itself is never kept."""

    APPLE_PROXY = "apple_proxy", _("Apple Mail privacy proxy")
    IMAGE_PROXY = "image_proxy", _("Webmail image proxy")
    SCANNER = "scanner", _("Security scanner or bot")
    DESKTOP = "desktop", _("Desktop")
    MOBILE = "mobile", _("Mobile")
    UNKNOWN = "unknown", _("Unknown")


class Event(models.Model):
    """One open or click by one subscriber: individual tracking only."""

    # No database foreign keys to the delivery ledger and subscribers, as in delivery:
    # rows are written in bulk from ids checked in the same transaction.
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="tracking_events"
    )
    delivery_id = models.BigIntegerField()
    subscriber = models.ForeignKey(
        "subscribers.Subscriber",
        on_delete=models.CASCADE,
        related_name="tracking_events",
        db_constraint=False,
    )
    kind = models.CharField(max_length=10, choices=EventKind.choices)
    link = models.ForeignKey(Link, on_delete=models.CASCADE, null=True, blank=True)
    machine = models.BooleanField(default=False)
    agent = models.CharField(max_length=12, choices=AgentClass.choices)
    ip = models.GenericIPAddressField(
        null=True, blank=True, help_text=_("Only when the newsletter records IP addresses.")
    )
    occurred_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["campaign", "occurred_at"]),
            models.Index(fields=["subscriber"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.delivery_id} at {self.occurred_at}"


class Engagement(models.Model):
    """What one recipient did with one campaign, first times and counts: individual only.

    It is how unique opens and clicks are counted without counting rows on read.
    """

    delivery_id = models.BigIntegerField(primary_key=True)
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="engagements"
    )
    subscriber = models.ForeignKey(
        "subscribers.Subscriber",
        on_delete=models.CASCADE,
        related_name="engagements",
        db_constraint=False,
    )
    first_human_open_at = models.DateTimeField(null=True, blank=True)
    first_machine_open_at = models.DateTimeField(null=True, blank=True)
    first_human_click_at = models.DateTimeField(null=True, blank=True)
    first_machine_click_at = models.DateTimeField(null=True, blank=True)
    scanner_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["campaign"]), models.Index(fields=["subscriber"])]

    def __str__(self) -> str:
        return f"engagement of delivery {self.delivery_id}"


class FlushedChunk(models.Model):
    """A chunk of buffered hits already counted: a flush that is retried skips it.

    Written in the same transaction as the counts, so a chunk is counted once even
    when the buffer could not be emptied after the commit (at-least-once flush,
    exactly-once counts).
    """

    batch = models.CharField(max_length=64)
    index = models.PositiveIntegerField()
    flushed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "index"], name="one_flush_per_chunk")
        ]

    def __str__(self) -> str:
        return f"{self.batch}#{self.index}"
