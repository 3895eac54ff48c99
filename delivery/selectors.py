"""Reads of the delivery ledger for pages and reports."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Q
from django.db.models.functions import Coalesce, Greatest

from campaigns.models import Campaign
from newsletter.models import Newsletter

from . import transports
from .models import (
    HAS_NEGATIVE_FEEDBACK,
    BounceType,
    Delivery,
    DeliveryEvent,
    Digest,
    FeedbackKind,
)

FEEDBACK_SHOWN = 100


def digest_campaigns(digest: Digest) -> list[Campaign]:
    """The issues a digest carries, oldest first, with their newsletter."""
    return list(
        Campaign.objects.filter(deliveries__digest=digest)
        .select_related("newsletter")
        .order_by("created_at", "pk")
    )


def sending_started_at(campaign: Campaign) -> datetime | None:
    """When the campaign started sending, or None if it never did.

    Every row of a campaign is inserted by one statement when sending starts
    (``audience.create_deliveries``), with one ``created_at``: any row says when, and
    the (campaign, subscriber) index finds one without reading the others.
    """
    rows = Delivery.objects.filter(campaign=campaign).values_list("created_at", flat=True)
    return next(iter(rows[:1]), None)


def feedback_counts(campaign: Campaign) -> dict[str, int]:
    """What the receiving side reported for a campaign, in messages (not events).

    Two index-only counts over partial indexes (``delivery_delivered`` and
    ``delivery_negative_feedback``), so a report page never scans a million rows.
    A message counts once per kind: delivered then reported as spam is in both. A
    person who left through the message counts once in ``unsubscribed``, whether by
    Crier's link, header or mailbox, the ESP's own, or several of them;
    ``esp_unsubscribed`` is the part the ESP reported.
    """
    rows = Delivery.objects.filter(campaign=campaign)
    negative = rows.filter(HAS_NEGATIVE_FEEDBACK).aggregate(
        bounced_hard=Count("campaign", filter=Q(bounce_type=BounceType.HARD)),
        bounced_soft=Count("campaign", filter=Q(bounce_type=BounceType.SOFT)),
        complained=Count("campaign", filter=Q(complained_at__isnull=False)),
        rejected=Count("campaign", filter=Q(rejected_at__isnull=False)),
        unsubscribed=Count(
            "campaign",
            filter=Q(unsubscribed_at__isnull=False) | Q(esp_unsubscribed_at__isnull=False),
        ),
        esp_unsubscribed=Count("campaign", filter=Q(esp_unsubscribed_at__isnull=False)),
    )
    return {"delivered": rows.filter(delivered_at__isnull=False).count(), **negative}


def reports_deliveries(newsletter: Newsletter) -> bool:
    """Whether the newsletter's mail leaves through a service that can say it arrived.

    Email services (anymail's backends) report deliveries through their tracking
    webhooks; an SMTP server and the built-in outbox never do, so their "delivered"
    stays 0 and the report says why instead of leaving a bare zero.
    """
    backend = transports.active_backend(newsletter.pk)
    path = transports.KINDS[backend.kind].path if backend else settings.EMAIL_BACKEND
    return path.startswith("anymail.")


@dataclass(frozen=True)
class FeedbackRow:
    """One bounced or complained-about message, as the report lists it."""

    address: str | None
    bounce_type: str
    complained: bool
    reason: str
    at: datetime

    @property
    def kinds(self) -> list[str]:
        """What happened, in words: a bounce type, a complaint, or both."""
        labels = [BounceType(self.bounce_type).label] if self.bounce_type else []
        return labels + ([FeedbackKind.COMPLAINED.label] if self.complained else [])


def latest_bounces_and_complaints(
    campaign: Campaign, *, limit: int = FEEDBACK_SHOWN
) -> list[FeedbackRow]:
    """The latest bounces and complaints of a campaign, with the receiving side's words.

    Two queries whatever the campaign's size: the rows come through the
    ``delivery_negative_feedback`` partial index (the filter repeats its condition so
    the planner can use it), the reasons from their events by the delivery's index.
    The reason is the newest event's text, or the row's own error once events are
    pruned. An erased subscriber's address is None.
    """
    deliveries = list(
        Delivery.objects.filter(HAS_NEGATIVE_FEEDBACK, campaign=campaign)
        .filter(Q(bounced_at__isnull=False) | Q(complained_at__isnull=False))
        .annotate(
            at=Greatest(
                Coalesce("bounced_at", "complained_at"), Coalesce("complained_at", "bounced_at")
            )
        )
        .select_related("subscriber")
        .only("bounce_type", "complained_at", "bounced_at", "last_error", "subscriber__email")
        .order_by("-at", "-id")[:limit]
    )
    reasons: dict[int, str] = {}
    for delivery_id, detail in (
        DeliveryEvent.objects.filter(
            delivery_id__in=[delivery.pk for delivery in deliveries],
            kind__in=(FeedbackKind.BOUNCED, FeedbackKind.COMPLAINED),
        )
        .exclude(detail="")
        .order_by("received_at", "id")
        .values_list("delivery_id", "detail")
    ):
        reasons[delivery_id] = detail
    return [
        FeedbackRow(
            address=delivery.subscriber.email,
            bounce_type=delivery.bounce_type,
            complained=delivery.complained_at is not None,
            reason=reasons.get(delivery.pk, delivery.last_error),
            at=delivery.at,
        )
        for delivery in deliveries
    ]
