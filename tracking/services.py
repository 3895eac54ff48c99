"""Tracking's business rules: tracked mail, recording hits, and counting them.

The endpoints only check a token and append a record to the buffer; ``flush``
turns records into counts in PostgreSQL, applying the newsletter's policy as it
stands then (a subscriber who opted out after the mail left is counted in the
aggregate only). Nothing here unsubscribes or suppresses anyone: an open or a
click, human or not, only ever changes counts.
"""

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.rendering import Rendered
from campaigns.rendering.mergetags import Slot
from delivery.models import Delivery
from newsletter.links import absolute_url
from newsletter.models import TrackingPolicy

from . import rewriting, selectors, tokens
from .agents import MACHINES
from .buffer import Chunk, get_buffer
from .models import (
    CampaignCount,
    Engagement,
    Event,
    EventKind,
    FlushedChunk,
    HourlyCount,
    Link,
    VariantCount,
)

logger = logging.getLogger(__name__)

# A fetch this soon after the message left is a gateway or a prefetcher, not a reader.
MACHINE_SECONDS = 10
# Clicks this close to a fetch of the hidden link, on the same message, are the scanner's.
SCANNER_SECONDS = 60
CHUNK_SIZE = 5000
TOKEN_HOLE = "TOKENHOLE"  # noqa: S105 (a placeholder, not a secret)
FLUSH_LOCK = "tracking:flush-lock"
FLUSH_LOCK_SECONDS = 300
FLUSHED_CHUNKS_KEPT = timedelta(days=7)
KINDS = {
    tokens.OPEN: EventKind.OPEN,
    tokens.CLICK: EventKind.CLICK,
    tokens.SCANNER: EventKind.SCANNER,
}


# Tracked mail, once per campaign


@transaction.atomic
def campaign_links(*, campaign: Campaign, urls: Iterable[str]) -> dict[str, int]:
    """The id of each URL's ``Link``, adding those the campaign did not have yet.

    Only ever adds, under the campaign's row lock, so that workers building the
    same campaign agree on ids and a link id never changes its URL.
    """
    Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
    known = dict(Link.objects.filter(campaign=campaign).values_list("url", "pk"))
    missing = [url for url in dict.fromkeys(urls) if url not in known]
    if missing:
        start = len(known)
        Link.objects.bulk_create(
            Link(campaign=campaign, url=url, position=start + offset)
            for offset, url in enumerate(missing)
        )
        known = dict(Link.objects.filter(campaign=campaign).values_list("url", "pk"))
    return known


@dataclass(frozen=True)
class Tracking:
    """A campaign's render with tracking added, and what each recipient adds to it."""

    rendered: Rendered
    campaign_id: int = 0
    individual: bool = False

    def values(self, *, delivery_id: int, opted_out: bool) -> dict[str, str]:
        """The recipient's part of every tracking token: one keyed hash, or nothing."""
        if not self.individual:
            return {}
        if opted_out:
            return {rewriting.READER_SLOT: ""}
        return {rewriting.READER_SLOT: tokens.reader(self.campaign_id, delivery_id)}


def campaign_tracking(*, campaign: Campaign, rendered: Rendered, variant: str = "") -> Tracking:
    """Rewrite the campaign's links and add the pixel, as its newsletter's policy says.

    The URLs are literal text in the chunks, the same for everyone (no cost per
    recipient); under individual tracking each token ends with a slot for the
    recipient's signed delivery id, left empty for those who opted out, which
    turns their links into the aggregate ones. An experiment variant's tokens carry
    its letter. Off, or a render with errors: the mail as it was.
    """
    policy = campaign.newsletter.tracking_policy
    if policy == TrackingPolicy.OFF or not rendered.ok:
        return Tracking(rendered=rendered)
    links = campaign_links(campaign=campaign, urls=rewriting.trackable_urls(rendered.html))
    individual = policy == TrackingPolicy.INDIVIDUAL
    reader = [Slot(rewriting.READER_SLOT)] if individual else []
    click_before, click_after = _around_token("tracking:click")
    open_before, open_after = _around_token("tracking:open")

    def click(kind: str, link_id: int) -> list[str | Slot]:
        token = tokens.sign(kind, campaign.pk, link_id, variant)
        return [click_before + token, *reader, click_after]

    html = rewriting.rewrite(
        rendered.html,
        link=lambda url: click(tokens.CLICK, links[url]),
        tail=[
            *rewriting.hidden_link(click(tokens.SCANNER, 0)),
            *rewriting.pixel(
                [
                    open_before + tokens.sign(tokens.OPEN, campaign.pk, 0, variant),
                    *reader,
                    open_after,
                ]
            ),
        ],
    )
    return Tracking(
        rendered=replace(rendered, html=html), campaign_id=campaign.pk, individual=individual
    )


