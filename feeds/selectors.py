"""Reads for the feed pages and the API."""

from django.db.models import QuerySet

from campaigns.models import Campaign
from newsletter.models import Newsletter

from .models import Feed

RECENT_ISSUES = 10


def feeds_of(newsletter: Newsletter) -> QuerySet[Feed]:
    return Feed.objects.filter(newsletter=newsletter).select_related("layout")


def recent_issues(feed: Feed) -> QuerySet[Campaign]:
    """The issues the feed made, newest first (those not deleted since)."""
    return Campaign.objects.filter(
        newsletter_id=feed.newsletter_id, pk__in=feed.items.values("campaign")
    ).order_by("-created_at")[:RECENT_ISSUES]
