from celery import shared_task
from django.utils.dateparse import parse_datetime

from . import services


@shared_task
def advance(now: str | None = None) -> int:
    """Every few seconds from beat; ``now`` (ISO 8601) lets a test set the clock."""
    return services.enrolments_advance(now=parse_datetime(now) if now else None)


@shared_task
def enrol_segments(now: str | None = None) -> int:
    return services.segments_enrol(now=parse_datetime(now) if now else None)


@shared_task
def enrol_anniversaries(now: str | None = None) -> int:
    return services.anniversaries_enrol(now=parse_datetime(now) if now else None)