def _around_token(viewname: str) -> tuple[str, str]:
    """The view's absolute URL cut where its token goes: one ``reverse`` per campaign."""
    before, _, after = absolute_url(viewname, token=TOKEN_HOLE).partition(TOKEN_HOLE)
    return before, after


# Hits, from the endpoints: no PostgreSQL write, at most a cached read


def record(*, claim: tokens.Claim, agent: str, ip: str) -> None:
    """Append one hit to the buffer, unless the campaign's newsletter does not track.

    The delivery is kept only under individual tracking, the IP address only when
    the newsletter also asked for it; the flush checks both again.
    """
    policy = selectors.tracking_policy(claim.campaign_id)
    if policy is None or policy.mode == TrackingPolicy.OFF:
        return
    individual = policy.mode == TrackingPolicy.INDIVIDUAL and claim.delivery_id
    delivery = claim.delivery_id if individual else 0
    address = ip if individual and policy.record_ip else ""
    get_buffer().push(
        f"{claim.kind}|{claim.campaign_id}|{claim.link_id}|{delivery}|"
        f"{time.time_ns() // 1_000_000}|{agent}|{address}|{claim.variant}"
    )


# The flush, from beat


@dataclass(slots=True)
class Hit:
    kind: str
    campaign_id: int
    link_id: int
    delivery_id: int
    at: datetime
    agent: str
    ip: str
    machine: bool = False
    variant: str = ""

    @classmethod
    def parse(cls, record: str) -> "Hit | None":
        try:
            # Records buffered before experiments existed have no variant field.
            kind, campaign, link, delivery, millis, agent, ip, *rest = record.split("|")
            variant = rest[0] if rest else ""
            if len(rest) > 1 or variant not in ("", *tokens.VARIANTS):
                raise ValueError(record)
            return cls(
                kind=KINDS[kind],
                campaign_id=int(campaign),
                link_id=int(link),
                delivery_id=int(delivery),
                at=datetime.fromtimestamp(int(millis) / 1000, tz=UTC),
                agent=agent,
                ip=ip,
                machine=agent in MACHINES,
                variant=variant,
            )
        except (KeyError, ValueError):
            logger.warning("unreadable tracking record dropped", extra={"record": record[:200]})
            return None


def flush(*, chunk_size: int = CHUNK_SIZE) -> int:
    """Count every buffered hit; return how many were counted now.

    One flush at a time (a lock in the cache); a flush that dies leaves its batch
    to the next one, which skips the chunks already committed.
    """
    if not cache.add(FLUSH_LOCK, 1, timeout=FLUSH_LOCK_SECONDS):
        return 0
    counted = 0
    try:
        buffer = get_buffer()
        for batch in buffer.batches():
            for chunk in buffer.chunks(batch, chunk_size):
                counted += _count_chunk(chunk)
            buffer.finish(batch)
        FlushedChunk.objects.filter(flushed_at__lt=timezone.now() - FLUSHED_CHUNKS_KEPT).delete()
    finally:
        cache.delete(FLUSH_LOCK)
    if counted:
        logger.info("tracking hits counted", extra={"hits": counted})
    return counted


