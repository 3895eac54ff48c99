"""``/api/v1/campaigns/<id>/experiment/``: set up, read, remove and decide a campaign's
experiment through the services the dashboard calls; ``api.urls`` mounts the router."""

from datetime import datetime
from typing import Annotated

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from pydantic import StringConstraints

from api.auth import actor, require
from api.errors import FieldError, from_django
from api.schemas import Error
from campaigns.models import Campaign
from newsletter.models import Role

from . import services
from .models import Decision, Experiment, Metric, SampleKind, State
from .results import experiment_results

router = Router(tags=["experiments"])

Label = Annotated[str, StringConstraints(pattern=r"^[A-D]?$")]


class VariantIn(Schema):
    subject: str = ""
    body: str = ""


class ExperimentIn(Schema):
    metric: Metric = Metric.OPENS
    sample_kind: SampleKind = SampleKind.PERCENT
    sample_size: int
    wait_hours: int = 4
    decision: Decision = Decision.AUTOMATIC
    variants: list[VariantIn]


class VariantOut(Schema):
    label: str
    subject: str
    body: str
    sent: int
    count: int
    rate: float
    interval: tuple[float, float]


class ExperimentOut(Schema):
    metric: Metric
    sample_kind: SampleKind
    sample_size: int
    wait_hours: int
    decision: Decision
    state: State
    sample_count: int | None
    started_at: datetime | None
    decide_at: datetime | None
    winner: str
    decided_at: datetime | None
    reason: str
    aggregate: bool
    significant: bool
    p_value: float | None
    verdict: str
    variants: list[VariantOut]


class DecideIn(Schema):
    winner: Label = ""


def _campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    return get_object_or_404(Campaign, newsletter=request.newsletter, pk=campaign_id)


def _out(experiment: Experiment) -> dict:
    results = experiment_results(experiment=experiment)
    figures = {figure.label: figure for figure in results.variants}
    return {
        **{
            name: getattr(experiment, name)
            for name in (
                "metric",
                "sample_kind",
                "sample_size",
                "wait_hours",
                "decision",
                "state",
                "sample_count",
                "started_at",
                "decide_at",
                "winner",
                "decided_at",
                "reason",
            )
        },
        "aggregate": results.aggregate,
        "significant": results.significant,
        "p_value": results.p_value,
        "verdict": results.verdict if results.variants else "",
        "variants": [
            {
                "label": variant.label,
                "subject": variant.subject,
                "body": variant.body,
                "sent": figures[variant.label].sent,
                "count": figures[variant.label].count,
                "rate": round(figures[variant.label].rate, 4),
                "interval": tuple(round(bound, 4) for bound in figures[variant.label].interval),
            }
            for variant in experiment.variants.all()
        ],
    }


@router.get(
    "/{campaign_id}/experiment/",
    response={200: ExperimentOut, 404: Error},
    summary="A campaign's experiment, with each variant's figures",
)
def get_experiment(request: HttpRequest, campaign_id: int):
    """``count`` is the human opens, clicks or answers of the variant's sample, never a
    machine's; ``interval`` the 95 % Wilson interval of ``rate``."""
    experiment = get_object_or_404(Experiment, campaign=_campaign(request, campaign_id))
    return _out(experiment)


@router.put(
    "/{campaign_id}/experiment/",
    response={200: ExperimentOut, 403: Error, 404: Error, 422: Error},
    summary="Set up or replace a draft campaign's experiment",
)
def put_experiment(request: HttpRequest, campaign_id: int, payload: ExperimentIn):
    """2 to 4 variants (labelled A to D in order), each changing the subject, the body or
    both; a sample smaller than the audience. Bad input: 422 naming each field,
    nothing saved."""
    require(request, Role.EDITOR)
    try:
        experiment = services.experiment_save(
            campaign=_campaign(request, campaign_id),
            metric=payload.metric,
            sample_kind=payload.sample_kind,
            sample_size=payload.sample_size,
            wait_hours=payload.wait_hours,
            decision=payload.decision,
            variants=[services.VariantInput(v.subject, v.body) for v in payload.variants],
        )
    except ValidationError as error:
        raise from_django(error, "__all__") from None
    return _out(experiment)


@router.delete(
    "/{campaign_id}/experiment/",
    response={204: None, 403: Error, 404: Error, 409: Error},
    summary="Remove a draft campaign's experiment",
)
def delete_experiment(request: HttpRequest, campaign_id: int):
    require(request, Role.EDITOR)
    campaign = _campaign(request, campaign_id)
    get_object_or_404(Experiment, campaign=campaign)
    try:
        services.experiment_delete(campaign=campaign)
    except services.ExperimentError as error:
        raise FieldError({"campaign": [str(error)]}, status=409) from None
    return Status(204, None)


@router.post(
    "/{campaign_id}/experiment/decide/",
    response={200: ExperimentOut, 403: Error, 404: Error, 409: Error},
    summary="Choose the winner now and send it to the rest",
)
def decide_experiment(request: HttpRequest, campaign_id: int, payload: DecideIn):
    """``winner`` names a variant; empty takes the leader by the figures. Once only: a
    decided experiment answers 409 and sends nothing more."""
    require(request, Role.EDITOR)
    experiment = get_object_or_404(Experiment, campaign=_campaign(request, campaign_id))
    try:
        experiment = services.experiment_decide(
            experiment=experiment, actor=actor(request), label=payload.winner
        )
    except services.ExperimentError as error:
        raise FieldError({"winner": [str(error)]}, status=409) from None
    return _out(experiment)
