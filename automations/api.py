"""``/api/v1/automations/``: build, start, pause and resume automations, enrol people by
API call, and read per-step counts. Thin: every write calls ``automations.services``, the
same services the dashboard calls."""

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from api.auth import require
from api.errors import FieldError, field_error, from_django
from api.lists import lists_by_slug
from api.schemas import Error, Slug, Text
from audiences.models import Segment
from campaigns.models import BodyFormat, Layout
from newsletter.models import Role
from subscribers.models import Subscriber

from . import selectors, services
from .models import Automation, AutomationStatus, EnrolmentState, Step, StepKind, Trigger, ZoneOf
from .services import AutomationStateError, StepSpec

router = Router(tags=["automations"])


class StepIn(Schema):
    """One step. ``send``: ``subject`` and ``body`` (``body_format``, ``preheader`` and
    ``template``, a layout's name, optional). ``wait``: ``delay_seconds``.
    ``wait_until``: ``hour`` (0 to 23), ``weekday`` (0 Monday … 6 Sunday; null: any day) and
    ``time_zone`` (``subscriber``: the person's ``time_zone`` attribute when it names a
    zone, else the newsletter's; or ``newsletter``). ``branch``: ``segment`` (an id);
    people it picks go on, the others skip ``skip`` steps (null: they leave). ``stop``
    takes nothing."""

    model_config = ConfigDict(extra="forbid")

    kind: StepKind
    subject: Text | None = None
    body: Text | None = None
    body_format: BodyFormat | None = None
    preheader: Text | None = None
    template: Text | None = None
    delay_seconds: int | None = Field(None, ge=1)
    weekday: int | None = Field(None, ge=0, le=6)
    hour: int | None = Field(None, ge=0, le=23)
    time_zone: ZoneOf | None = None
    segment: int | None = Field(None, description="Branch: the id of the segment it asks.")
    skip: int | None = Field(
        None, ge=0, le=50, description="Branch: steps the others skip (null: they leave)."
    )


class AutomationIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Text
    lists: list[Slug] = Field(description="Its emails go to people confirmed on these lists.")
    trigger: Trigger = Trigger.LIST_CONFIRMED
    trigger_field: Text = Field(
        "", description="Anniversary: the subscriber attribute holding a date (YYYY-MM-DD)."
    )
    segment: int | None = Field(None, description="Entering a segment: the segment's id.")
    steps: list[StepIn] = Field(default_factory=list)


class AutomationPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Text | None = None
    lists: list[Slug] | None = None
    trigger: Trigger | None = None
    trigger_field: Text | None = None
    segment: int | None = None


class StepOut(Schema):
    id: int
    position: int
    kind: StepKind
    removed: bool
    campaign: int | None = Field(None, description="The email's campaign: its report and sends.")
    subject: str | None = None
    delay_seconds: int | None = None
    weekday: int | None = None
    hour: int | None = None
    time_zone: ZoneOf
    segment: int | None = None
    skip: int | None = None
    here: int = Field(description="People on this step now.")
    sent: int | None = None
    queued: int | None = None
    failed: int | None = None
    skipped: int | None = None


class ReportOut(Schema):
    enrolled: int
    in_progress: int
    done: int
    exited: int
    unreadable_dates: int = Field(
        description="Anniversary: people on its lists whose field is not a date (YYYY-MM-DD)."
    )


class AutomationOut(Schema):
    id: int
    name: str
    status: AutomationStatus
    trigger: Trigger
    trigger_field: str
    segment: int | None
    lists: list[str]
    steps: list[StepOut]
    report: ReportOut
    created_at: datetime
    updated_at: datetime


class AutomationSummary(Schema):
    id: int
    name: str
    status: AutomationStatus
    trigger: Trigger
    enrolled: int


class EnrolIn(Schema):
    model_config = ConfigDict(extra="forbid")

    subscriber: int | None = Field(None, description="The subscriber's id, or give ``email``.")
    email: Text | None = None
    start_at: datetime | None = Field(None, description="When the first step runs (default: now).")


class EnrolmentOut(Schema):
    automation: int
    subscriber: int
    state: EnrolmentState
    step: int | None
    next_run_at: datetime | None
    enrolled_at: datetime
    created: bool


def _automation(request: HttpRequest, automation_id: int) -> Automation:
    return get_object_or_404(Automation, newsletter=request.newsletter, pk=automation_id)


