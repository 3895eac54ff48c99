"""Reads of the delivery ledger for pages and reports."""

from django.db.models import Count, Q

from campaigns.models import Campaign

from .models import HAS_NEGATIVE_FEEDBACK, BounceType, Delivery


def feedback_counts(campaign: Campaign) -> dict[str, int]:
    """What the receiving side reported for a campaign, in messages (not events).

    Two index-only counts over partial indexes (``delivery_delivered`` and
    ``delivery_negative_feedback``), so a report page never scans a million rows.
    A message counts once per kind: delivered then reported as spam is in both.
    """
    rows = Delivery.objects.filter(campaign=campaign)
    negative = rows.filter(HAS_NEGATIVE_FEEDBACK).aggregate(
        bounced_hard=Count("campaign", filter=Q(bounce_type=BounceType.HARD)),
        bounced_soft=Count("campaign", filter=Q(bounce_type=BounceType.SOFT)),
        complained=Count("campaign", filter=Q(complained_at__isnull=False)),
        rejected=Count("campaign", filter=Q(rejected_at__isnull=False)),
        unsubscribed=Count("campaign", filter=Q(esp_unsubscribed_at__isnull=False)),
    )
    return {"delivered": rows.filter(delivered_at__isnull=False).count(), **negative}
