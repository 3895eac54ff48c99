"""``/api/v1/campaigns/``: write, schedule, send, pause, resume, test and measure campaigns;
duplicate any, unschedule or delete one that has not started. Content goes through
``campaigns.services`` and every change of status through ``delivery.lifecycle``, the
same services the dashboard calls."""

from dataclasses import asdict
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Query, Router, Status

from campaigns import services as campaigns
from campaigns.editions import normalize_language
from campaigns.models import Campaign, Edition, Layout
from campaigns.models import Kind as CampaignKind
from campaigns.models import Status as CampaignStatus
from delivery import lifecycle
from delivery.progress import campaign_progress, uncertain_rows
from delivery.selectors import feedback_counts
from delivery.services import campaign_test_request
from delivery.test_mail import TestMailRefused
from newsletter.models import Role
from tracking.report import edition_counts
from tracking.stats import campaign_stats as tracking_stats

from . import pagination
from .auth import actor, require
from .errors import FieldError, field_error, from_django
from .lists import lists_by_slug
from .schemas import (
    CampaignIn,
    CampaignOut,
    CampaignPage,
    CampaignPatch,
    CampaignStats,
    EditionIn,
    EditionOut,
    EditionPatch,
    Error,
    SendOut,
    SettleIn,
    SettlementOut,
    TestIn,
    TestOut,
    Text,
    UncertainList,
)
from .segments import segment_by_id

router = Router(tags=["campaigns"])


def _campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    return get_object_or_404(
        Campaign.objects.select_related("layout", "newsletter").prefetch_related(
            "lists", "editions"
        ),
        newsletter=request.newsletter,
        kind=CampaignKind.ISSUE,
        pk=campaign_id,
    )


def _layout(request: HttpRequest, name: str | None) -> Layout:
    """The named layout, or the newsletter's first; the stock ones are installed if none."""
    layouts = Layout.objects.filter(newsletter=request.newsletter)
    if name is not None:
        found = layouts.filter(name=name).first()
        if found is None:
            raise field_error("template", f"No layout is called “{name}”.")
        return found
    return (
        layouts.order_by("pk").first()
        or campaigns.install_default_layouts(newsletter=request.newsletter)[0]
    )


def _schedule(campaign: Campaign, send_at: datetime | None) -> None:
    """A time schedules (or reschedules); null unschedules a scheduled or failed campaign."""
    try:
        if send_at is not None:
            lifecycle.campaign_schedule(campaign=campaign, send_at=send_at)
        elif campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.FAILED):
            lifecycle.campaign_unschedule(campaign=campaign)
    except lifecycle.CampaignStateError as error:
        raise field_error("send_at", str(error)) from None


def _content_error(error: ValidationError) -> FieldError:
    """A refused change: 409 on ``status`` when the campaign has started, else 422 by field."""
    if getattr(error, "code", None) == "started":
        return FieldError({"status": error.messages}, status=409)
    return from_django(error, "body")


@router.get("/", response={200: CampaignPage, 422: Error}, summary="The newsletter's campaigns")
def list_campaigns(
    request: HttpRequest,
    cursor: Text | None = None,
    limit: int = Query(pagination.DEFAULT_LIMIT, ge=1, le=pagination.MAX_LIMIT),
):
    queryset = (
        Campaign.objects.filter(newsletter=request.newsletter, kind=CampaignKind.ISSUE)
        .select_related("layout", "newsletter")
        .prefetch_related("lists", "editions")
        .defer("rendered_html", "rendered_text", "rendered_subject")
    )
    items, next_cursor = pagination.page(queryset, cursor, limit)
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/", response={201: CampaignOut, 403: Error, 422: Error}, summary="Create a draft campaign"
)
def create_campaign(request: HttpRequest, payload: CampaignIn):
    """Refused with the line of each problem when it does not render; nothing is kept then."""
    require(request, Role.EDITOR)
    with transaction.atomic():
        lists = lists_by_slug(request, payload.lists)
        try:
            campaign = campaigns.campaign_create(
                newsletter=request.newsletter,
                created_by=request.api_token.user,
                layout=_layout(request, payload.template),
                name=payload.name,
                subject=payload.subject,
                preheader=payload.preheader,
                body=payload.body,
                body_format=payload.body_format,
                public=payload.public,
                lists=lists,
                local_hour=payload.local_hour,
                segment=segment_by_id(request, payload.segment),
                edition_fallback=payload.edition_fallback,
            )
        except ValidationError as error:
            raise from_django(error, "body") from None
        _schedule(campaign, payload.send_at)
    return Status(201, _campaign(request, campaign.pk))