def _out(automation: Automation) -> dict:
    report = selectors.automation_report(automation)
    steps = []
    for counts in [*report.steps, *report.removed]:
        step, sending = counts.step, counts.sending
        steps.append(
            {
                "id": step.pk,
                "position": step.position,
                "kind": step.kind,
                "removed": step.removed_at is not None,
                "campaign": step.campaign_id,
                "subject": step.campaign.subject if step.campaign_id else None,
                "delay_seconds": int(step.delay.total_seconds()) if step.delay else None,
                "weekday": step.weekday,
                "hour": step.hour,
                "time_zone": step.zone_of,
                "segment": step.segment_id,
                "skip": step.skip,
                "here": counts.here,
                **(
                    {
                        "sent": sending.sent,
                        "queued": sending.queued + sending.sending,
                        "failed": sending.failed,
                        "skipped": sending.skipped,
                    }
                    if sending
                    else {}
                ),
            }
        )
    return {
        "id": automation.pk,
        "name": automation.name,
        "status": automation.status,
        "trigger": automation.trigger,
        "trigger_field": automation.trigger_field,
        "segment": automation.segment_id,
        "lists": [mailing_list.slug for mailing_list in automation.lists.all()],
        "steps": steps,
        "report": {
            "enrolled": report.enrolled,
            "in_progress": report.in_progress,
            "done": report.done,
            "exited": report.exited,
            "unreadable_dates": report.unreadable_dates,
        },
        "created_at": automation.created_at,
        "updated_at": automation.updated_at,
    }


def _spec(request: HttpRequest, step: StepIn, field: str) -> StepSpec:
    """The service's step from the API's, each value only where its kind takes it."""
    given = step.dict(exclude_none=True, exclude={"kind"})
    takes = {
        StepKind.SEND: {"subject", "body", "body_format", "preheader", "template"},
        StepKind.WAIT: {"delay_seconds"},
        StepKind.WAIT_UNTIL: {"weekday", "hour", "time_zone"},
        StepKind.BRANCH: {"segment", "skip"},
        StepKind.STOP: set(),
    }[step.kind]
    layout = None
    if step.template is not None:
        layout = Layout.objects.filter(newsletter=request.newsletter, name=step.template).first()
        if layout is None:
            raise field_error(f"{field}.template", f"No layout is called “{step.template}”.")
    return StepSpec(
        kind=step.kind,
        subject=step.subject or "",
        body=step.body or "",
        body_format=step.body_format or BodyFormat.MARKDOWN,
        preheader=step.preheader or "",
        layout=layout,
        delay=timedelta(seconds=step.delay_seconds) if step.delay_seconds else None,
        weekday=step.weekday,
        hour=step.hour,
        zone_of=step.time_zone or ZoneOf.NEWSLETTER,
        segment=_segment(request, step.segment, f"{field}.segment"),
        skip=step.skip,
        extra={name: value for name, value in given.items() if name not in takes},
    )


def _segment(request: HttpRequest, segment_id: int | None, field: str) -> Segment | None:
    if segment_id is None:
        return None
    found = Segment.objects.filter(newsletter=request.newsletter, pk=segment_id).first()
    if found is None:
        raise field_error(field, "No such segment in this newsletter.")
    return found


def _state_error(error: AutomationStateError) -> FieldError:
    return FieldError({"status": [str(error)]}, status=409)


@router.get("/", response={200: list[AutomationSummary]}, summary="The newsletter's automations")
def list_automations(request: HttpRequest):
    return selectors.automations_of(request.newsletter)


@router.post(
    "/",
    response={201: AutomationOut, 403: Error, 422: Error},
    summary="Create a draft automation with its steps (all or nothing)",
)
def create_automation(request: HttpRequest, payload: AutomationIn):
    """Each problem names its part (``steps.1.delay_seconds``, ``trigger_field``); nothing
    is kept when one step is wrong."""
    require(request, Role.EDITOR)
    lists = lists_by_slug(request, payload.lists)
    specs = [_spec(request, step, f"steps.{index}") for index, step in enumerate(payload.steps)]
    try:
        automation = services.automation_create(
            newsletter=request.newsletter,
            created_by=request.api_token.user,
            name=payload.name,
            lists=lists,
            trigger=payload.trigger,
            trigger_field=payload.trigger_field,
            segment=_segment(request, payload.segment, "segment"),
            steps=specs,
        )
    except ValidationError as error:
        raise from_django(error, "steps") from None
    return Status(201, _out(automation))


@router.get(
    "/{automation_id}/", response={200: AutomationOut, 404: Error}, summary="One automation"
)
def get_automation(request: HttpRequest, automation_id: int):
    return _out(_automation(request, automation_id))


@router.patch(
    "/{automation_id}/",
    response={200: AutomationOut, 403: Error, 404: Error, 422: Error},
    summary="Rename it, change its lists or trigger, even while it runs",
)
def update_automation(request: HttpRequest, automation_id: int, payload: AutomationPatch):
    require(request, Role.EDITOR)
    automation = _automation(request, automation_id)
    lists = lists_by_slug(request, payload.lists) if payload.lists is not None else None
    try:
        services.automation_update(
            automation=automation,
            name=payload.name,
            lists=lists,
            trigger=payload.trigger,
            trigger_field=payload.trigger_field,
            segment=_segment(request, payload.segment, "segment"),
        )
    except ValidationError as error:
        raise from_django(error, "name") from None
    return _out(_automation(request, automation_id))


