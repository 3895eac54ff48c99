"""How far a campaign's send has got: counts by state, the send rate and the time left,
cheap at any size (only rows not yet sent are counted), and the uncertain rows an
editor settles.
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db.models import Count
from django.utils import timezone

from campaigns.models import Campaign, Status

from .models import Delivery, DeliveryStatus
from .selectors import sending_started_at


@dataclass(frozen=True)
class Progress:
    total: int
    queued: int
    sending: int
    sent: int
    failed: int
    skipped: int
    uncertain: int
    per_second: float
    eta_seconds: float | None
    started_at: datetime | None = None
    # Of ``queued``: rows waiting for their reader's local hour (or a spent quota).
    waiting: int = 0
    # Readers who get it in their weekly or monthly digest, not yet sent.
    in_digest: int = 0

    @property
    def done(self) -> int:
        """Rows with an outcome: the progress bar's value."""
        return self.sent + self.failed + self.skipped + self.uncertain


def campaign_progress(*, campaign: Campaign) -> Progress:
    """Counts by state, cheap at any size: only the rows not yet sent are counted.

    ``sent`` is what remains of the recipient count fixed when sending started, so a
    finished million-recipient campaign costs a few index entries, not a million.
    The rate is the average over about the last minute while sending
    (``_send_rate``) and over the whole send once it is finished.
    """
    counts = dict(
        Delivery.objects.filter(campaign=campaign, status__in=NOT_SENT)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    # Read afresh: the caller's copy may predate the start or the end of sending.
    total, status, sent_at = (
        Campaign.objects.filter(pk=campaign.pk)
        .values_list("recipient_count", "status", "sent_at")
        .get()
    )
    total = total or 0
    sent = total - sum(counts.values())
    started_at = sending_started_at(campaign)
    per_second = 0.0
    if status == Status.SENDING:
        per_second = _send_rate(campaign.pk, sent, started_at)
    elif status == Status.SENT and started_at and sent_at:
        per_second = sent / max((sent_at - started_at).total_seconds(), 1)
    queued = counts.get(DeliveryStatus.QUEUED, 0)
    sending = counts.get(DeliveryStatus.CLAIMED, 0) + counts.get(DeliveryStatus.IN_FLIGHT, 0)
    waiting = (
        Delivery.objects.filter(
            campaign=campaign, status=DeliveryStatus.QUEUED, next_attempt_at__gt=timezone.now()
        ).count()
        if queued
        else 0
    )
    return Progress(
        total=total,
        queued=queued,
        sending=sending,
        sent=sent,
        failed=counts.get(DeliveryStatus.FAILED, 0),
        skipped=counts.get(DeliveryStatus.SKIPPED, 0),
        uncertain=counts.get(DeliveryStatus.UNCERTAIN, 0),
        per_second=round(per_second, 1),
        eta_seconds=round((queued - waiting + sending) / per_second)
        if per_second and status == Status.SENDING
        else None,
        started_at=started_at,
        waiting=waiting,
        in_digest=counts.get(DeliveryStatus.IN_DIGEST, 0),
    )


NOT_SENT = [status for status in DeliveryStatus.values if status != DeliveryStatus.SENT]


def sent_counts(campaigns: Iterable[Campaign]) -> dict[int, int]:
    """Messages sent per campaign, by the same rule as ``campaign_progress``: the recipient
    count fixed at start minus the rows not sent, in one grouped query."""
    campaigns = list(campaigns)
    not_sent = dict(
        Delivery.objects.filter(
            campaign_id__in=[campaign.pk for campaign in campaigns], status__in=NOT_SENT
        )
        .values_list("campaign_id")
        .annotate(n=Count("id"))
    )
    return {
        campaign.pk: (campaign.recipient_count or 0) - not_sent.get(campaign.pk, 0)
        for campaign in campaigns
    }


# The rate is measured over about a minute: a campaign is sent in batches, and over a
# few seconds the count jumps, then stands still (a rate flipping between 3.1 and 0).
RATE_WINDOW_SECONDS = 60
RATE_SNAPSHOT_SECONDS = 5
RATE_MIN_SPAN_SECONDS = 20


def _send_rate(campaign_id: int, sent: int, started_at: datetime | None) -> float:
    """Messages per second while sending, averaged over up to RATE_WINDOW_SECONDS.

    Snapshots of the sent count (at most one every RATE_SNAPSHOT_SECONDS, kept for the
    window) are shared through the cache by every viewer. The rate runs from the oldest
    snapshot once it is RATE_MIN_SPAN_SECONDS old; before that, and for a first viewer
    of a long send, from the start of sending, when nothing was sent.
    """
    key = f"delivery:rate:{campaign_id}"
    now = time.time()
    snapshots = [(at, count) for at, count in cache.get(key, []) if now - at <= RATE_WINDOW_SECONDS]
    if not snapshots or now - snapshots[-1][0] >= RATE_SNAPSHOT_SECONDS:
        cache.set(key, [*snapshots, (now, sent)], timeout=RATE_WINDOW_SECONDS * 2)
    if snapshots and now - snapshots[0][0] >= RATE_MIN_SPAN_SECONDS:
        since, baseline = snapshots[0]
    elif started_at is not None:
        since, baseline = started_at.timestamp(), 0
    else:
        return 0.0
    elapsed = now - since
    return max(sent - baseline, 0) / elapsed if elapsed >= 1 else 0.0


UNCERTAIN_SHOWN = 500


def uncertain_rows(campaign: Campaign) -> list[Delivery]:
    """The campaign's uncertain rows (at most one per worker that died mid-send, or an
    ESP call whose answer was lost), with their subscriber, oldest first."""
    return list(
        Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.UNCERTAIN)
        .select_related("subscriber")
        .order_by("id")[:UNCERTAIN_SHOWN]
    )