@router.get("/{campaign_id}/", response={200: CampaignOut, 404: Error}, summary="One campaign")
def get_campaign(request: HttpRequest, campaign_id: int):
    return _campaign(request, campaign_id)


@router.patch(
    "/{campaign_id}/",
    response={200: CampaignOut, 403: Error, 404: Error, 409: Error, 422: Error},
    summary="Change a campaign that has not started; send_at schedules it, null unschedules",
)
def update_campaign(request: HttpRequest, campaign_id: int, payload: CampaignPatch):
    """A scheduled campaign stays scheduled when only its content or lists change."""
    require(request, Role.EDITOR)
    campaign = _campaign(request, campaign_id)
    changes = payload.dict(exclude_unset=True)
    with transaction.atomic():
        if "lists" in changes:
            changes["lists"] = lists_by_slug(request, changes["lists"] or [])
        if "segment" in changes:
            changes["segment"] = segment_by_id(request, changes["segment"])
        scheduling = "send_at" in changes
        send_at = changes.pop("send_at", None)
        if "template" in changes:
            changes["layout"] = _layout(request, changes.pop("template"))
        if changes:
            try:
                campaign = campaigns.campaign_update(campaign=campaign, **changes)
            except ValidationError as error:
                raise _content_error(error) from None
        if scheduling:
            _schedule(_campaign(request, campaign_id), send_at)
    return _campaign(request, campaign.pk)


@router.delete(
    "/{campaign_id}/",
    response={204: None, 403: Error, 404: Error, 409: Error},
    summary="Delete a campaign that never started",
)
def delete_campaign(request: HttpRequest, campaign_id: int):
    """Refused (409) once anything was sent: its delivery rows and report stay."""
    require(request, Role.EDITOR)
    campaign = _campaign(request, campaign_id)
    try:
        lifecycle.campaign_delete(campaign=campaign)
    except lifecycle.CampaignStateError as error:
        raise FieldError({"status": [str(error)]}, status=409) from None
    return Status(204, None)


@router.post(
    "/{campaign_id}/duplicate/",
    response={201: CampaignOut, 403: Error, 404: Error},
    summary="Copy any campaign as a new draft",
)
def duplicate_campaign(request: HttpRequest, campaign_id: int):
    """Same content, layout and lists (archived ones left out), a fresh slug, nothing sent."""
    require(request, Role.EDITOR)
    copy = campaigns.campaign_duplicate(
        campaign=_campaign(request, campaign_id), created_by=request.api_token.user
    )
    return Status(201, _campaign(request, copy.pk))


@router.post(
    "/{campaign_id}/unschedule/",
    response={200: CampaignOut, 403: Error, 404: Error, 409: Error},
    summary="Back to draft: a scheduled campaign, or one that could not start",
)
def unschedule_campaign(request: HttpRequest, campaign_id: int):
    return _act(request, campaign_id, lifecycle.campaign_unschedule)


def _act(request: HttpRequest, campaign_id: int, action) -> Campaign:
    require(request, Role.EDITOR)
    campaign = _campaign(request, campaign_id)
    try:
        action(campaign=campaign)
    except lifecycle.CampaignStateError as error:
        raise FieldError({"status": [str(error)]}, status=409) from None
    return _campaign(request, campaign_id)


