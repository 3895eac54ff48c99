"""Participation's reads: results, lists for the pages, the people links are for.

Results are read from the rollup columns, never by counting answers; what the
public sees goes through ``shown`` (no count under ``SMALLEST_SHOWN``).
"""

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncMonth
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from campaigns.models import Campaign, Status
from newsletter.models import Newsletter, TrackingPolicy
from subscribers.models import Subscriber, SubscriberStatus

from .models import (
    Answer,
    AudienceMonth,
    Call,
    Consultation,
    Goal,
    IssueFigures,
    ParticipationSettings,
    Question,
    QuestionKind,
    Referral,
    ReferrerProfile,
    SubmissionStatus,
    WordingUse,
)

# No figure below this is ever shown to the public: a count of 1 to 4 may point at a person.
SMALLEST_SHOWN = 5


def shown(count: int | None) -> int | None:
    """The count, or None when the public must not see it."""
    if count is None or count < SMALLEST_SHOWN:
        return None
    return count


def reader(newsletter: Newsletter, subscriber_id: int) -> Subscriber | None:
    """The newsletter's subscriber a signed link names, or None (erased, or not one of its
    people: a link is only ever made for someone the newsletter mailed)."""
    return (
        Subscriber.objects.filter(
            pk=subscriber_id, subscriptions__mailing_list__newsletter=newsletter
        )
        .exclude(status=SubscriberStatus.ERASED)
        .only("pk", "tracking_opt_out", "email", "name", "language")
        .first()
    )


@dataclass(frozen=True)
class ChoiceResult:
    pk: int
    label: str
    count: int | None
    percent: float | None


@dataclass(frozen=True)
class QuestionResult:
    question: Question
    respondents: int | None
    choices: list[ChoiceResult]
    texts: list[str]
    comments: list[str]

    @property
    def hidden(self) -> bool:
        return self.respondents is None


def results(consultation: Consultation, *, public: bool, texts_limit: int = 200) -> list:
    """Each question's counts and shares; for editors (``public=False``) also the
    free-text answers and comments, newest first, without who wrote them.

    Shares are of the people who answered the question (a multiple-choice question's
    add up to more than 100 %). For the public, counts under 5 are None and so are
    their shares; a question fewer than 5 people answered shows nothing.
    """
    questions = list(consultation.questions.prefetch_related("choices"))
    found = []
    for question in questions:
        respondents = question.respondents
        choices = []
        for choice in question.choices.all():
            count = choice.answers
            percent = round(100 * count / respondents, 1) if respondents else 0.0
            if public and (shown(count) is None or shown(respondents) is None):
                count, percent = None, None
            choices.append(ChoiceResult(choice.pk, choice.label, count, percent))
        texts, comments = [], []
        if not public:
            rows = Answer.objects.filter(question=question).order_by("-answered_at", "-id")
            if question.kind == QuestionKind.TEXT:
                texts = list(rows.exclude(text="").values_list("text", flat=True)[:texts_limit])
            comments = list(
                rows.exclude(comment="").values_list("comment", flat=True)[:texts_limit]
            )
        found.append(
            QuestionResult(
                question=question,
                respondents=shown(respondents) if public else respondents,
                choices=choices,
                texts=texts,
                comments=comments,
            )
        )
    return found


def public_consultations(newsletter: Newsletter) -> QuerySet[Consultation]:
    """Consultations whose results the newsletter made public, newest first."""
    return Consultation.objects.filter(newsletter=newsletter, public_results=True).prefetch_related(
        "questions__choices"
    )


def open_consultations(newsletter: Newsletter) -> QuerySet[Consultation]:
    return Consultation.objects.filter(newsletter=newsletter).filter(
        Q(closes_at__isnull=True) | Q(closes_at__gt=timezone.now())
    )


def consultations_of(newsletter: Newsletter) -> QuerySet[Consultation]:
    return Consultation.objects.filter(newsletter=newsletter).annotate(
        question_count=Count("questions")
    )


