"""When a reader's copy of a campaign may leave: at once, at a local hour of their day,
or at the end of their digest period, each in the reader's own time zone (else the
newsletter's).

The moments are computed here, in Python, once per time zone that exists (a few
hundred), and handed to the single ``INSERT … SELECT`` that creates a campaign's rows
(``audience.TIMED_AUDIENCE_ROWS``) as a table to join: PostgreSQL's own zone
database never has to agree with Python's, and no per-row date arithmetic runs in SQL.
"""

from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from newsletter.models import known_timezones
from subscribers.models import Frequency, Subscription, SubscriptionStatus

# A reader on several of a campaign's lists gets it as often as the most frequent of
# those subscriptions asks: every issue beats a weekly digest, which beats a monthly one.
FREQUENCY_RANK = {
    Frequency.EVERY_ISSUE: 0,
    Frequency.WEEKLY_DIGEST: 1,
    Frequency.MONTHLY_DIGEST: 2,
}
FREQUENCY_RANK_SQL = (
    "CASE sub.frequency "
    + " ".join(f"WHEN '{value}' THEN {rank}" for value, rank in FREQUENCY_RANK.items())
    + " END"
)


def digest_readers_on(list_ids: list[int]) -> bool:
    """Whether anyone confirmed on these lists reads one of them in a digest (a probe
    of the partial index on subscriptions that are not ``every_issue``)."""
    return (
        Subscription.objects.filter(
            mailing_list_id__in=list_ids, status=SubscriptionStatus.CONFIRMED
        )
        .exclude(frequency=Frequency.EVERY_ISSUE)
        .exists()
    )


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def next_local_hour(now: datetime, zone: str, hour: int) -> datetime:
    """The first ``hour``:00 of the zone's wall clock at or after ``now``."""
    local = now.astimezone(_zone(zone))
    moment = datetime.combine(local.date(), time(hour), tzinfo=local.tzinfo)
    if moment < local:
        moment = datetime.combine(local.date() + timedelta(days=1), time(hour), tzinfo=local.tzinfo)
    return moment


def week_end(now: datetime, zone: str) -> datetime:
    """The end of the ISO week holding ``now``: the next Monday, 00:00, on the zone's clock."""
    today = now.astimezone(_zone(zone)).date()
    monday = today + timedelta(days=7 - today.weekday())
    return datetime.combine(monday, time(0), tzinfo=_zone(zone))


def month_end(now: datetime, zone: str) -> datetime:
    """The end of the month holding ``now``: the first of the next, 00:00, on the zone's clock."""
    today = now.astimezone(_zone(zone)).date()
    first = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    return datetime.combine(first, time(0), tzinfo=_zone(zone))


def zone_table(*, now: datetime, local_hour: int | None) -> dict[str, list]:
    """For every known zone: the campaign's local hour (or None), the end of the week and
    of the month, as parallel arrays for ``unnest``."""
    zones = list(known_timezones())
    return {
        "zones": zones,
        "hour_at": [
            next_local_hour(now, zone, local_hour) if local_hour is not None else None
            for zone in zones
        ],
        "week_end": [week_end(now, zone) for zone in zones],
        "month_end": [month_end(now, zone) for zone in zones],
    }
