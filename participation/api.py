"""``/api/v1/`` endpoints of participation: consultations, open calls, goals, referrals and
the transparency page. Thin: each calls the service the dashboard calls (same checks,
same rollups); ``api.urls`` mounts the routers."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status
from pydantic import AfterValidator, StringConstraints

from api import pagination
from api.auth import actor, require
from api.errors import FieldError, from_django
from api.schemas import Error, Text
from newsletter.links import absolute_url
from newsletter.models import Role

from . import dashboard, selectors
from .models import (
    Call,
    Consultation,
    Goal,
    GoalKind,
    GoalUpdateKind,
    GoalUpdateSource,
    ParticipationSettings,
    QuestionKind,
    Submission,
    SubmissionStatus,
)
from .services import calls, consultations, goals, transparency

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _in_utc(value: datetime) -> datetime:
    """A moment in UTC: PostgreSQL refuses offsets beyond ±15:59, which ISO 8601 allows
    (and a time without an offset is read as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


Moment = Annotated[datetime, AfterValidator(_in_utc)]
SlugText = Annotated[str, StringConstraints(pattern=r"^[-a-zA-Z0-9_]*$", max_length=100)]


def _invalid(error: ValidationError, field: str = "__all__") -> FieldError:
    return from_django(error, field)


def _changes(payload: Schema, *, nullable: tuple[str, ...] = ("closes_at",)) -> dict:
    """The fields a PATCH sent; ``null`` means "unchanged" except where it has a meaning
    of its own (no closing time)."""
    return {
        name: value
        for name, value in payload.dict(exclude_unset=True).items()
        if value is not None or name in nullable
    }


# Consultations

consultations_router = Router(tags=["consultations"])


class ChoiceOut(Schema):
    id: int
    label: str
    answers: int


class QuestionOut(Schema):
    id: int
    kind: QuestionKind
    prompt: str
    respondents: int
    choices: list[ChoiceOut]


class ConsultationOut(Schema):
    id: int
    slug: str
    title: str
    description: str
    public_results: bool
    closes_at: datetime | None
    is_open: bool
    block_tag: str
    public_url: str
    questions: list[QuestionOut]

    @staticmethod
    def resolve_block_tag(consultation: Consultation) -> str:
        return f"{{{{ consultation.{consultation.slug} }}}}"

    @staticmethod
    def resolve_public_url(consultation: Consultation) -> str:
        return absolute_url(
            "participation:consultation",
            newsletter=consultation.newsletter.slug,
            consultation=consultation.slug,
        )

    @staticmethod
    def resolve_questions(consultation: Consultation) -> list:
        return list(consultation.questions.all())

    @staticmethod
    def resolve_choices(question) -> list:
        return list(question.choices.all())


class QuestionIn(Schema):
    kind: QuestionKind
    prompt: Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    options: list[Annotated[Text, StringConstraints(max_length=200)]] = Field(
        default_factory=list, max_length=10
    )


class ConsultationIn(Schema):
    title: Title
    slug: SlugText = ""
    description: Text = ""
    public_results: bool = False
    closes_at: Moment | None = None
    questions: list[QuestionIn] = Field(min_length=1, max_length=20)


class ConsultationPatch(Schema):
    title: Title | None = None
    slug: SlugText | None = None
    description: Text | None = None
    public_results: bool | None = None
    closes_at: Moment | None = None
    closed: bool | None = Field(None, description="true closes it now; answers stop.")


class ConsultationPage(Schema):
    items: list[ConsultationOut]
    next_cursor: str | None


class ChoiceResultOut(Schema):
    id: int
    label: str
    count: int | None
    percent: float | None


class QuestionResultOut(Schema):
    id: int
    kind: QuestionKind
    prompt: str
    respondents: int | None
    choices: list[ChoiceResultOut]
    answers: list[str] = Field(description="Free-text answers, newest first, without names.")
    comments: list[str] = Field(description="Comments, newest first, without names.")


class ResultsOut(Schema):
    consultation: int
    questions: list[QuestionResultOut]


def _consultation(request: HttpRequest, consultation_id: int) -> Consultation:
    return get_object_or_404(
        Consultation.objects.select_related("newsletter").prefetch_related("questions__choices"),
        newsletter=request.newsletter,
        pk=consultation_id,
    )


@consultations_router.get(
    "/", response={200: ConsultationPage, 422: Error}, summary="The newsletter's consultations"
)
def list_consultations(
    request: HttpRequest,
    cursor: Text | None = None,
    limit: int = Query(pagination.DEFAULT_LIMIT, ge=1, le=pagination.MAX_LIMIT),
):
    queryset = (
        Consultation.objects.filter(newsletter=request.newsletter)
        .select_related("newsletter")
        .prefetch_related("questions__choices")
    )
    items, next_cursor = pagination.page(queryset, cursor, limit)
    return {"items": items, "next_cursor": next_cursor}


@consultations_router.post(
    "/",
    response={201: ConsultationOut, 403: Error, 422: Error},
    summary="Create a consultation with its questions",
)
def create_consultation(request: HttpRequest, payload: ConsultationIn):
    """Kinds: ``single``, ``multiple`` (2 to 10 ``options``), ``scale`` (1 to 5), ``text``."""
    require(request, Role.EDITOR)
    try:
        found = consultations.consultation_create(
            newsletter=request.newsletter,
            created_by=request.api_token.user,
            title=payload.title,
            slug=payload.slug,
            description=payload.description,
            public_results=payload.public_results,
            closes_at=payload.closes_at,
            questions=[
                consultations.QuestionSpec(kind=q.kind, prompt=q.prompt, options=q.options)
                for q in payload.questions
            ],
        )
    except ValidationError as error:
        raise _invalid(error, "questions") from None
    return Status(201, _consultation(request, found.pk))


@consultations_router.get(
    "/{consultation_id}/", response={200: ConsultationOut, 404: Error}, summary="A consultation"
)
def get_consultation(request: HttpRequest, consultation_id: int):
    return _consultation(request, consultation_id)


@consultations_router.patch(
    "/{consultation_id}/",
    response={200: ConsultationOut, 403: Error, 404: Error, 422: Error},
    summary="Change a consultation, or close it",
)
def patch_consultation(request: HttpRequest, consultation_id: int, payload: ConsultationPatch):
    require(request, Role.EDITOR)
    found = _consultation(request, consultation_id)
    changes = _changes(payload)
    closed = changes.pop("closed", None)
    with transaction.atomic():
        if changes:
            try:
                consultations.consultation_update(
                    consultation=found,
                    title=changes.get("title", found.title),
                    slug=changes.get("slug", found.slug) or found.slug,
                    description=changes.get("description", found.description),
                    public_results=changes.get("public_results", found.public_results),
                    closes_at=changes.get("closes_at", found.closes_at),
                )
            except ValidationError as error:
                raise _invalid(error) from None
        if closed:
            consultations.consultation_close(consultation=found)
    return _consultation(request, consultation_id)


def _results(consultation: Consultation) -> dict:
    return {
        "consultation": consultation.pk,
        "questions": [
            {
                "id": result.question.pk,
                "kind": result.question.kind,
                "prompt": result.question.prompt,
                "respondents": result.respondents,
                "choices": [
                    {
                        "id": choice.pk,
                        "label": choice.label,
                        "count": choice.count,
                        "percent": choice.percent,
                    }
                    for choice in result.choices
                ],
                "answers": result.texts,
                "comments": result.comments,
            }
            for result in selectors.results(consultation, public=False)
        ],
    }


@consultations_router.get(
    "/{consultation_id}/results/",
    response={200: ResultsOut, 404: Error},
    summary="Counts, shares, free-text answers and comments (never who gave them)",
)
def consultation_results(request: HttpRequest, consultation_id: int):
    return _results(_consultation(request, consultation_id))


@consultations_router.get(
    "/{consultation_id}/results.csv",
    response={200: str, 404: Error},
    summary="The results as CSV (formula-safe)",
    openapi_extra={"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}},
)
def consultation_results_csv(request: HttpRequest, consultation_id: int):
    found = _consultation(request, consultation_id)
    response = HttpResponse(dashboard.results_csv(found), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{found.slug}-results.csv"'
    return response


# Open calls

calls_router = Router(tags=["calls"])


class CallOut(Schema):
    id: int
    slug: str
    title: str
    description: str
    closes_at: datetime | None
    is_open: bool
    consent_text: str
    require_proof_of_work: bool
    public_url: str

    @staticmethod
    def resolve_public_url(call: Call) -> str:
        return absolute_url("participation:call", newsletter=call.newsletter.slug, call=call.slug)


class CallIn(Schema):
    title: Title
    description: Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1)]
    slug: SlugText = ""
    closes_at: Moment | None = None
    consent_text: Text = ""
    require_proof_of_work: bool = False


class CallPatch(Schema):
    title: Title | None = None
    description: Text | None = None
    slug: SlugText | None = None
    closes_at: Moment | None = None
    consent_text: Text | None = None
    require_proof_of_work: bool | None = None
    closed: bool | None = Field(
        None, description="true closes it now; the form stops taking contributions."
    )


class CallPage(Schema):
    items: list[CallOut]
    next_cursor: str | None


class SubmissionOut(Schema):
    id: int
    title: str
    link: str
    text: str
    credit_name: str
    email: str
    notify_on_publish: bool
    status: SubmissionStatus
    note: str
    campaign: int | None = Field(None, alias="campaign_id")
    consent_wording: str
    consented_at: datetime
    created_at: datetime
    published_at: datetime | None


class SubmissionPage(Schema):
    items: list[SubmissionOut]
    next_cursor: str | None


class ModerationIn(Schema):
    action: Literal["accept", "reject", "changes", "take_out", "forget"]
    note: Annotated[Text, StringConstraints(max_length=2000)] = ""


class InsertIn(Schema):
    campaign: int


class InsertOut(Schema):
    inserted: int
    campaign: int


def _call(request: HttpRequest, call_id: int) -> Call:
    return get_object_or_404(
        Call.objects.select_related("newsletter"), newsletter=request.newsletter, pk=call_id
    )


@calls_router.get("/", response={200: CallPage, 422: Error}, summary="The newsletter's open calls")
def list_calls(
    request: HttpRequest,
    cursor: Text | None = None,
    limit: int = Query(pagination.DEFAULT_LIMIT, ge=1, le=pagination.MAX_LIMIT),
):
    queryset = Call.objects.filter(newsletter=request.newsletter).select_related("newsletter")
    items, next_cursor = pagination.page(queryset, cursor, limit)
    return {"items": items, "next_cursor": next_cursor}


@calls_router.post("/", response={201: CallOut, 403: Error, 422: Error}, summary="Open a call")
def create_call(request: HttpRequest, payload: CallIn):
    require(request, Role.EDITOR)
    try:
        found = calls.call_create(
            newsletter=request.newsletter, created_by=request.api_token.user, **payload.dict()
        )
    except ValidationError as error:
        raise _invalid(error) from None
    return Status(201, _call(request, found.pk))


@calls_router.get("/{call_id}/", response={200: CallOut, 404: Error}, summary="An open call")
def get_call(request: HttpRequest, call_id: int):
    return _call(request, call_id)


@calls_router.patch(
    "/{call_id}/",
    response={200: CallOut, 403: Error, 404: Error, 422: Error},
    summary="Change an open call, or close it",
)
def patch_call(request: HttpRequest, call_id: int, payload: CallPatch):
    require(request, Role.EDITOR)
    found = _call(request, call_id)
    changes = _changes(payload)
    closed = changes.pop("closed", None)
    with transaction.atomic():
        if changes:
            try:
                calls.call_update(
                    call=found,
                    title=changes.get("title", found.title),
                    slug=changes.get("slug", found.slug) or found.slug,
                    description=changes.get("description", found.description),
                    closes_at=changes.get("closes_at", found.closes_at),
                    consent_text=changes.get("consent_text", found.consent_text),
                    require_proof_of_work=changes.get(
                        "require_proof_of_work", found.require_proof_of_work
                    ),
                )
            except ValidationError as error:
                raise _invalid(error) from None
        if closed:
            calls.call_close(call=found)
    return _call(request, call_id)


@calls_router.get(
    "/{call_id}/submissions/",
    response={200: SubmissionPage, 404: Error, 422: Error},
    summary="The contributions, oldest first",
)
def list_submissions(
    request: HttpRequest,
    call_id: int,
    status: SubmissionStatus | None = None,
    cursor: Text | None = None,
    limit: int = Query(pagination.DEFAULT_LIMIT, ge=1, le=pagination.MAX_LIMIT),
):
    found = _call(request, call_id)
    queryset = Submission.objects.filter(call=found)
    if status is not None:
        queryset = queryset.filter(status=status)
    items, next_cursor = pagination.page(queryset, cursor, limit)
    return {"items": items, "next_cursor": next_cursor}


@calls_router.post(
    "/{call_id}/submissions/{submission_id}/moderate/",
    response={200: SubmissionOut, 403: Error, 404: Error, 409: Error, 422: Error},
    summary="Accept, reject, ask for changes, take out of the draft, or forget the address",
)
def moderate_submission(
    request: HttpRequest, call_id: int, submission_id: int, payload: ModerationIn
):
    require(request, Role.EDITOR)
    found = get_object_or_404(Submission, call=_call(request, call_id), pk=submission_id)
    try:
        dashboard.MODERATIONS[payload.action](found, request.api_token.user, payload.note)
    except calls.MoveRefused as error:
        raise FieldError({"action": error.messages}, status=409) from None
    except ValidationError as error:
        raise _invalid(error, "action") from None
    found.refresh_from_db()
    return found


@calls_router.post(
    "/{call_id}/insert/",
    response={200: InsertOut, 403: Error, 404: Error, 422: Error},
    summary="Put the accepted contributions at the end of a draft, credited",
)
def insert_submissions(request: HttpRequest, call_id: int, payload: InsertIn):
    require(request, Role.EDITOR)
    found = _call(request, call_id)
    campaign = request.newsletter.campaigns.filter(pk=payload.campaign).first()
    if campaign is None:
        raise FieldError({"campaign": ["No campaign of this newsletter has this id."]})
    try:
        count = calls.submissions_insert(call=found, campaign=campaign, user=request.api_token.user)
    except ValidationError as error:
        raise _invalid(error, "campaign") from None
    return {"inserted": count, "campaign": campaign.pk}


# Goals

goals_router = Router(tags=["goals"])


class GoalOut(Schema):
    id: int
    slug: str
    title: str
    description: str
    kind: GoalKind
    currency: str
    target: Decimal
    current: Decimal
    percent: int
    cta_label: str
    cta_url: str
    cta_clicks: int
    closes_at: datetime | None
    block_tag: str
    public_url: str
    webhook_url: str

    @staticmethod
    def resolve_block_tag(goal: Goal) -> str:
        return f"{{{{ goal.{goal.slug} }}}}"

    @staticmethod
    def resolve_public_url(goal: Goal) -> str:
        return absolute_url("participation:goal", newsletter=goal.newsletter.slug, goal=goal.slug)

    @staticmethod
    def resolve_webhook_url(goal: Goal) -> str:
        return absolute_url("participation_webhooks:goal_webhook", key=goal.webhook_key)


class GoalIn(Schema):
    title: Title
    kind: GoalKind
    target: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    cta_label: Annotated[
        Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)
    ]
    cta_url: Annotated[Text, StringConstraints(max_length=500)]
    currency: Annotated[str, StringConstraints(max_length=3)] = ""
    slug: SlugText = ""
    description: Text = ""
    closes_at: Moment | None = None