@transaction.atomic
def _count_chunk(chunk: Chunk) -> int:
    _, new = FlushedChunk.objects.get_or_create(batch=chunk.batch, index=chunk.index)
    if not new:
        return 0
    hits = [hit for hit in map(Hit.parse, chunk.records) if hit is not None]
    policies = selectors.tracking_policies({hit.campaign_id for hit in hits})
    hits = [
        hit
        for hit in hits
        if hit.campaign_id in policies and policies[hit.campaign_id].mode != TrackingPolicy.OFF
    ]
    people = _individuals(hits, policies)
    for hit in hits:
        if hit.delivery_id not in people:
            hit.delivery_id, hit.ip = 0, ""
    _judge_timing(hits, people)
    _add_counts(hits, _add_engagements(hits, people))
    Event.objects.bulk_create(
        Event(
            campaign_id=hit.campaign_id,
            delivery_id=hit.delivery_id,
            subscriber_id=people[hit.delivery_id].subscriber_id,
            kind=hit.kind,
            link_id=hit.link_id or None,
            machine=hit.machine,
            agent=hit.agent,
            ip=hit.ip if policies[hit.campaign_id].record_ip and hit.ip else None,
            occurred_at=hit.at,
        )
        for hit in hits
        if hit.delivery_id
    )
    return len(hits)


@dataclass(frozen=True, slots=True)
class Person:
    subscriber_id: int
    sent_at: datetime | None


def _individuals(hits: list[Hit], policies: dict) -> dict[int, Person]:
    """The deliveries that may be tracked individually, as the newsletter and person say now."""
    wanted = {
        hit.delivery_id
        for hit in hits
        if hit.delivery_id and policies[hit.campaign_id].mode == TrackingPolicy.INDIVIDUAL
    }
    if not wanted:
        return {}
    rows = Delivery.objects.filter(pk__in=wanted, subscriber__tracking_opt_out=False).values_list(
        "pk", "campaign_id", "subscriber_id", "sent_at"
    )
    campaign_of = {hit.delivery_id: hit.campaign_id for hit in hits}
    return {
        pk: Person(subscriber_id, sent_at)
        for pk, campaign_id, subscriber_id, sent_at in rows
        if campaign_of[pk] == campaign_id
    }


def _judge_timing(hits: list[Hit], people: dict[int, Person]) -> None:
    """Individual hits only: too soon after sending, or beside a hidden-link fetch."""
    seen = dict(
        Engagement.objects.filter(
            delivery_id__in={hit.delivery_id for hit in hits if hit.delivery_id},
            scanner_seen_at__isnull=False,
        ).values_list("delivery_id", "scanner_seen_at")
    )
    scanned: dict[int, list[datetime]] = defaultdict(list)
    for delivery_id, at in seen.items():
        scanned[delivery_id].append(at)
    for hit in hits:
        if hit.kind == EventKind.SCANNER:
            hit.machine = True
            if hit.delivery_id:
                scanned[hit.delivery_id].append(hit.at)
    window = timedelta(seconds=SCANNER_SECONDS)
    for hit in hits:
        if not hit.delivery_id or hit.machine:
            continue
        sent_at = people[hit.delivery_id].sent_at
        too_soon = sent_at is not None and hit.at - sent_at < timedelta(seconds=MACHINE_SECONDS)
        beside_scanner = any(abs(hit.at - at) <= window for at in scanned[hit.delivery_id])
        hit.machine = too_soon or beside_scanner


FIRSTS = {
    (EventKind.OPEN, False): "first_human_open_at",
    (EventKind.OPEN, True): "first_machine_open_at",
    (EventKind.CLICK, False): "first_human_click_at",
    (EventKind.CLICK, True): "first_machine_click_at",
}
UNIQUE_COUNTS = {
    "first_human_open_at": "unique_opens_human",
    "first_machine_open_at": "unique_opens_machine",
    "first_human_click_at": "unique_clicks_human",
    "first_machine_click_at": "unique_clicks_machine",
}


