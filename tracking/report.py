"""A sent campaign's report: engagement from the rollups beside what the receiving side said.

Everything here is read from rollup rows and partial indexes, so the page and its
CSV cost the same few queries at 1,000 and at 1,000,000 recipients.
"""

import csv
import io
from dataclasses import dataclass

from django.db.models import Count, OuterRef, Q, Subquery

from campaigns.models import Campaign
from delivery import selectors as delivery_selectors
from delivery.models import Delivery, DeliveryStatus
from newsletter.models import TrackingPolicy
from subscribers.exporting import escape_cell

from .models import Engagement
from .stats import CampaignStats, Counts, campaign_stats

FEEDBACK_KEYS = ("delivered", "bounced_hard", "bounced_soft", "complained", "rejected")


@dataclass(frozen=True)
class LinkShare:
    url: str
    position: int
    clicks_human: int
    clicks_machine: int
    total: int
    percent: float


@dataclass(frozen=True)
class Report:
    stats: CampaignStats
    feedback: dict[str, int]

    @property
    def tracking_off(self) -> bool:
        return self.stats.tracking_policy == TrackingPolicy.OFF

    @property
    def individual(self) -> bool:
        return self.stats.tracking_policy == TrackingPolicy.INDIVIDUAL

    @property
    def has_problems(self) -> bool:
        """Whether any message bounced or was reported as spam: known from the
        index-only counts, it spares the list's query for the many campaigns with none."""
        return any(self.feedback[key] for key in ("bounced_hard", "bounced_soft", "complained"))

    @property
    def links(self) -> list[LinkShare]:
        """The click map, each link with its share of all clicks on links."""
        all_clicks = sum(link.clicks_human + link.clicks_machine for link in self.stats.links)
        return [
            LinkShare(
                url=link.url,
                position=link.position,
                clicks_human=link.clicks_human,
                clicks_machine=link.clicks_machine,
                total=link.clicks_human + link.clicks_machine,
                percent=round(
                    100 * (link.clicks_human + link.clicks_machine) / all_clicks
                    if all_clicks
                    else 0,
                    1,
                ),
            )
            for link in self.stats.links
        ]


def campaign_report(campaign: Campaign) -> Report:
    return Report(
        stats=campaign_stats(campaign), feedback=delivery_selectors.feedback_counts(campaign)
    )


def summary_rows(report: Report) -> list[tuple[str, int | str]]:
    """(key, value) of the headline numbers, as the CSV names them."""
    stats = report.stats
    rows: list[tuple[str, int | str]] = [
        ("recipients", stats.recipients),
        ("sent", stats.sent),
        *((key, report.feedback[key]) for key in FEEDBACK_KEYS),
        ("unsubscribed", report.feedback["unsubscribed"]),
        ("esp_unsubscribed", report.feedback["esp_unsubscribed"]),
        ("tracking_policy", stats.tracking_policy),
    ]
    if report.tracking_off:
        return rows
    for kind, counts in (("opens", stats.opens), ("clicks", stats.clicks)):
        rows += _count_rows(kind, counts)
    return [*rows, ("scanner_visits", stats.scanner_visits)]


def _count_rows(kind: str, counts: Counts) -> list[tuple[str, int | str]]:
    rows: list[tuple[str, int | str]] = [
        (f"{kind}_total", counts.total),
        (f"{kind}_human", counts.human),
        (f"{kind}_machine", counts.machine),
    ]
    if counts.unique_human is not None and counts.unique_machine is not None:
        rows += [
            (f"unique_{kind}_human", counts.unique_human),
            (f"unique_{kind}_machine", counts.unique_machine),
        ]
    return rows


def report_csv(report: Report) -> str:
    """The report as CSV: the summary, then the click map, then the timeline, each
    block with its own header and a blank line between. Every text cell is escaped
    so that a link such as ``=HYPERLINK(…)`` stays text in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out)

    def block(header: list[str], rows) -> None:
        writer.writerow(header)
        writer.writerows(
            [escape_cell(cell) if isinstance(cell, str) else cell for cell in row] for row in rows
        )

    block(["metric", "value"], summary_rows(report))
    if not report.tracking_off:
        writer.writerow([])
        block(
            ["position", "url", "clicks_human", "clicks_machine"],
            (
                (link.position, link.url, link.clicks_human, link.clicks_machine)
                for link in report.stats.links
            ),
        )
        writer.writerow([])
        block(
            [
                "period_start",
                "hours",
                "opens_human",
                "opens_machine",
                "clicks_human",
                "clicks_machine",
            ],
            (
                (
                    period.start.isoformat(),
                    period.hours,
                    period.opens_human,
                    period.opens_machine,
                    period.clicks_human,
                    period.clicks_machine,
                )
                for period in report.stats.timeline
            ),
        )
    return out.getvalue()


@dataclass(frozen=True)
class EditionCounts:
    """One edition's share of a campaign: who got it, and, under individual tracking
    only, how many of them opened or clicked (people, machines left out)."""

    language: str
    recipients: int
    sent: int
    failed: int
    human_opens: int | None
    human_clicks: int | None


def edition_counts(campaign: Campaign) -> list[EditionCounts]:
    """The report split by edition: empty for a campaign in one language.

    Each row records its edition when sending starts (``delivery.audience.create_deliveries``);
    engagement is per delivery, so it joins the same way.
    """
    if not campaign.editions.exists():
        return []
    rows = (
        Delivery.objects.filter(campaign=campaign)
        .values("edition")
        .annotate(
            recipients=Count("pk"),
            sent=Count("pk", filter=Q(status=DeliveryStatus.SENT)),
            failed=Count("pk", filter=Q(status=DeliveryStatus.FAILED)),
        )
        .order_by("edition")
    )
    individual = campaign.newsletter.tracking_policy == TrackingPolicy.INDIVIDUAL
    engaged: dict[str, dict] = {}
    if individual:
        edition = Delivery.objects.filter(pk=OuterRef("delivery_id")).values("edition")[:1]
        engaged = {
            row["edition"]: row
            for row in Engagement.objects.filter(campaign=campaign)
            .annotate(edition=Subquery(edition))
            .values("edition")
            .annotate(
                opens=Count("pk", filter=Q(first_human_open_at__isnull=False)),
                clicks=Count("pk", filter=Q(first_human_click_at__isnull=False)),
            )
            .order_by()
        }
    return [
        EditionCounts(
            language=row["edition"],
            recipients=row["recipients"],
            sent=row["sent"],
            failed=row["failed"],
            human_opens=engaged.get(row["edition"], {}).get("opens", 0) if individual else None,
            human_clicks=engaged.get(row["edition"], {}).get("clicks", 0) if individual else None,
        )
        for row in rows
    ]