class GoalPatch(Schema):
    title: Title | None = None
    kind: GoalKind | None = None
    target: Decimal | None = Field(None, gt=0, max_digits=14, decimal_places=2)
    cta_label: Text | None = None
    cta_url: Text | None = None
    currency: str | None = None
    slug: SlugText | None = None
    description: Text | None = None
    closes_at: Moment | None = None


class GoalPage(Schema):
    items: list[GoalOut]
    next_cursor: str | None


class ProgressIn(Schema):
    mode: GoalUpdateKind = GoalUpdateKind.ADD
    amount: Decimal = Field(max_digits=14, decimal_places=2)
    note: Annotated[Text, StringConstraints(max_length=300)] = ""
    id: Annotated[Text, StringConstraints(max_length=200)] = Field(
        "", description="The platform's event id: sent again, the report is applied once."
    )


class ProgressOut(Schema):
    applied: bool
    total: Decimal
    percent: int


def _goal(request: HttpRequest, goal_id: int) -> Goal:
    return get_object_or_404(
        Goal.objects.select_related("newsletter"), newsletter=request.newsletter, pk=goal_id
    )


@goals_router.get("/", response={200: GoalPage, 422: Error}, summary="The newsletter's goals")
def list_goals(
    request: HttpRequest,
    cursor: Text | None = None,
    limit: int = Query(pagination.DEFAULT_LIMIT, ge=1, le=pagination.MAX_LIMIT),
):
    queryset = Goal.objects.filter(newsletter=request.newsletter).select_related("newsletter")
    items, next_cursor = pagination.page(queryset, cursor, limit)
    return {"items": items, "next_cursor": next_cursor}


