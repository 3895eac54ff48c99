"""The transparency page's figures, kept in rollups by beat so the page only reads them.

``refresh`` (hourly, ``tasks.refresh_transparency``) fills three tables per newsletter
that publishes the page:

- ``AudienceMonth``: subscriptions joined and left per month (the consent ledger,
  counted as the dashboard's growth chart counts them) and people with a confirmed
  subscription at the month's end (the current month: now). A month over for a
  day is final and never counted again.
- ``IssueFigures``: each sent issue's recipients, opens and clicks by people
  (tracking's rollups: machines apart), and the unsubscribes recorded between it
  and the next issue. Final a month after the next issue went out.
- ``WordingUse``: each consent wording people agreed to, first and last used; only
  the ledger events since the last refresh are read.

Each read goes through the ledger's (newsletter, created_at) index or a campaign's
own rows, so a refresh costs what changed, and the page costs a few indexed reads
at any audience size.
"""

import hashlib
import logging
import zoneinfo
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Max, Min, Q
from django.db.models.functions import TruncMonth
from django.utils import timezone

from campaigns.models import Campaign, Status
from newsletter.models import Newsletter, TrackingPolicy
from subscribers.models import ConsentEvent, Subscription, SubscriptionStatus
from subscribers.selectors import JOINED, LEFT
from tracking.models import CampaignCount

from .. import tasks
from ..models import AudienceMonth, IssueFigures, ParticipationSettings, WordingUse

logger = logging.getLogger(__name__)

MONTHS_KEPT = 24
ISSUES_KEPT = 100
ISSUE_FINAL_AFTER = timedelta(days=30)


@transaction.atomic
def settings_update(
    *, newsletter: Newsletter, transparency_page: bool, referral_thanks: bool
) -> ParticipationSettings:
    """The owners' choices; turning the page on computes its figures right away."""
    found, _ = ParticipationSettings.objects.select_for_update().get_or_create(
        newsletter=newsletter
    )
    turned_on = transparency_page and not found.transparency_page
    found.transparency_page = transparency_page
    found.referral_thanks = referral_thanks
    found.save()
    if turned_on:
        tasks.refresh_transparency_of.delay_on_commit(newsletter.pk)
    return found


def refresh_all() -> int:
    newsletters = Newsletter.objects.filter(participation__transparency_page=True)
    count = 0
    for newsletter in newsletters:
        refresh(newsletter)
        count += 1
    return count


