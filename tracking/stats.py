"""A campaign's engagement statistics, read from rollups the flush keeps.

Reading never counts raw events: a campaign's page costs the same at 1,000 and at
1,000,000 recipients (one row of totals, one row per link, one per active hour).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils.translation import gettext

from campaigns.models import Campaign
from delivery.progress import Progress, campaign_progress
from newsletter.models import TrackingPolicy

from .models import CampaignCount, HourlyCount, Link

HOURLY_SPAN = timedelta(hours=48)


@dataclass(frozen=True)
class Counts:
    total: int
    human: int
    machine: int
    unique_human: int | None
    unique_machine: int | None


@dataclass(frozen=True)
class LinkClicks:
    url: str
    position: int
    clicks_human: int
    clicks_machine: int


@dataclass(frozen=True)
class Period:
    start: datetime
    hours: int
    opens_human: int
    opens_machine: int
    clicks_human: int
    clicks_machine: int


@dataclass(frozen=True)
class CampaignStats:
    """Engagement of one campaign, from rollups: three indexed reads, whatever the size.

    Unique counts are None unless the newsletter tracks individually; delivery
    outcomes (delivered, bounced, complained) come from the ESP's events, apart.
    """

    tracking_policy: str
    recipients: int
    sent: int
    opens: Counts
    clicks: Counts
    scanner_visits: int
    links: list[LinkClicks]
    timeline: list[Period]
    started_at: datetime | None = None
    timezone: str = "UTC"

    @property
    def period(self) -> tuple[datetime, datetime] | None:
        """From the hour sending started (or the first hit, if earlier) to the end of the
        last period with a hit: what the timeline's axis spans."""
        if not self.timeline:
            return None
        first, last = self.timeline[0], self.timeline[-1]
        start = min(first.start, self.started_at or first.start)
        start = start.replace(minute=0, second=0, microsecond=0)
        return start, last.start + timedelta(hours=last.hours)

    def chart(self) -> dict:
        """The timeline as a ``data-chart`` line payload (see docs/dashboard.md).

        Each period is drawn at its middle, and the axis is given the campaign's
        period: left to itself, uPlot spreads a single instant over a thousand days.
        """
        series = (
            (gettext("Opens by people"), "opens_human"),
            (gettext("Opens by machines"), "opens_machine"),
            (gettext("Clicks by people"), "clicks_human"),
            (gettext("Clicks by machines"), "clicks_machine"),
        )
        payload = {
            "type": "line",
            "x": [
                _instant(period.start + timedelta(hours=period.hours) / 2)
                for period in self.timeline
            ],
            "series": [
                {"label": label, "values": [getattr(period, field) for period in self.timeline]}
                for label, field in series
            ],
            "timezone": self.timezone,
        }
        if self.period:
            payload["range"] = [_instant(moment) for moment in self.period]
        return payload


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def campaign_stats(campaign: Campaign, *, progress: Progress | None = None) -> CampaignStats:
    progress = progress or campaign_progress(campaign=campaign)
    counts = CampaignCount.objects.filter(campaign=campaign).first() or CampaignCount()
    individual = campaign.newsletter.tracking_policy == TrackingPolicy.INDIVIDUAL

    def summary(kind: str) -> Counts:
        human, machine = getattr(counts, f"{kind}_human"), getattr(counts, f"{kind}_machine")
        return Counts(
            total=human + machine,
            human=human,
            machine=machine,
            unique_human=getattr(counts, f"unique_{kind}_human") if individual else None,
            unique_machine=getattr(counts, f"unique_{kind}_machine") if individual else None,
        )

    return CampaignStats(
        tracking_policy=campaign.newsletter.tracking_policy,
        recipients=progress.total,
        sent=progress.sent,
        opens=summary("opens"),
        clicks=summary("clicks"),
        scanner_visits=counts.scanner_visits,
        links=[
            LinkClicks(*row)
            for row in Link.objects.filter(campaign=campaign)
            .order_by("position")
            .values_list("url", "position", "clicks_human", "clicks_machine")
        ],
        timeline=timeline(campaign),
        started_at=progress.started_at,
        timezone=campaign.newsletter.timezone,
    )


def timeline(campaign: Campaign) -> list[Period]:
    """Hourly for the first 48 hours after the first hit, then daily."""
    rows = HourlyCount.objects.filter(campaign=campaign).order_by("hour")
    periods: list[Period] = []
    start = None
    for row in rows:
        start = start or row.hour
        elapsed = row.hour - start
        if elapsed < HOURLY_SPAN:
            period_start, hours = row.hour, 1
        else:
            days = (elapsed - HOURLY_SPAN) // timedelta(days=1)
            period_start, hours = start + HOURLY_SPAN + timedelta(days=days), 24
        if periods and periods[-1].start == period_start:
            last = periods.pop()
            periods.append(
                Period(
                    period_start,
                    hours,
                    last.opens_human + row.opens_human,
                    last.opens_machine + row.opens_machine,
                    last.clicks_human + row.clicks_human,
                    last.clicks_machine + row.clicks_machine,
                )
            )
        else:
            periods.append(
                Period(
                    period_start,
                    hours,
                    row.opens_human,
                    row.opens_machine,
                    row.clicks_human,
                    row.clicks_machine,
                )
            )
    return periods