@goals_router.post("/", response={201: GoalOut, 403: Error, 422: Error}, summary="Create a goal")
def create_goal(request: HttpRequest, payload: GoalIn):
    require(request, Role.EDITOR)
    try:
        found = goals.goal_create(newsletter=request.newsletter, **payload.dict())
    except ValidationError as error:
        raise _invalid(error) from None
    return Status(201, _goal(request, found.pk))


@goals_router.get("/{goal_id}/", response={200: GoalOut, 404: Error}, summary="A goal")
def get_goal(request: HttpRequest, goal_id: int):
    return _goal(request, goal_id)


@goals_router.patch(
    "/{goal_id}/",
    response={200: GoalOut, 403: Error, 404: Error, 422: Error},
    summary="Change a goal",
)
def patch_goal(request: HttpRequest, goal_id: int, payload: GoalPatch):
    require(request, Role.EDITOR)
    found = _goal(request, goal_id)
    changes = _changes(payload)
    fields = {
        name: changes.get(name, getattr(found, name))
        for name in (
            "title",
            "kind",
            "target",
            "cta_label",
            "cta_url",
            "currency",
            "description",
            "closes_at",
        )
    }
    try:
        goals.goal_update(goal=found, slug=changes.get("slug") or found.slug, **fields)
    except ValidationError as error:
        raise _invalid(error) from None
    return _goal(request, goal_id)