def calls_of(newsletter: Newsletter) -> QuerySet[Call]:
    """The calls, each with ``submission_count`` and ``waiting_count`` (to moderate)."""
    return Call.objects.filter(newsletter=newsletter).annotate(
        submission_count=Count("submissions"),
        waiting_count=Count(
            "submissions", filter=Q(submissions__status=SubmissionStatus.SUBMITTED)
        ),
    )


def goals_of(newsletter: Newsletter) -> QuerySet[Goal]:
    return Goal.objects.filter(newsletter=newsletter)


# The transparency page


@dataclass(frozen=True)
class MonthRow:
    month: date
    joined: int | None
    left: int | None
    subscribers: int | None


@dataclass(frozen=True)
class IssueRow:
    sent_at: datetime
    subject: str
    url: str
    recipients: int | None
    opens: float | None
    clicks: float | None
    unsubscribes: int | None


def _rate(part: int | None, whole: int | None) -> float | None:
    """A percentage only from counts the public may see."""
    if shown(part) is None or shown(whole) is None:
        return None
    return round(100 * part / whole, 1)


@dataclass(frozen=True)
class TransparencyPage:
    newsletter: Newsletter
    months: list[MonthRow]
    subscribers_now: int | None
    issues_sent: int | None
    issues: list[IssueRow]
    open_rate: float | None
    click_rate: float | None
    unique_rates: bool
    consultations: list[tuple[Consultation, list]]
    wordings: list
    retention: dict
    updated_at: datetime | None

    def audience_chart(self) -> dict:
        """Joined and left per month over the last year, as a ``data-chart`` payload;
        hidden figures and months before the first subscription are gaps."""
        zone = zoneinfo.ZoneInfo(self.newsletter.timezone)
        months = [timezone.localdate(timezone=zone).replace(day=1)]
        for _ in range(CHART_MONTHS - 1):
            months.insert(0, (months[0] - timedelta(days=1)).replace(day=1))
        rows = {row.month: row for row in self.months}
        return {
            "type": "bars",
            "x": [month.isoformat() for month in months],
            "series": [
                {
                    "label": gettext("Joined"),
                    "values": [getattr(rows.get(month), "joined", None) for month in months],
                },
                {
                    "label": gettext("Left"),
                    "values": [getattr(rows.get(month), "left", None) for month in months],
                },
            ],
        }


RATE_ISSUES = 12
CHART_MONTHS = 12


def transparency_page(newsletter: Newsletter) -> TransparencyPage | None:
    """Everything the page shows, from the rollups: a handful of indexed reads.

    None when the newsletter does not publish the page. No count under 5, nor a
    rate computed from one, leaves here.
    """
    published = ParticipationSettings.objects.filter(
        newsletter=newsletter, transparency_page=True
    ).exists()
    if not published:
        return None
    months = list(AudienceMonth.objects.filter(newsletter=newsletter).order_by("month"))
    issues = list(
        IssueFigures.objects.filter(newsletter=newsletter)
        .select_related("campaign")
        .only(
            "sent_at",
            "recipients",
            "opens_human",
            "clicks_human",
            "unique_opens_human",
            "unique_clicks_human",
            "unsubscribes",
            "updated_at",
            "campaign__slug",
            "campaign__subject",
            "campaign__public",
            "campaign__newsletter_id",
        )
        .order_by("-sent_at")
    )
    unique = newsletter.tracking_policy == TrackingPolicy.INDIVIDUAL
    recent = issues[:RATE_ISSUES]
    recipients = sum(issue.recipients for issue in recent)
    if unique:
        opens = sum(issue.unique_opens_human or 0 for issue in recent)
        clicks = sum(issue.unique_clicks_human or 0 for issue in recent)
    else:
        opens = sum(issue.opens_human for issue in recent)
        clicks = sum(issue.clicks_human for issue in recent)
    tracked = newsletter.tracking_policy != TrackingPolicy.OFF
    return TransparencyPage(
        newsletter=newsletter,
        months=[
            MonthRow(row.month, shown(row.joined), shown(row.left), shown(row.subscribers))
            for row in months
        ],
        subscribers_now=shown(months[-1].subscribers) if months else None,
        issues_sent=shown(
            Campaign.objects.filter(newsletter=newsletter, status=Status.SENT).count()
        ),
        issues=[_issue_row(newsletter, issue, unique, tracked) for issue in issues[:24]],
        open_rate=_rate(opens, recipients) if tracked else None,
        click_rate=_rate(clicks, recipients) if tracked else None,
        unique_rates=unique,
        consultations=[
            (consultation, results(consultation, public=True))
            for consultation in public_consultations(newsletter)[:10]
        ],
        wordings=list(WordingUse.objects.filter(newsletter=newsletter).order_by("-first_used")),
        retention={
            "outbox_days": settings.OUTBOX_RETENTION_DAYS,
            "feedback_days": settings.FEEDBACK_EVENT_RETENTION_DAYS,
        },
        updated_at=max((issue.updated_at for issue in issues), default=None),
    )


