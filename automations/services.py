"""Writes for automations: build, activate, pause, resume, enrol, and advance people.

Every change from the dashboard and the API goes through here. An automation's status
has one writer (``_set_status``) and a table of allowed moves; a step's email is a
campaign of kind ``automation`` written through ``campaigns.services`` and sent by the
delivery engine (``delivery.ongoing``): this module never writes a delivery row itself.

Advancing is idempotent: a person's step and the row of the email it queued commit
together, and the row is unique per campaign and person, so a retried or repeated
tick never sends a step twice, and a crash before the commit leaves the person due.
"""

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext

from audiences.models import Segment
from audiences.rules import Compiled
from audiences.services import segment_compile
from campaigns import services as campaigns
from campaigns.models import BodyFormat, Campaign, Kind, Layout
from campaigns.models import Status as CampaignStatus
from delivery import audience, lifecycle, ongoing
from newsletter.models import Newsletter
from subscribers.models import (
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)

from . import timing
from .models import (
    WAITS,
    Automation,
    AutomationStatus,
    Enrolment,
    EnrolmentState,
    Step,
    StepKind,
    Trigger,
    ZoneOf,
)

logger = logging.getLogger(__name__)

# Each status and the statuses it may move to; ``_set_status`` refuses anything else.
TRANSITIONS = {
    AutomationStatus.DRAFT: (AutomationStatus.ACTIVE,),
    AutomationStatus.ACTIVE: (AutomationStatus.PAUSED,),
    AutomationStatus.PAUSED: (AutomationStatus.ACTIVE,),
}
# People who qualify are enrolled while it runs or is paused (they start on resume).
ENROLLING = (AutomationStatus.ACTIVE, AutomationStatus.PAUSED)
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")
# A date an anniversary trigger reads: YYYY-MM-DD, month 01 to 12, day 01 to 31 (a day
# that no month has, such as 02-30, simply never comes round).
DATE_VALUE = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
MAX_SKIP = 50
ADVANCE_BATCH = 100
ADVANCE_MAX_BATCHES = 50
MAX_WAIT = timedelta(days=366)
PAUSE_RECHECK = timedelta(days=1)


class AutomationStateError(Exception):
    """The automation is not in a state that allows this; the message says why."""


# Building


def _locked(automation: Automation) -> Automation:
    return Automation.objects.select_for_update().select_related("newsletter").get(pk=automation.pk)


def _check_lists(newsletter: Newsletter, lists: list[MailingList]) -> list[MailingList]:
    lists = list(lists)
    if not lists:
        raise ValidationError({"lists": gettext("Choose at least one list.")})
    if any(mailing_list.newsletter_id != newsletter.pk for mailing_list in lists):
        raise ValidationError({"lists": gettext("This list belongs to another newsletter.")})
    archived = [mailing_list.name for mailing_list in lists if mailing_list.archived_at]
    if archived:
        raise ValidationError(
            {
                "lists": gettext("Archived lists get no new mail: %(names)s.")
                % {"names": ", ".join(archived)}
            }
        )
    return lists


def _check_segment_rules(newsletter: Newsletter, segment: Segment) -> None:
    if segment.newsletter_id != newsletter.pk:
        raise ValidationError({"segment": gettext("No such segment in this newsletter.")})
    try:
        segment_compile(segment=segment)
    except ValidationError as error:
        raise ValidationError(
            {
                "segment": gettext("Its rules no longer work: %(why)s")
                % {"why": " ".join(error.messages)}
            }
        ) from None


def _check_segment(newsletter: Newsletter, trigger: str, segment: Segment | None) -> Segment | None:
    """Entering a segment needs one of this newsletter's segments, whose rules work."""
    if trigger != Trigger.SEGMENT:
        return None
    if segment is None:
        raise ValidationError({"segment": gettext("Choose the segment people enter.")})
    _check_segment_rules(newsletter, segment)
    return segment