@goals_router.post(
    "/{goal_id}/progress/",
    response={200: ProgressOut, 201: ProgressOut, 403: Error, 404: Error, 422: Error},
    summary="Add to the total, or set it (a repeated event id is applied once)",
)
def goal_progress(request: HttpRequest, goal_id: int, payload: ProgressIn):
    require(request, Role.EDITOR)
    found = _goal(request, goal_id)
    try:
        update = goals.goal_progress(
            goal=found,
            kind=payload.mode,
            amount=payload.amount,
            note=payload.note,
            external_id=payload.id,
            source=GoalUpdateSource.API,
            actor=actor(request),
        )
    except ValidationError as error:
        raise _invalid(error, "amount") from None
    found.refresh_from_db()
    body = {"applied": update is not None, "total": found.current, "percent": found.percent}
    return Status(201 if update is not None else 200, body)


# Referrals and the transparency page

participation_router = Router(tags=["participation"])


class MonthCount(Schema):
    month: str
    confirmed: int


class TopReferrer(Schema):
    name: str
    subscriber: int
    brought: int


class ReferralsOut(Schema):
    total_confirmed: int
    pending: int
    months: list[MonthCount]
    top: list[TopReferrer] = Field(description="Only readers who agreed to be shown.")


class SettingsOut(Schema):
    transparency_page: bool
    referral_thanks: bool
    transparency_url: str