def _issue_row(newsletter, issue: IssueFigures, unique: bool, tracked: bool) -> IssueRow:
    campaign = issue.campaign
    opens = issue.unique_opens_human if unique else issue.opens_human
    clicks = issue.unique_clicks_human if unique else issue.clicks_human
    return IssueRow(
        sent_at=issue.sent_at,
        subject=campaign.subject if campaign.public else "",
        url=(
            reverse(
                "campaigns:archive",
                kwargs={"newsletter": newsletter.slug, "campaign": campaign.slug},
            )
            if campaign.public
            else ""
        ),
        recipients=shown(issue.recipients),
        opens=_rate(opens, issue.recipients) if tracked else None,
        clicks=_rate(clicks, issue.recipients) if tracked else None,
        unsubscribes=shown(issue.unsubscribes),
    )


# Referrals


@dataclass(frozen=True)
class ReferralStats:
    months: list[date]
    confirmed: list[int]
    total_confirmed: int
    pending: int
    top: list[tuple[str, int, int]]  # (display name, subscriber id, people brought)

    @property
    def rows(self) -> list[tuple[date, int]]:
        """Newest first, for the table that gives the chart's figures to everyone."""
        return list(zip(self.months, self.confirmed, strict=True))[::-1]

    def chart(self) -> dict:
        return {
            "type": "bars",
            "x": [month.isoformat() for month in self.months],
            "series": [
                {
                    "label": gettext("Subscribed through a reader's link"),
                    "values": self.confirmed,
                }
            ],
        }


REFERRAL_MONTHS = 12
TOP_REFERRERS = 10


def referral_stats(newsletter: Newsletter) -> ReferralStats:
    """Confirmed referrals per month (the last 12, in the newsletter's time zone), and
    the readers who brought the most among those who agreed to be shown."""
    zone = zoneinfo.ZoneInfo(newsletter.timezone)
    this_month = timezone.localdate(timezone=zone).replace(day=1)
    months = [this_month]
    for _ in range(REFERRAL_MONTHS - 1):
        months.insert(0, (months[0] - timedelta(days=1)).replace(day=1))
    since = datetime.combine(months[0], time.min, tzinfo=zone)
    referrals = Referral.objects.filter(newsletter=newsletter)
    per_month = {
        (row["month"].date() if isinstance(row["month"], datetime) else row["month"]): row["count"]
        for row in referrals.filter(confirmed_at__gte=since)
        .annotate(month=TruncMonth("confirmed_at", tzinfo=zone))
        .values("month")
        .annotate(count=Count("id"))
        .order_by()
    }
    shown_profiles = ReferrerProfile.objects.filter(newsletter=newsletter, show_publicly=True)
    names = dict(shown_profiles.values_list("subscriber_id", "display_name"))
    top = (
        referrals.filter(confirmed_at__isnull=False, referrer_id__in=list(names))
        .values("referrer_id")
        .annotate(count=Count("id"))
        .order_by("-count", "referrer_id")[:TOP_REFERRERS]
    )
    return ReferralStats(
        months=months,
        confirmed=[per_month.get(month, 0) for month in months],
        total_confirmed=referrals.filter(confirmed_at__isnull=False).count(),
        pending=referrals.filter(confirmed_at__isnull=True).count(),
        top=[(names[row["referrer_id"]], row["referrer_id"], row["count"]) for row in top],
    )
