"""When a wait ends: pure functions of the step, the time now and the time zone."""

import zoneinfo
from datetime import datetime, time, timedelta

from .models import Step, StepKind, ZoneOf

# Where a person's own time zone may be found among their attributes, until contacts
# have a field of their own for it.
ZONE_ATTRIBUTES = ("time_zone", "timezone")


def zone_for(
    *, newsletter_zone: str, attributes: dict | None, person_zone: str = ""
) -> zoneinfo.ZoneInfo:
    """The person's time zone: the one they chose (``Subscriber.time_zone``), else one an
    attribute names (imported before that field existed), else the newsletter's."""
    if person_zone:
        return zoneinfo.ZoneInfo(person_zone)
    for name in ZONE_ATTRIBUTES:
        value = (attributes or {}).get(name)
        if isinstance(value, str) and value in zoneinfo.available_timezones():
            return zoneinfo.ZoneInfo(value)
    return zoneinfo.ZoneInfo(newsletter_zone)


def next_weekday_hour(
    now: datetime, zone: zoneinfo.ZoneInfo, weekday: int | None, hour: int
) -> datetime:
    """The first moment at or after ``now`` that is ``hour``:00 on ``weekday`` (any day
    when None) on the wall clock of ``zone``. A wall time skipped by a DST change falls
    on the hour after it (zoneinfo's reading of the gap), never on another day."""
    local_day = now.astimezone(zone).date()
    for offset in range(8):
        day = local_day + timedelta(days=offset)
        if weekday is not None and day.weekday() != weekday:
            continue
        moment = datetime.combine(day, time(hour), tzinfo=zone)
        if moment >= now:
            return moment
    raise AssertionError("a weekday recurs within eight days")  # pragma: no cover


def wait_end(
    step: Step,
    *,
    now: datetime,
    newsletter_zone: str,
    attributes: dict | None,
    person_zone: str = "",
) -> datetime:
    """When someone who reaches this wait step ``now`` goes on."""
    if step.kind == StepKind.WAIT:
        return now + step.delay
    if step.kind == StepKind.WAIT_UNTIL:
        zone = (
            zone_for(
                newsletter_zone=newsletter_zone, attributes=attributes, person_zone=person_zone
            )
            if step.zone_of == ZoneOf.SUBSCRIBER
            else zoneinfo.ZoneInfo(newsletter_zone)
        )
        return next_weekday_hour(now, zone, step.weekday, step.hour or 0)
    raise ValueError(f"{step.kind} is not a wait")