def _check_trigger(newsletter: Newsletter, trigger: str, trigger_field: str) -> str:
    """The trigger is known; an anniversary names a date field that some contact has."""
    if trigger not in Trigger.values:
        raise ValidationError(
            {"trigger": gettext("Unknown trigger: %(value)s.") % {"value": trigger}}
        )
    trigger_field = (trigger_field or "").strip()
    if trigger != Trigger.ANNIVERSARY:
        return ""
    if not trigger_field:
        raise ValidationError(
            {"trigger_field": gettext("Name the date field whose anniversary starts it.")}
        )
    if not FIELD_NAME.match(trigger_field) or "__" in trigger_field:
        raise ValidationError(
            {"trigger_field": gettext("A field name is letters, digits, single “_”, “.” and “-”.")}
        )
    known = Subscriber.objects.filter(
        newsletter=newsletter, attributes__has_key=trigger_field
    ).exists()
    if not known:
        raise ValidationError(
            {
                "trigger_field": gettext(
                    "Unknown field: no subscriber of this newsletter has “%(field)s”."
                )
                % {"field": trigger_field}
            }
        )
    return trigger_field


@dataclass
class StepSpec:
    """A step as the dashboard's form or the API describes it, before it is checked."""

    kind: str
    subject: str = ""
    body: str = ""
    body_format: str = BodyFormat.MARKDOWN
    preheader: str = ""
    layout: Layout | None = None
    delay: timedelta | None = None
    weekday: int | None = None
    hour: int | None = None
    zone_of: str = ZoneOf.NEWSLETTER
    segment: Segment | None = None
    skip: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@transaction.atomic
