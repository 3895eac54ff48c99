"""Reads for automations: the per-step counts and the report, for the dashboard and API."""

from dataclasses import dataclass

from django.db.models import Count
from django.db.models.fields.json import KT

from delivery.progress import Progress, campaign_progress
from subscribers.models import Subscriber, SubscriberStatus

from .models import WAITS, Automation, Enrolment, EnrolmentState, Step, Trigger
from .services import DATE_VALUE


@dataclass(frozen=True)
class StepCounts:
    """One step and who is there: ``here`` are people on it now (waiting it out, or
    held at an email until their chosen pause ends); an email's ``sending`` tells
    what its campaign did (sent, queued, failed, skipped, uncertain)."""

    step: Step
    here: int
    sending: Progress | None

    @property
    def is_wait(self) -> bool:
        return self.step.kind in WAITS


@dataclass(frozen=True)
class Report:
    enrolled: int
    in_progress: int
    done: int
    exited: int
    not_started: int
    steps: list[StepCounts]
    removed: list[StepCounts]
    # Anniversary: people on its lists whose field holds something that is not a date.
    unreadable_dates: int = 0


def automation_report(automation: Automation) -> Report:
    """Every count in a few grouped queries: people by state, people by step, and one
    progress read per email (the engine's, cheap at any size)."""
    by_state = dict(
        Enrolment.objects.filter(automation=automation)
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    active = Enrolment.objects.filter(automation=automation, state=EnrolmentState.ACTIVE)
    by_step = dict(active.values_list("step").annotate(n=Count("id")).values_list("step", "n"))
    steps, removed = [], []
    for step in automation.steps.select_related("campaign").order_by("position", "id"):
        counts = StepCounts(
            step=step,
            here=by_step.get(step.pk, 0),
            sending=campaign_progress(campaign=step.campaign) if step.campaign_id else None,
        )
        (removed if step.removed_at else steps).append(counts)
    return Report(
        enrolled=sum(by_state.values()),
        in_progress=by_state.get(EnrolmentState.ACTIVE, 0),
        done=by_state.get(EnrolmentState.DONE, 0),
        exited=by_state.get(EnrolmentState.EXITED, 0),
        not_started=by_step.get(None, 0),
        steps=steps,
        removed=removed,
        unreadable_dates=unreadable_dates(automation),
    )


def unreadable_dates(automation: Automation) -> int:
    """How many people on an anniversary automation's lists hold a value in its field
    that is not a date (``YYYY-MM-DD``): they are never greeted, and the page says so."""
    if automation.trigger != Trigger.ANNIVERSARY or not automation.trigger_field:
        return 0
    field = automation.trigger_field
    return (
        Subscriber.objects.filter(
            newsletter=automation.newsletter_id,
            status=SubscriberStatus.ACTIVE,
            attributes__has_key=field,
            subscriptions__mailing_list__automations=automation,
        )
        .alias(value=KT(f"attributes__{field}"))
        .exclude(value__regex=DATE_VALUE)
        .distinct()
        .count()
    )


def automations_of(newsletter) -> list[Automation]:
    return list(
        Automation.objects.filter(newsletter=newsletter)
        .annotate(
            enrolled=Count("enrolments", distinct=True),
        )
        .prefetch_related("lists")
    )