@router.post(
    "/{campaign_id}/send/",
    response={202: SendOut, 403: Error, 404: Error, 409: Error},
    summary="Send now to the campaign's lists",
)
def send_campaign(request: HttpRequest, campaign_id: int):
    require(request, Role.EDITOR)
    campaign = _campaign(request, campaign_id)
    try:
        recipients = lifecycle.campaign_start(campaign=campaign)
    except lifecycle.CampaignStateError as error:
        raise FieldError({"status": [str(error)]}, status=409) from None
    return Status(202, {"status": "sending", "recipients": recipients})


@router.post(
    "/{campaign_id}/pause/",
    response={200: CampaignOut, 403: Error, 404: Error, 409: Error},
    summary="Stop claiming new messages",
)
def pause_campaign(request: HttpRequest, campaign_id: int):
    return _act(request, campaign_id, lifecycle.campaign_pause)


@router.post(
    "/{campaign_id}/resume/",
    response={200: CampaignOut, 403: Error, 404: Error, 409: Error},
    summary="Send what is still queued",
)
def resume_campaign(request: HttpRequest, campaign_id: int):
    return _act(request, campaign_id, lifecycle.campaign_resume)


@router.post(
    "/{campaign_id}/test/",
    response={202: TestOut, 403: Error, 404: Error, 422: Error, 429: Error},
    summary="Send a test to a few addresses (CRIER_TEST_MAILS_PER_HOUR per member)",
)
def test_campaign(request: HttpRequest, campaign_id: int, payload: TestIn):
    require(request, Role.EDITOR)
    campaign = _campaign(request, campaign_id)
    try:
        campaign_test_request(
            campaign=campaign,
            to=payload.to,
            user=request.api_token.user,
            requested_by=actor(request),
        )
    except TestMailRefused as error:
        raise FieldError({error.field: [str(error)]}, status=error.status) from None
    return Status(202, {"queued": len(payload.to)})


def _settlement(settlement) -> dict:
    return {
        "choice": settlement.choice,
        "deliveries": settlement.delivery_ids,
        "actor": settlement.actor,
        "decided_at": settlement.decided_at,
    }


@router.get(
    "/{campaign_id}/uncertain/",
    response={200: UncertainList, 404: Error},
    summary="Messages that may or may not have left (a worker died mid-send), and past choices",
)
def uncertain(request: HttpRequest, campaign_id: int):
    campaign = _campaign(request, campaign_id)
    return {
        "items": [
            {
                "delivery": row.pk,
                "subscriber": row.subscriber_id,
                "email": row.subscriber.email,
                "reason": row.last_error,
            }
            for row in uncertain_rows(campaign)
        ],
        "settlements": [_settlement(item) for item in campaign.uncertain_settlements.all()],
    }


@router.post(
    "/{campaign_id}/uncertain/",
    response={200: SettlementOut, 403: Error, 404: Error, 409: Error},
    summary="Resend uncertain messages, or count them as delivered (recorded with the token)",
)
def settle_uncertain(request: HttpRequest, campaign_id: int, payload: SettleIn):
    require(request, Role.EDITOR)
    campaign = _campaign(request, campaign_id)
    try:
        settlement = lifecycle.campaign_settle_uncertain(
            campaign=campaign,
            choice=payload.choice,
            actor=actor(request),
            user=request.api_token.user,
            delivery_ids=payload.deliveries,
        )
    except lifecycle.CampaignStateError as error:
        raise FieldError({"deliveries": [str(error)]}, status=409) from None
    return _settlement(settlement)