def automation_create(
    *,
    newsletter: Newsletter,
    created_by,
    name: str,
    lists: list[MailingList],
    trigger: str = Trigger.LIST_CONFIRMED,
    trigger_field: str = "",
    segment: Segment | None = None,
    steps: list[StepSpec] = (),
) -> Automation:
    """A draft with its steps, or nothing: a bad step fails the whole call, naming it
    (``steps.2.delay``)."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": gettext("Give it a name.")})
    lists = _check_lists(newsletter, lists)
    trigger_field = _check_trigger(newsletter, trigger, trigger_field)
    segment = _check_segment(newsletter, trigger, segment)
    automation = Automation.objects.create(
        newsletter=newsletter,
        created_by=created_by,
        name=name[:200],
        trigger=trigger,
        trigger_field=trigger_field,
        segment=segment,
    )
    automation.lists.set(lists)
    for index, spec in enumerate(steps):
        try:
            step_add(automation=automation, spec=spec, created_by=created_by)
        except ValidationError as error:
            raise _prefixed(error, f"steps.{index}") from None
    logger.info("automation created", extra={"automation": automation.pk})
    return automation


def _prefixed(error: ValidationError, prefix: str) -> ValidationError:
    if hasattr(error, "error_dict"):
        return ValidationError(
            {
                f"{prefix}.{key}" if key != "__all__" else prefix: value
                for key, value in error.message_dict.items()
            }
        )
    return ValidationError({prefix: error.messages})


@transaction.atomic
def automation_update(
    *,
    automation: Automation,
    name: str | None = None,
    lists: list[MailingList] | None = None,
    trigger: str | None = None,
    trigger_field: str | None = None,
    segment: Segment | None = None,
) -> Automation:
    """Change it, running or not: people keep their place; its emails follow its lists."""
    automation = _locked(automation)
    if name is not None:
        if not name.strip():
            raise ValidationError({"name": gettext("Give it a name.")})
        automation.name = name.strip()[:200]
    if trigger is not None or trigger_field is not None:
        automation.trigger = trigger if trigger is not None else automation.trigger
        automation.trigger_field = _check_trigger(
            automation.newsletter,
            automation.trigger,
            trigger_field if trigger_field is not None else automation.trigger_field,
        )
    if trigger is not None or segment is not None:
        automation.segment = _check_segment(
            automation.newsletter, automation.trigger, segment or automation.segment
        )
    automation.save()
    if lists is not None:
        lists = _check_lists(automation.newsletter, lists)
        automation.lists.set(lists)
        for step in automation.steps.filter(campaign__isnull=False).select_related("campaign"):
            campaigns.campaign_set_lists(campaign=step.campaign, lists=lists)
    return automation


def _step_fields(automation: Automation, spec: StepSpec) -> dict[str, Any]:
    """The fields of a wait or stop step, checked; errors name the field."""
    if spec.extra:
        raise ValidationError(
            {name: gettext("Unknown field for this kind of step.") for name in sorted(spec.extra)}
        )
    if spec.kind not in StepKind.values:
        raise ValidationError(
            {"kind": gettext("Unknown kind of step: %(value)s.") % {"value": spec.kind}}
        )
    if spec.kind == StepKind.WAIT:
        if spec.delay is None or spec.delay <= timedelta(0):
            raise ValidationError({"delay": gettext("Wait for a time longer than zero.")})
        if spec.delay > MAX_WAIT:
            raise ValidationError({"delay": gettext("Wait at most a year.")})
        return {"delay": spec.delay}
    if spec.kind == StepKind.WAIT_UNTIL:
        if spec.hour is None or not 0 <= spec.hour <= 23:
            raise ValidationError({"hour": gettext("An hour from 0 to 23.")})
        if spec.weekday is not None and not 0 <= spec.weekday <= 6:
            raise ValidationError({"weekday": gettext("A weekday from 0 (Monday) to 6 (Sunday).")})
        if spec.zone_of not in ZoneOf.values:
            raise ValidationError({"zone_of": gettext("Either “subscriber” or “newsletter”.")})
        return {"weekday": spec.weekday, "hour": spec.hour, "zone_of": spec.zone_of}
    if spec.kind == StepKind.BRANCH:
        if spec.segment is None:
            raise ValidationError({"segment": gettext("Choose the segment it branches on.")})
        _check_segment_rules(automation.newsletter, spec.segment)
        if spec.skip is not None and not 0 <= spec.skip <= MAX_SKIP:
            raise ValidationError(
                {"skip": gettext("Skip from 0 to %(max)d steps.") % {"max": MAX_SKIP}}
            )
        return {"segment": spec.segment, "skip": spec.skip}
    return {}


@transaction.atomic
def step_add(*, automation: Automation, spec: StepSpec, created_by=None) -> Step:
    """Append a step. A send step gets its campaign (checked like any campaign); when the
    automation already runs, the campaign opens at once (paused with it when paused)."""
    automation = _locked(automation)
    fields = _step_fields(automation, spec)
    position = (
        automation.steps.filter(removed_at__isnull=True).aggregate(top=Max("position"))["top"] or 0
    ) + 1
    campaign = None
    if spec.kind == StepKind.SEND:
        campaign = _step_campaign(automation, spec, position, created_by)
    step = Step.objects.create(
        automation=automation, position=position, kind=spec.kind, campaign=campaign, **fields
    )
    if campaign is not None and automation.status != AutomationStatus.DRAFT:
        _open(step)
        if automation.status == AutomationStatus.PAUSED:
            lifecycle.campaign_pause(campaign=campaign)
    return step


def _step_campaign(automation: Automation, spec: StepSpec, position: int, created_by) -> Campaign:
    layout = spec.layout or _default_layout(automation.newsletter)
    if layout.newsletter_id != automation.newsletter_id:
        raise ValidationError({"layout": gettext("This layout belongs to another newsletter.")})
    if not spec.subject.strip():
        raise ValidationError({"subject": gettext("An email needs a subject.")})
    if not spec.body.strip():
        raise ValidationError({"body": gettext("An email needs a body.")})
    return campaigns.campaign_create(
        newsletter=automation.newsletter,
        created_by=created_by,
        name=f"{automation.name} · {position}",
        subject=spec.subject,
        preheader=spec.preheader,
        layout=layout,
        body=spec.body,
        body_format=spec.body_format,
        lists=list(automation.lists.all()),
        kind=Kind.AUTOMATION,
    )


def _default_layout(newsletter: Newsletter) -> Layout:
    return (
        Layout.objects.filter(newsletter=newsletter).order_by("pk").first()
        or campaigns.install_default_layouts(newsletter=newsletter)[0]
    )


def _open(step: Step) -> None:
    try:
        ongoing.campaign_open(campaign=step.campaign)
    except lifecycle.CampaignStateError as error:
        raise ValidationError(
            {
                "steps": gettext("Step %(n)s cannot be sent: %(why)s")
                % {"n": step.position, "why": error}
            }
        ) from None


@transaction.atomic
def step_update(*, step: Step, spec: StepSpec) -> Step:
    """Change a step in place: its email's content (through the campaign service, so it is
    checked the same), or its wait. People on it keep their place; a changed wait applies
    to those who reach it from now on."""
    _locked(step.automation)
    step = Step.objects.select_related("campaign").get(pk=step.pk)
    if step.removed_at is not None:
        raise ValidationError({"kind": gettext("This step was removed.")})
    if spec.kind != step.kind:
        raise ValidationError(
            {"kind": gettext("A step keeps its kind: remove it and add another.")}
        )
    fields = _step_fields(step.automation, spec)
    if step.kind == StepKind.SEND:
        if not spec.subject.strip():
            raise ValidationError({"subject": gettext("An email needs a subject.")})
        changes: dict[str, Any] = {
            "subject": spec.subject,
            "preheader": spec.preheader,
            "body": spec.body,
            "body_format": spec.body_format,
        }
        if spec.layout is not None:
            changes["layout"] = spec.layout
        campaigns.campaign_update(campaign=step.campaign, **changes)
    for name, value in fields.items():
        setattr(step, name, value)
    step.save()
    return step


@transaction.atomic
def step_remove(*, step: Step) -> None:
    """A draft's step goes (with its unsent email); a running automation's is retired:
    its email keeps its report and the people on it go on at their next turn."""
    automation = _locked(step.automation)
    step = Step.objects.select_related("campaign").get(pk=step.pk)
    if automation.status == AutomationStatus.DRAFT:
        campaign = step.campaign
        step.delete()
        if campaign is not None:
            lifecycle.campaign_delete(campaign=campaign)
    else:
        step.removed_at = timezone.now()
        step.save(update_fields=["removed_at"])


@transaction.atomic
def step_move(*, step: Step, up: bool) -> None:
    """Swap a step with its neighbour. People keep their place: the step they are on."""
    automation = _locked(step.automation)
    live = list(automation.steps.filter(removed_at__isnull=True).order_by("position"))
    index = next(i for i, candidate in enumerate(live) if candidate.pk == step.pk)
    other_index = index - 1 if up else index + 1
    if not 0 <= other_index < len(live):
        return
    first, second = live[index], live[other_index]
    first_position, second_position = first.position, second.position
    parking = live[-1].position + 1
    Step.objects.filter(pk=first.pk).update(position=parking)
    Step.objects.filter(pk=second.pk).update(position=first_position)
    Step.objects.filter(pk=first.pk).update(position=second_position)


# Status


def _set_status(automation: Automation, to: str) -> Automation:
    """The one writer of an automation's status, under its row lock."""
    if to not in TRANSITIONS.get(automation.status, ()):
        raise AutomationStateError(
            gettext("It is %(status)s.") % {"status": automation.get_status_display().lower()}
        )
    automation.status = to
    fields = ["status", "updated_at"]
    if to == AutomationStatus.ACTIVE and automation.activated_at is None:
        automation.activated_at = timezone.now()
        fields.append("activated_at")
    automation.save(update_fields=fields)
    return automation


