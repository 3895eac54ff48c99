import email
import email.policy
from email.message import EmailMessage

from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """A message the built-in outbox backend "sent": kept whole, exactly as SMTP would carry it.

    The summary columns exist for listing; the raw MIME bytes are the truth.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    from_email = models.TextField()
    recipients = models.JSONField(default=list)
    subject = models.TextField(blank=True)
    message_id = models.TextField(blank=True)
    raw = models.BinaryField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.subject or "(no subject)"

    def get_absolute_url(self) -> str:
        return reverse("dashboard:outbox_message", kwargs={"pk": self.pk})

    def parsed(self) -> EmailMessage:
        return email.message_from_bytes(bytes(self.raw), policy=email.policy.default)

    def body(self, subtype: str) -> str:
        """The decoded ``text/<subtype>`` part, or an empty string when there is none."""
        part = self.parsed().get_body(preferencelist=(subtype,))
        return part.get_content() if part is not None else ""


class DeliveryStatus(models.TextChoices):
    """One recipient's message through a campaign.

    queued → claimed (leased by a worker) → in_flight (being handed to the server)
    → sent | failed | skipped. ``uncertain``: its worker died while the message was
    in flight, so it may or may not have left; it is never resent automatically.
    """

    QUEUED = "queued", _("Queued")
    CLAIMED = "claimed", _("Claimed by a worker")
    IN_FLIGHT = "in_flight", _("Being sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")
    UNCERTAIN = "uncertain", _("Uncertain")


UNFINISHED = (DeliveryStatus.QUEUED, DeliveryStatus.CLAIMED, DeliveryStatus.IN_FLIGHT)


class Delivery(models.Model):
    """The per-recipient ledger of a campaign: one row per (campaign, subscriber), ever."""

    # No database-level foreign keys: checking two of them for each of a million rows
    # would double the time to start a campaign. The rows are only ever inserted from
    # existing ids (create_deliveries), subscribers are never deleted (erasure empties
    # them), and Django still cascades when a campaign is deleted.
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_constraint=False,
    )
    subscriber = models.ForeignKey(
        "subscribers.Subscriber",
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_constraint=False,
    )
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    esp_message_id = models.CharField(max_length=255, blank=True, default="")
    worker = models.CharField(max_length=255, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "subscriber"], name="one_delivery_per_recipient"
            )
        ]
        indexes = [
            models.Index(fields=["campaign", "status", "id"]),
            # The sweeper's question every 30 s — which leases expired? — must not scan
            # millions of finished rows: only rows being worked on are in this index.
            models.Index(
                fields=["lease_until"],
                condition=models.Q(status__in=["claimed", "in_flight"]),
                name="delivery_live_lease",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.subscriber_id}: {self.status}"
