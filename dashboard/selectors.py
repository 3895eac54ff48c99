"""Reads for the newsletter home: each a few aggregate queries, whatever the audience size."""

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.cache import cache
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext

from campaigns.models import Campaign, Kind, Status
from campaigns.selectors import campaigns_of
from delivery.progress import sent_counts
from newsletter.models import Newsletter
from subscribers.models import ConsentEvent
from subscribers.selectors import JOINED, LEFT

RECENT_CAMPAIGNS = 5
GROWTH_DAYS = 30
PAST_DAYS_CACHE_SECONDS = 3600


@dataclass(frozen=True)
class Growth:
    """Subscriptions gained and lost per day, oldest first, every day present."""

    days: list[date]
    joined: list[int]
    left: list[int]

    @property
    def rows(self) -> list[tuple[date, int, int]]:
        """Newest first, for the table that gives the chart's figures to everyone."""
        return list(zip(self.days, self.joined, self.left, strict=True))[::-1]

    def chart(self) -> dict:
        """The ``data-chart`` payload (see docs/dashboard.md)."""
        return {
            "type": "bars",
            "x": [day.isoformat() for day in self.days],
            "series": [
                {"label": gettext("Joined"), "values": self.joined},
                {"label": gettext("Left"), "values": self.left},
            ],
        }


def recent_campaigns(newsletter: Newsletter, *, limit: int = RECENT_CAMPAIGNS) -> list[Campaign]:
    """The latest campaigns, each with ``sent_count``.

    Counted as on the sending page (``delivery.progress.sent_counts``): a finished
    million-recipient campaign costs a few index entries rather than a million.
    """
    campaigns = list(
        Campaign.objects.filter(newsletter=newsletter, kind=Kind.ISSUE)
        .only("name", "status", "send_at", "sent_at", "updated_at", "recipient_count")
        .order_by("-created_at", "-id")[:limit]
    )
    sent = sent_counts(campaigns)
    for campaign in campaigns:
        campaign.sent_count = sent[campaign.pk]
    return campaigns


def next_scheduled(newsletter: Newsletter) -> Campaign | None:
    return (
        campaigns_of(newsletter)
        .filter(status=Status.SCHEDULED, send_at__isnull=False)
        .order_by("send_at")
        .first()
    )


def growth(newsletter: Newsletter, *, days: int = GROWTH_DAYS) -> Growth:
    """Per-day joins and departures from the consent ledger, in the newsletter's time zone.

    The ledger is append-only and stamped when written, so finished days do not
    change: they are counted once and kept in the cache for an hour, and each
    request counts only today's events. Both are one grouped query over the
    (newsletter, created_at) index, whose cost follows the events in the range,
    not the number of subscribers.
    """
    zone = zoneinfo.ZoneInfo(newsletter.timezone)
    today = timezone.localdate(timezone=zone)
    first = today - timedelta(days=days - 1)
    midnight = datetime.combine(today, time.min, tzinfo=zone)
    past = cache.get_or_set(
        f"dashboard:growth:{newsletter.pk}:{newsletter.timezone}:{first}:{today}",
        lambda: _per_day(
            newsletter, zone, datetime.combine(first, time.min, tzinfo=zone), midnight
        ),
        timeout=PAST_DAYS_CACHE_SECONDS,
    )
    by_day = {**past, **_per_day(newsletter, zone, midnight, None)}
    all_days = [first + timedelta(days=offset) for offset in range(days)]
    return Growth(
        days=all_days,
        joined=[by_day.get(day, (0, 0))[0] for day in all_days],
        left=[by_day.get(day, (0, 0))[1] for day in all_days],
    )


def _per_day(
    newsletter: Newsletter, zone: zoneinfo.ZoneInfo, since: datetime, until: datetime | None
) -> dict[date, tuple[int, int]]:
    events = ConsentEvent.objects.filter(newsletter=newsletter, created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    rows = (
        events.annotate(day=TruncDate("created_at", tzinfo=zone))
        .values("day")
        .annotate(joined=Count("id", filter=JOINED), left=Count("id", filter=LEFT))
        .order_by()
    )
    return {row["day"]: (row["joined"], row["left"]) for row in rows}