def _send_steps(automation: Automation):
    return automation.steps.filter(kind=StepKind.SEND, removed_at__isnull=True).select_related(
        "campaign"
    )


@transaction.atomic
def automation_activate(*, automation: Automation) -> Automation:
    """Start it: every email must be sendable now, or nothing starts (each problem named)."""
    automation = _locked(automation)
    if not automation.steps.filter(removed_at__isnull=True).exists():
        raise ValidationError({"steps": gettext("An automation needs at least one step.")})
    if not automation.steps.filter(kind=StepKind.SEND, removed_at__isnull=True).exists():
        raise ValidationError({"steps": gettext("An automation needs at least one email to send.")})
    _set_status(automation, AutomationStatus.ACTIVE)
    for step in _send_steps(automation):
        _open(step)
    logger.info("automation activated", extra={"automation": automation.pk})
    return automation


@transaction.atomic
def automation_pause(*, automation: Automation) -> Automation:
    """Nobody advances and its queued emails wait; people who qualify are still enrolled."""
    automation = _set_status(_locked(automation), AutomationStatus.PAUSED)
    for step in _send_steps(automation):
        if step.campaign.status == CampaignStatus.SENDING:
            lifecycle.campaign_pause(campaign=step.campaign)
    return automation


@transaction.atomic
def automation_resume(*, automation: Automation) -> Automation:
    """Everyone goes on from where they are; whoever came due while paused goes now."""
    automation = _set_status(_locked(automation), AutomationStatus.ACTIVE)
    for step in _send_steps(automation):
        if step.campaign.status == CampaignStatus.PAUSED:
            lifecycle.campaign_resume(campaign=step.campaign)
    _advance_soon()
    return automation