class SettingsPatch(Schema):
    transparency_page: bool | None = None
    referral_thanks: bool | None = None


@participation_router.get(
    "/referrals/", response={200: ReferralsOut}, summary="Referrals over time and top referrers"
)
def referrals(request: HttpRequest):
    stats = selectors.referral_stats(request.newsletter)
    return {
        "total_confirmed": stats.total_confirmed,
        "pending": stats.pending,
        "months": [
            {"month": month.isoformat()[:7], "confirmed": count}
            for month, count in zip(stats.months, stats.confirmed, strict=True)
        ],
        "top": [
            {"name": name, "subscriber": subscriber, "brought": count}
            for name, subscriber, count in stats.top
        ],
    }


def _settings(request: HttpRequest) -> dict:
    found = ParticipationSettings.objects.filter(newsletter=request.newsletter).first()
    return {
        "transparency_page": bool(found and found.transparency_page),
        "referral_thanks": bool(found and found.referral_thanks),
        "transparency_url": absolute_url("participation:stats", newsletter=request.newsletter.slug),
    }


@participation_router.get(
    "/settings/", response={200: SettingsOut}, summary="The transparency page and referral thanks"
)
def get_settings(request: HttpRequest):
    return _settings(request)


@participation_router.patch(
    "/settings/", response={200: SettingsOut, 403: Error}, summary="Publish the transparency page…"
)
def patch_settings(request: HttpRequest, payload: SettingsPatch):
    require(request, Role.OWNER)
    current = _settings(request)
    changes = _changes(payload, nullable=())
    transparency.settings_update(
        newsletter=request.newsletter,
        transparency_page=changes.get("transparency_page", current["transparency_page"]),
        referral_thanks=changes.get("referral_thanks", current["referral_thanks"]),
    )
    return _settings(request)