def refresh(newsletter: Newsletter) -> None:
    zone = zoneinfo.ZoneInfo(newsletter.timezone)
    _refresh_months(newsletter, zone)
    _refresh_issues(newsletter)
    _refresh_wordings(newsletter)
    logger.info("transparency figures refreshed", extra={"newsletter": newsletter.pk})


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _refresh_months(newsletter: Newsletter, zone: zoneinfo.ZoneInfo) -> None:
    now = timezone.now()
    this_month = _month_start(timezone.localdate(now, timezone=zone))
    oldest = this_month
    for _ in range(MONTHS_KEPT - 1):
        oldest = _month_start(oldest - timedelta(days=1))
    first_event = (
        ConsentEvent.objects.filter(newsletter=newsletter)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if first_event is None:
        return
    start = max(oldest, _month_start(timezone.localdate(first_event, timezone=zone)))
    final = set(
        AudienceMonth.objects.filter(newsletter=newsletter, final=True).values_list(
            "month", flat=True
        )
    )
    months = []
    month = start
    while month <= this_month:
        if month not in final:
            months.append(month)
        month = _next_month(month)
    if not months:
        return
    since = datetime.combine(months[0], time.min, tzinfo=zone)
    counted = {
        row["month"].date() if isinstance(row["month"], datetime) else row["month"]: row
        for row in ConsentEvent.objects.filter(newsletter=newsletter, created_at__gte=since)
        .annotate(month=TruncMonth("created_at", tzinfo=zone))
        .values("month")
        .annotate(joined=Count("id", filter=JOINED), left=Count("id", filter=LEFT))
        .order_by()
    }
    for month in months:
        end = datetime.combine(_next_month(month), time.min, tzinfo=zone)
        row = counted.get(month, {})
        AudienceMonth.objects.update_or_create(
            newsletter=newsletter,
            month=month,
            defaults={
                "joined": row.get("joined", 0),
                "left": row.get("left", 0),
                "subscribers": _subscribers_at(newsletter, min(end, now)),
                "final": end + timedelta(days=1) < now,
            },
        )
    AudienceMonth.objects.filter(newsletter=newsletter, month__lt=oldest).delete()


def _subscribers_at(newsletter: Newsletter, moment: datetime) -> int:
    """People with a confirmed subscription to one of the newsletter's lists at ``moment``,
    as the subscriptions say now (a subscription left and joined again counts from its
    latest confirmation)."""
    return (
        Subscription.objects.filter(
            mailing_list__newsletter=newsletter,
            status__in=[SubscriptionStatus.CONFIRMED, SubscriptionStatus.UNSUBSCRIBED],
            confirmed_at__lt=moment,
        )
        .filter(Q(unsubscribed_at__isnull=True) | Q(unsubscribed_at__gte=moment))
        .values("subscriber_id")
        .distinct()
        .count()
    )


def _refresh_issues(newsletter: Newsletter) -> None:
    now = timezone.now()
    issues = list(
        Campaign.objects.filter(newsletter=newsletter, status=Status.SENT, sent_at__isnull=False)
        .order_by("-sent_at", "-id")
        .values_list("pk", "sent_at", "recipient_count")[:ISSUES_KEPT]
    )
    final = set(
        IssueFigures.objects.filter(newsletter=newsletter, final=True).values_list(
            "campaign_id", flat=True
        )
    )
    individual = newsletter.tracking_policy == TrackingPolicy.INDIVIDUAL
    counts = {
        row.campaign_id: row
        for row in CampaignCount.objects.filter(campaign_id__in=[pk for pk, _, _ in issues])
    }
    following = None  # issues are newest first: the one after this one
    for pk, sent_at, recipients in issues:
        until = following or now
        if pk not in final:
            count = counts.get(pk) or CampaignCount()
            unsubscribes = (
                ConsentEvent.objects.filter(
                    newsletter=newsletter, created_at__gte=sent_at, created_at__lt=until
                )
                .filter(LEFT)
                .count()
            )
            IssueFigures.objects.update_or_create(
                campaign_id=pk,
                defaults={
                    "newsletter": newsletter,
                    "sent_at": sent_at,
                    "recipients": recipients or 0,
                    "opens_human": count.opens_human,
                    "clicks_human": count.clicks_human,
                    "unique_opens_human": count.unique_opens_human if individual else None,
                    "unique_clicks_human": count.unique_clicks_human if individual else None,
                    "unsubscribes": unsubscribes,
                    "final": following is not None and following + ISSUE_FINAL_AFTER < now,
                },
            )
        following = sent_at
    kept = [pk for pk, _, _ in issues]
    IssueFigures.objects.filter(newsletter=newsletter).exclude(campaign_id__in=kept).delete()


def _refresh_wordings(newsletter: Newsletter) -> None:
    since = WordingUse.objects.filter(newsletter=newsletter).aggregate(last=Max("last_used"))[
        "last"
    ]
    events = ConsentEvent.objects.filter(newsletter=newsletter).exclude(wording="")
    if since is not None:
        events = events.filter(created_at__gte=since)
    rows = events.values("wording").annotate(first=Min("created_at"), last=Max("created_at"))
    for row in rows.order_by():
        digest = hashlib.sha256(row["wording"].encode()).hexdigest()
        use, created = WordingUse.objects.get_or_create(
            newsletter=newsletter,
            digest=digest,
            defaults={
                "wording": row["wording"],
                "first_used": row["first"],
                "last_used": row["last"],
            },
        )
        if not created:
            use.first_used = min(use.first_used, row["first"])
            use.last_used = max(use.last_used, row["last"])
            use.save(update_fields=["first_used", "last_used"])