@transaction.atomic
def automation_delete(*, automation: Automation) -> None:
    """Only a draft (nobody ever went through it); a started one is paused instead."""
    automation = _locked(automation)
    if automation.status != AutomationStatus.DRAFT or automation.enrolments.exists():
        raise AutomationStateError(gettext("Only a draft can be deleted; pause this one instead."))
    campaign_list = [step.campaign for step in automation.steps.filter(campaign__isnull=False)]
    automation.delete()
    for campaign in campaign_list:
        lifecycle.campaign_delete(campaign=campaign)


# Enrolling


ENROL = """
INSERT INTO automations_enrolment
    (automation_id, subscriber_id, step_id, state, next_run_at, trigger, exit_reason,
     enrolled_at)
VALUES (%(automation)s, %(subscriber)s, NULL, %(state)s, %(start)s, %(trigger)s, '', %(now)s)
ON CONFLICT (automation_id, subscriber_id) DO NOTHING
RETURNING id
"""


def _advance_soon() -> None:
    """The first step need not wait for beat's next tick."""
    from .tasks import advance

    transaction.on_commit(lambda: advance.delay())


def _confirmed_on_lists(automation: Automation, subscriber: Subscriber) -> bool:
    return Subscription.objects.filter(
        subscriber=subscriber,
        status=SubscriptionStatus.CONFIRMED,
        mailing_list__automations=automation,
    ).exists()


@transaction.atomic
def enrol(
    *,
    automation: Automation,
    subscriber: Subscriber,
    trigger: str,
    start_at: datetime | None = None,
) -> tuple[Enrolment, bool]:
    """Put a person into an automation, once ever; returns the enrolment and whether it is
    new. The person must belong to its newsletter and be confirmed on one of its lists."""
    if subscriber.newsletter_id != automation.newsletter_id:
        raise ValidationError({"subscriber": gettext("No such subscriber in this newsletter.")})
    if automation.status not in ENROLLING:
        raise AutomationStateError(
            gettext("It is %(status)s: activate it first.")
            % {"status": automation.get_status_display().lower()}
        )
    if subscriber.status != SubscriberStatus.ACTIVE or not _confirmed_on_lists(
        automation, subscriber
    ):
        raise ValidationError(
            {"subscriber": gettext("Not confirmed on any of this automation's lists.")}
        )
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            ENROL,
            {
                "automation": automation.pk,
                "subscriber": subscriber.pk,
                "state": EnrolmentState.ACTIVE,
                "start": start_at or now,
                "trigger": trigger,
                "now": now,
            },
        )
        created = cursor.fetchone() is not None
    if created:
        _advance_soon()
    enrolment = Enrolment.objects.get(automation=automation, subscriber=subscriber)
    return enrolment, created