class MonthFigures(Schema):
    month: str
    joined: int | None
    left: int | None
    subscribers: int | None


class IssueFiguresOut(Schema):
    sent_at: datetime
    subject: str
    url: str
    recipients: int | None
    opens: float | None
    clicks: float | None
    unsubscribes: int | None


class WordingOut(Schema):
    wording: str
    first_used: datetime
    last_used: datetime


class TransparencyOut(Schema):
    subscribers_now: int | None
    issues_sent: int | None
    open_rate: float | None
    click_rate: float | None
    unique_rates: bool
    months: list[MonthFigures]
    issues: list[IssueFiguresOut]
    wordings: list[WordingOut]


@participation_router.get(
    "/transparency/",
    response={200: TransparencyOut, 404: Error},
    summary="The transparency page's figures (null where a count is under 5)",
)
def transparency_figures(request: HttpRequest):
    page = selectors.transparency_page(request.newsletter)
    if page is None:
        raise FieldError({"transparency_page": ["The page is not published."]}, status=404)
    return {
        "subscribers_now": page.subscribers_now,
        "issues_sent": page.issues_sent,
        "open_rate": page.open_rate,
        "click_rate": page.click_rate,
        "unique_rates": page.unique_rates,
        "months": [{**row.__dict__, "month": row.month.isoformat()[:7]} for row in page.months],
        "issues": [issue.__dict__ for issue in page.issues],
        "wordings": page.wordings,
    }