@router.get(
    "/{campaign_id}/stats/",
    response={200: CampaignStats, 404: Error},
    summary="Delivery counts, rate, time left, opens, clicks and the click map",
)
def campaign_stats(request: HttpRequest, campaign_id: int):
    campaign = _campaign(request, campaign_id)
    progress = campaign_progress(campaign=campaign)
    engagement = tracking_stats(campaign, progress=progress)
    return {
        "status": campaign.status,
        "sent_at": campaign.sent_at,
        "at": timezone.now(),
        **progress.__dict__,
        **asdict(engagement),
        # What the ESP and receiving servers reported: delivered, bounced, complained…
        **feedback_counts(campaign),
        "editions": [asdict(counts) for counts in edition_counts(campaign)],
    }


# Editions: the campaign in other languages, nested under it (docs/editions.md)


def _edition_out(facts: campaigns.EditionFacts) -> dict:
    edition = facts.edition
    return {
        "language": edition.language,
        "name": facts.name,
        "status": edition.status,
        "subject": edition.subject,
        "preheader": edition.preheader,
        "body": edition.body,
        "readers": facts.readers,
        "flagged": facts.flagged,
        "problems": [problem.located() for problem in facts.result.problems],
    }


def _edition_facts(campaign: Campaign, language: str) -> campaigns.EditionFacts:
    wanted = normalize_language(language)
    for facts in campaigns.campaign_editions(campaign=campaign):
        if facts.edition.language == wanted:
            return facts
    raise Http404(f"This campaign has no edition in {language}.")


def _edition(campaign: Campaign, language: str) -> Edition:
    return get_object_or_404(campaign.editions, language=normalize_language(language))


@router.get(
    "/{campaign_id}/editions/",
    response={200: list[EditionOut], 404: Error},
    summary="The campaign's editions in other languages, with the readers each reaches",
)
def list_editions(request: HttpRequest, campaign_id: int):
    campaign = _campaign(request, campaign_id)
    return [_edition_out(facts) for facts in campaigns.campaign_editions(campaign=campaign)]


@router.post(
    "/{campaign_id}/editions/",
    response={201: EditionOut, 403: Error, 404: Error, 409: Error, 422: Error},
    summary="Add an edition in another language (pending until marked ready)",
)
def create_edition(request: HttpRequest, campaign_id: int, payload: EditionIn):
    """Refused by field (a language already there, the newsletter's own, a body that does
    not render, with its lines); nothing is kept then."""
    require(request, Role.EDITOR)
    campaign = _campaign(request, campaign_id)
    try:
        edition = campaigns.edition_create(campaign=campaign, **payload.dict())
    except ValidationError as error:
        raise _content_error(error) from None
    return Status(201, _edition_out(_edition_facts(campaign, edition.language)))


@router.get(
    "/{campaign_id}/editions/{language}/",
    response={200: EditionOut, 404: Error},
    summary="One edition",
)
def get_edition(request: HttpRequest, campaign_id: int, language: str):
    return _edition_out(_edition_facts(_campaign(request, campaign_id), language))


@router.patch(
    "/{campaign_id}/editions/{language}/",
    response={200: EditionOut, 403: Error, 404: Error, 409: Error, 422: Error},
    summary="Change an edition, or mark it ready (status)",
)
def update_edition(request: HttpRequest, campaign_id: int, language: str, payload: EditionPatch):
    require(request, Role.EDITOR)
    campaign = _campaign(request, campaign_id)
    edition = _edition(campaign, language)
    try:
        campaigns.edition_update(edition=edition, **payload.dict(exclude_unset=True))
    except ValidationError as error:
        raise _content_error(error) from None
    return _edition_out(_edition_facts(campaign, edition.language))


@router.delete(
    "/{campaign_id}/editions/{language}/",
    response={204: None, 403: Error, 404: Error, 409: Error},
    summary="Remove an edition from a campaign that has not started",
)
def delete_edition(request: HttpRequest, campaign_id: int, language: str):
    require(request, Role.EDITOR)
    campaign = _campaign(request, campaign_id)
    try:
        campaigns.edition_delete(edition=_edition(campaign, language))
    except ValidationError as error:
        raise _content_error(error) from None
    return Status(204, None)