def enrol_confirmed(
    *, subscriber: Subscriber, newsletter: Newsletter, lists: list[MailingList]
) -> int:
    """The welcome series: whoever is confirmed on a list enters each running automation
    of that list (in the confirmation's transaction; the first step runs after it)."""
    automations = Automation.objects.filter(
        newsletter=newsletter,
        trigger=Trigger.LIST_CONFIRMED,
        status__in=ENROLLING,
        lists__in=[mailing_list.pk for mailing_list in lists],
    ).distinct()
    entered = 0
    for automation in automations:
        _, created = enrol(
            automation=automation, subscriber=subscriber, trigger=Trigger.LIST_CONFIRMED
        )
        entered += created
    return entered


ENROL_ANNIVERSARIES = """
INSERT INTO automations_enrolment
    (automation_id, subscriber_id, step_id, state, next_run_at, trigger, exit_reason,
     enrolled_at)
SELECT %(automation)s, s.id, NULL, %(state)s, %(now)s, %(trigger)s, '', %(now)s
FROM subscribers_subscriber s
WHERE s.newsletter_id = %(newsletter)s
  AND s.status = %(subscriber_status)s
  AND s.attributes ? %(field)s
  AND s.attributes->>%(field)s ~ %(pattern)s
  AND substring(s.attributes->>%(field)s from 6 for 5) = ANY(%(days)s)
  AND left(s.attributes->>%(field)s, 4) < %(year)s
  AND EXISTS (
      SELECT 1 FROM subscribers_subscription sub
      JOIN automations_automation_lists al ON al.mailinglist_id = sub.mailing_list_id
      WHERE al.automation_id = %(automation)s AND sub.subscriber_id = s.id
        AND sub.status = %(confirmed)s)
ON CONFLICT (automation_id, subscriber_id) DO NOTHING
"""


def anniversary_days(today: date) -> list[str]:
    """The ``MM-DD`` dates whose anniversary is today: 29 February's is kept on the 28th
    of a year that has none."""
    days = [f"{today.month:02d}-{today.day:02d}"]
    if (today.month, today.day) == (2, 28):
        try:
            date(today.year, 2, 29)
        except ValueError:
            days.append("02-29")
    return days


def anniversaries_enrol(*, now: datetime | None = None) -> int:
    """Enrol everyone whose date field has its anniversary today in the newsletter's time
    zone (hourly, so each zone's day is caught). A value that is not a date
    (``YYYY-MM-DD``) never matches; the date itself (year 0) is not an anniversary."""
    now = now or timezone.now()
    entered = 0
    automations = Automation.objects.filter(
        trigger=Trigger.ANNIVERSARY, status__in=ENROLLING
    ).select_related("newsletter")
    for automation in automations:
        today = timing.zone_for(newsletter_zone=automation.newsletter.timezone, attributes=None)
        local = now.astimezone(today).date()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                ENROL_ANNIVERSARIES,
                {
                    "automation": automation.pk,
                    "newsletter": automation.newsletter_id,
                    "state": EnrolmentState.ACTIVE,
                    "trigger": Trigger.ANNIVERSARY,
                    "now": now,
                    "subscriber_status": SubscriberStatus.ACTIVE,
                    "field": automation.trigger_field,
                    "pattern": DATE_VALUE,
                    "days": anniversary_days(local),
                    "year": f"{local.year:04d}",
                    "confirmed": SubscriptionStatus.CONFIRMED,
                },
            )
            entered += cursor.rowcount
    if entered:
        logger.info("anniversaries enrolled", extra={"enrolled": entered})
    return entered


ENROL_SEGMENT = """
INSERT INTO automations_enrolment
    (automation_id, subscriber_id, step_id, state, next_run_at, trigger, exit_reason,
     enrolled_at)
SELECT %(automation)s, s.id, NULL, %(state)s, %(now)s, %(trigger)s, '', %(now)s
FROM subscribers_subscriber s
WHERE s.newsletter_id = %(newsletter)s
  AND s.status = %(subscriber_status)s
  AND ({rules})
  AND EXISTS (
      SELECT 1 FROM subscribers_subscription sub
      JOIN automations_automation_lists al ON al.mailinglist_id = sub.mailing_list_id
      WHERE al.automation_id = %(automation)s AND sub.subscriber_id = s.id
        AND sub.status = %(confirmed)s)
ON CONFLICT (automation_id, subscriber_id) DO NOTHING
"""