def _add_engagements(hits: list[Hit], people: dict[int, Person]) -> Counter:
    """First times per recipient; returns the unique counts gained, per (campaign, column)."""
    individual = sorted((hit for hit in hits if hit.delivery_id), key=lambda hit: hit.at)
    if not individual:
        return Counter()
    known = {
        engagement.delivery_id: engagement
        for engagement in Engagement.objects.select_for_update().filter(
            delivery_id__in={hit.delivery_id for hit in individual}
        )
    }
    new: dict[int, Engagement] = {}
    changed: set[int] = set()
    gained: Counter = Counter()
    for hit in individual:
        engagement = known.get(hit.delivery_id) or new.get(hit.delivery_id)
        if engagement is None:
            engagement = new[hit.delivery_id] = Engagement(
                delivery_id=hit.delivery_id,
                campaign_id=hit.campaign_id,
                subscriber_id=people[hit.delivery_id].subscriber_id,
            )
        column = (
            "scanner_seen_at" if hit.kind == EventKind.SCANNER else FIRSTS[(hit.kind, hit.machine)]
        )
        if getattr(engagement, column) is None:
            setattr(engagement, column, hit.at)
            changed.add(hit.delivery_id)
            if column in UNIQUE_COUNTS:
                gained[(hit.campaign_id, UNIQUE_COUNTS[column])] += 1
    Engagement.objects.bulk_create(new.values())
    Engagement.objects.bulk_update(
        [known[pk] for pk in changed if pk in known], [*FIRSTS.values(), "scanner_seen_at"]
    )
    return gained


COUNT_COLUMNS = ["opens_human", "opens_machine", "clicks_human", "clicks_machine"]


def _column(hit: Hit) -> str:
    kind = "opens" if hit.kind == EventKind.OPEN else "clicks"
    return f"{kind}_{'machine' if hit.machine else 'human'}"


def _add_counts(hits: list[Hit], unique: Counter) -> None:
    totals: dict[int, Counter] = defaultdict(Counter)
    hours: dict[tuple[int, datetime], Counter] = defaultdict(Counter)
    links: dict[int, Counter] = defaultdict(Counter)
    variants: dict[tuple[int, str], Counter] = defaultdict(Counter)
    for hit in hits:
        if hit.kind == EventKind.SCANNER:
            totals[hit.campaign_id]["scanner_visits"] += 1
            continue
        column = _column(hit)
        totals[hit.campaign_id][column] += 1
        if hit.variant:
            variants[(hit.campaign_id, hit.variant)][column] += 1
        hours[(hit.campaign_id, hit.at.replace(minute=0, second=0, microsecond=0))][column] += 1
        if hit.link_id:
            links[hit.link_id][column] += 1
    for (campaign_id, column), gained in unique.items():
        totals[campaign_id][column] += gained
    total_columns = [
        *COUNT_COLUMNS,
        "scanner_visits",
        *UNIQUE_COUNTS.values(),
    ]
    _increment(
        CampaignCount._meta.db_table,
        ["campaign_id"],
        total_columns,
        [([campaign_id], counts) for campaign_id, counts in totals.items()],
        extra={"updated_at": timezone.now()},
    )
    _increment(
        HourlyCount._meta.db_table,
        ["campaign_id", "hour"],
        COUNT_COLUMNS,
        [([campaign_id, hour], counts) for (campaign_id, hour), counts in hours.items()],
    )
    _increment(
        VariantCount._meta.db_table,
        ["campaign_id", "variant"],
        COUNT_COLUMNS,
        [([campaign_id, variant], counts) for (campaign_id, variant), counts in variants.items()],
    )
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {Link._meta.db_table} SET clicks_human = clicks_human + %s, "  # noqa: S608
            "clicks_machine = clicks_machine + %s WHERE id = %s",
            [
                (counts["clicks_human"], counts["clicks_machine"], link_id)
                for link_id, counts in links.items()
            ],
        )


def _increment(
    table: str,
    keys: list[str],
    columns: list[str],
    rows: list[tuple[list, Counter]],
    extra: dict | None = None,
) -> None:
    """Add counts to rollup rows, creating them as needed: one upsert statement."""
    if not rows:
        return
    extra = extra or {}
    names = [*keys, *columns, *extra]
    values = ", ".join(["(" + ", ".join(["%s"] * len(names)) + ")"] * len(rows))
    updates = ", ".join(
        [f"{column} = {table}.{column} + excluded.{column}" for column in columns]
        + [f"{column} = excluded.{column}" for column in extra]
    )
    params = [
        value
        for key_values, counts in rows
        for value in (*key_values, *(counts[column] for column in columns), *extra.values())
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES {values} "  # noqa: S608
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}",
            params,
        )