@router.delete(
    "/{automation_id}/",
    response={204: None, 403: Error, 404: Error, 409: Error},
    summary="Delete a draft (a started one is paused instead)",
)
def delete_automation(request: HttpRequest, automation_id: int):
    require(request, Role.EDITOR)
    try:
        services.automation_delete(automation=_automation(request, automation_id))
    except AutomationStateError as error:
        raise _state_error(error) from None
    return Status(204, None)


@router.post(
    "/{automation_id}/steps/",
    response={201: AutomationOut, 403: Error, 404: Error, 422: Error},
    summary="Add a step at the end (a running automation's people reach it in turn)",
)
def add_step(request: HttpRequest, automation_id: int, payload: StepIn):
    require(request, Role.EDITOR)
    automation = _automation(request, automation_id)
    try:
        services.step_add(
            automation=automation,
            spec=_spec(request, payload, "step"),
            created_by=request.api_token.user,
        )
    except ValidationError as error:
        raise from_django(error, "step") from None
    return Status(201, _out(automation))


def _step(automation: Automation, step_id: int) -> Step:
    return get_object_or_404(Step, automation=automation, pk=step_id, removed_at__isnull=True)


@router.patch(
    "/{automation_id}/steps/{step_id}/",
    response={200: AutomationOut, 403: Error, 404: Error, 422: Error},
    summary="Change a step's email or wait; people on it keep their place",
)
def update_step(request: HttpRequest, automation_id: int, step_id: int, payload: StepIn):
    require(request, Role.EDITOR)
    automation = _automation(request, automation_id)
    try:
        services.step_update(step=_step(automation, step_id), spec=_spec(request, payload, "step"))
    except ValidationError as error:
        raise from_django(error, "step") from None
    return _out(automation)


@router.delete(
    "/{automation_id}/steps/{step_id}/",
    response={200: AutomationOut, 403: Error, 404: Error},
    summary="Remove a step; people on it go on to the next one at their next turn",
)
def remove_step(request: HttpRequest, automation_id: int, step_id: int):
    require(request, Role.EDITOR)
    automation = _automation(request, automation_id)
    services.step_remove(step=_step(automation, step_id))
    return _out(automation)


def _status_change(request: HttpRequest, automation_id: int, change) -> dict:
    require(request, Role.EDITOR)
    automation = _automation(request, automation_id)
    try:
        change(automation=automation)
    except AutomationStateError as error:
        raise _state_error(error) from None
    except ValidationError as error:
        raise from_django(error, "steps") from None
    return _out(_automation(request, automation_id))


@router.post(
    "/{automation_id}/activate/",
    response={200: AutomationOut, 403: Error, 404: Error, 409: Error, 422: Error},
    summary="Start a draft (every email must be sendable)",
)
def activate(request: HttpRequest, automation_id: int):
    return _status_change(request, automation_id, services.automation_activate)


@router.post(
    "/{automation_id}/pause/",
    response={200: AutomationOut, 403: Error, 404: Error, 409: Error},
    summary="Nobody advances and its emails wait; people who qualify are still enrolled",
)
def pause(request: HttpRequest, automation_id: int):
    return _status_change(request, automation_id, services.automation_pause)


@router.post(
    "/{automation_id}/resume/",
    response={200: AutomationOut, 403: Error, 404: Error, 409: Error},
    summary="Everyone goes on from where they are",
)
def resume(request: HttpRequest, automation_id: int):
    return _status_change(request, automation_id, services.automation_resume)


@router.post(
    "/{automation_id}/enrol/",
    response={200: EnrolmentOut, 201: EnrolmentOut, 403: Error, 404: Error, 409: Error, 422: Error},
    summary="Put a person into the automation (once ever: 200 when already in)",
)
def enrol(request: HttpRequest, automation_id: int, payload: EnrolIn):
    """The person is named by ``subscriber`` (id) or ``email`` and must be confirmed on
    one of the automation's lists."""
    require(request, Role.EDITOR)
    automation = _automation(request, automation_id)
    people = Subscriber.objects.filter(newsletter=request.newsletter)
    if payload.subscriber is not None:
        person = people.filter(pk=payload.subscriber).first()
    elif payload.email is not None:
        person = people.with_address(payload.email).first()
    else:
        raise field_error("subscriber", "Give the subscriber's id or email.")
    if person is None:
        raise field_error(
            "subscriber" if payload.subscriber is not None else "email",
            "No such subscriber in this newsletter.",
        )
    try:
        enrolment, created = services.enrol(
            automation=automation, subscriber=person, trigger=Trigger.API, start_at=payload.start_at
        )
    except AutomationStateError as error:
        raise _state_error(error) from None
    except ValidationError as error:
        raise from_django(error, "subscriber") from None
    return Status(
        201 if created else 200,
        {
            "automation": automation.pk,
            "subscriber": person.pk,
            "state": enrolment.state,
            "step": enrolment.step_id,
            "next_run_at": enrolment.next_run_at,
            "enrolled_at": enrolment.enrolled_at,
            "created": created,
        },
    )