def segments_enrol(*, now: datetime | None = None) -> int:
    """Enrol whoever a segment automation's segment picks and is confirmed on its lists
    (every minute): the people in it when it starts, then whoever comes into it. The
    rules come compiled from ``audiences`` with every value bound; a segment whose rules
    no longer compile (a field deleted since) enrols nobody and is logged."""
    now = now or timezone.now()
    entered = 0
    automations = Automation.objects.filter(
        trigger=Trigger.SEGMENT, status__in=ENROLLING, segment__isnull=False
    ).select_related("segment__newsletter")
    for automation in automations:
        try:
            compiled = segment_compile(segment=automation.segment, prefix="r")
        except ValidationError:
            logger.warning("segment does not compile", extra={"automation": automation.pk})
            continue
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                ENROL_SEGMENT.format(rules=compiled.sql),
                {
                    **compiled.params,
                    "automation": automation.pk,
                    "newsletter": automation.newsletter_id,
                    "state": EnrolmentState.ACTIVE,
                    "trigger": Trigger.SEGMENT,
                    "now": now,
                    "subscriber_status": SubscriberStatus.ACTIVE,
                    "confirmed": SubscriptionStatus.CONFIRMED,
                },
            )
            entered += cursor.rowcount
    if entered:
        logger.info("segment entrants enrolled", extra={"enrolled": entered})
    return entered


PICKS = (
    "SELECT EXISTS (SELECT 1 FROM subscribers_subscriber s WHERE s.id = %(person)s AND ({rules}))"
)


def _picks(plan: "Plan", step: Step, subscriber_id: int) -> bool:
    """Whether a branch's segment picks this person now (a segment whose rules no longer
    compile picks nobody)."""
    if step.pk not in plan.rules:
        try:
            plan.rules[step.pk] = segment_compile(segment=step.segment, prefix="b")
        except ValidationError:
            logger.warning("branch segment does not compile", extra={"step": step.pk})
            plan.rules[step.pk] = None
    compiled = plan.rules[step.pk]
    if compiled is None:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            PICKS.format(rules=compiled.sql), {**compiled.params, "person": subscriber_id}
        )
        return cursor.fetchone()[0]


# Advancing


@dataclass
class Plan:
    """One automation's live steps and the campaign that stands for its consent rule
    (all its emails go to the same lists), read once per batch."""

    steps: list[Step]
    consent_campaign: Campaign | None
    # Branch steps' segments, compiled once per batch (None: its rules no longer compile).
    rules: dict[int, Compiled | None] = field(default_factory=dict)


def _plan(automation: Automation) -> Plan:
    steps = list(
        automation.steps.filter(removed_at__isnull=True)
        .select_related("campaign", "segment__newsletter")
        .order_by("position")
    )
    consent = next((step.campaign for step in steps if step.campaign is not None), None)
    if consent is None:
        consent = Campaign.objects.filter(automation_step__automation=automation).first()
    return Plan(steps=steps, consent_campaign=consent)


def _resume_index(enrolment: Enrolment, steps: list[Step]) -> int:
    """Where a due person goes on: the first step; after a wait that is over (or a step
    removed since); or the email they were held at while their mail was paused."""
    current = enrolment.step
    if current is None:
        return 0
    done = current.kind in WAITS or current.removed_at is not None
    for index, step in enumerate(steps):
        if step.position > current.position or (not done and step.pk == current.pk):
            return index
    return len(steps)


def enrolments_advance(*, now: datetime | None = None) -> int:
    """Run every due person's next steps: small transactions of locked rows that other
    workers skip, each person's steps and the emails they queue committed together.

    ``now`` is the clock (tests move it); by default the time now. Returns how many
    people were advanced.
    """
    now = now or timezone.now()
    advanced = 0
    for _ in range(ADVANCE_MAX_BATCHES):
        with transaction.atomic():
            batch = list(
                Enrolment.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(
                    state=EnrolmentState.ACTIVE,
                    next_run_at__lte=now,
                    automation__status=AutomationStatus.ACTIVE,
                )
                .select_related("step", "subscriber", "automation__newsletter")
                .order_by("next_run_at", "id")[:ADVANCE_BATCH]
            )
            plans: dict[int, Plan] = {}
            opened: set[int] = set()
            for enrolment in batch:
                if enrolment.automation_id not in plans:
                    plans[enrolment.automation_id] = _plan(enrolment.automation)
                _advance(enrolment, plans[enrolment.automation_id], now, opened)
            ongoing.dispatch_open(opened)
        advanced += len(batch)
        if len(batch) < ADVANCE_BATCH:
            break
    return advanced


def _advance(enrolment: Enrolment, plan: Plan, now: datetime, opened: set[int]) -> None:
    steps = plan.steps
    index = _resume_index(enrolment, steps)
    while index < len(steps):
        step = steps[index]
        held = _consent_check(enrolment, plan, step)
        if held is False:
            return
        if held is not None:
            _save(enrolment, step=step, next_run_at=held)
            return
        if step.kind == StepKind.SEND:
            if ongoing.recipient_add(
                campaign_id=step.campaign_id, subscriber_id=enrolment.subscriber_id
            ):
                opened.add(step.campaign_id)
        elif step.kind in WAITS:
            end = timing.wait_end(
                step,
                now=now,
                newsletter_zone=enrolment.automation.newsletter.timezone,
                attributes=enrolment.subscriber.attributes,
                person_zone=enrolment.subscriber.time_zone,
            )
            _save(enrolment, step=step, next_run_at=end)
            return
        elif step.kind == StepKind.STOP:
            _finish(enrolment, step, EnrolmentState.DONE, now)
            return
        elif step.kind == StepKind.BRANCH and not _picks(plan, step, enrolment.subscriber_id):
            if step.skip is None:
                _finish(enrolment, step, EnrolmentState.DONE, now)
                return
            index += step.skip
        index += 1
    _finish(enrolment, steps[-1] if steps else enrolment.step, EnrolmentState.DONE, now)


def _consent_check(enrolment: Enrolment, plan: Plan, step: Step) -> datetime | bool | None:
    """Consent, again, at every step, by the engine's own rule (``audience.eligible``):
    None to go on; False when it is gone (the person leaves the automation); or, at an
    email, when to ask again for a person who paused their mail (held there meanwhile:
    a pause is a choice of when, not of leaving)."""
    if plan.consent_campaign is None:
        return None
    subscriber = enrolment.subscriber
    if audience.eligible([subscriber.pk], plan.consent_campaign):
        return None
    real_now = timezone.now()
    if subscriber.paused and subscriber.status == SubscriberStatus.ACTIVE:
        if step.kind != StepKind.SEND:
            return None
        # Held at the email until the pause ends; a pause without an end is asked daily.
        return subscriber.paused_until or real_now + PAUSE_RECHECK
    _finish(
        enrolment,
        step,
        EnrolmentState.EXITED,
        real_now,
        reason="No longer subscribed to its lists, or suppressed.",
    )
    return False


def _save(enrolment: Enrolment, *, step: Step, next_run_at: datetime) -> None:
    enrolment.step = step
    enrolment.next_run_at = next_run_at
    enrolment.save(update_fields=["step", "next_run_at"])


def _finish(
    enrolment: Enrolment, step: Step | None, state: str, now: datetime, reason: str = ""
) -> None:
    enrolment.step = step
    enrolment.state = state
    enrolment.next_run_at = None
    enrolment.finished_at = now
    enrolment.exit_reason = reason
    enrolment.save(update_fields=["step", "state", "next_run_at", "finished_at", "exit_reason"])
