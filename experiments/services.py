"""An experiment's business rules: set it up on a draft, draw the sample when the campaign
starts, choose the winner and release the rest to it, exactly once.

Every write takes the campaign's row lock first (the lock the sending engine takes to
start, pause and cancel), so a decision and a cancellation, or two decisions (beat
and an editor), never interleave: the second finds the state already moved.
"""

import logging
import math
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from campaigns.extensions import VariantContent
from campaigns.models import Campaign, Kind, Status
from campaigns.rendering import render
from campaigns.services import campaign_adopt_variant, render_input
from delivery import lifecycle, samples
from delivery.audience import audience_count
from newsletter.headers import validate_single_line
from newsletter.models import TrackingPolicy

from . import results
from .models import (
    LABELS,
    MAX_VARIANTS,
    MIN_VARIANTS,
    Decision,
    Experiment,
    Metric,
    SampleKind,
    State,
    Variant,
)

logger = logging.getLogger(__name__)


# A variant changes the campaign's own subject and body; an edition replaces them for
# its readers, so the two together would test nothing clear.
EDITIONS_TOO = gettext_lazy(
    "A campaign with editions in other languages cannot run an experiment: remove its "
    "editions or the experiment."
)


class ExperimentError(Exception):
    """The experiment cannot do this now; the message says why."""


@dataclass(frozen=True)
class VariantInput:
    subject: str = ""
    body: str = ""


def _locked_campaign(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().select_related("newsletter").get(pk=campaign.pk)


def sample_count(*, kind: str, size: int, audience: int) -> int:
    """How many people a sample of ``size`` (percent or people) is out of ``audience``:
    a percentage rounds up, so a small audience still gets a sample."""
    if kind == SampleKind.PERCENT:
        return math.ceil(audience * size / 100)
    return size


@transaction.atomic
def experiment_save(
    *,
    campaign: Campaign,
    metric: str,
    sample_kind: str,
    sample_size: int,
    wait_hours: int,
    decision: str,
    variants: list[VariantInput],
) -> Experiment:
    """Create or replace a draft campaign's experiment, all of it or nothing.

    Raises ``ValidationError`` by field: ``campaign`` (not a draft), ``variants`` (fewer
    than two or more than four), ``variant_X`` (empty, or does not render),
    ``sample_size`` (not a percentage, fewer people than variants, or no smaller than
    the audience), ``metric`` (the newsletter's tracking policy cannot count it).
    """
    campaign = _locked_campaign(campaign)
    errors: dict[str, list[str]] = {}

    def error(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if campaign.kind != Kind.ISSUE:
        error("campaign", gettext("An automation's email cannot run an experiment."))
    elif campaign.status != Status.DRAFT:
        error(
            "campaign",
            gettext("An experiment can only be set up on a draft; this campaign is %(status)s.")
            % {"status": campaign.get_status_display().lower()},
        )
    if campaign.editions.exists():
        error("campaign", EDITIONS_TOO)
    if not MIN_VARIANTS <= len(variants) <= MAX_VARIANTS:
        error(
            "variants",
            gettext("Give between %(min)d and %(max)d variants; there are %(count)d.")
            % {"min": MIN_VARIANTS, "max": MAX_VARIANTS, "count": len(variants)},
        )
    for label, variant in zip(LABELS, variants, strict=False):
        _check_variant(campaign, label, variant, error)
    if metric not in Metric.values:
        error("metric", gettext("Choose opens, clicks or consultation answers."))
    else:
        _check_metric(campaign, metric, error)
    if decision not in Decision.values:
        error("decision", gettext("Choose automatic or an editor's decision."))
    if sample_kind not in SampleKind.values:
        error("sample_kind", gettext("Choose a percentage or a number of people."))
    elif sample_size < 1 or (sample_kind == SampleKind.PERCENT and sample_size > 99):
        error("sample_size", gettext("A percentage is between 1 and 99."))
    else:
        _check_sample(campaign, sample_kind, sample_size, len(variants), error)
    if wait_hours < 1 or wait_hours > 24 * 14:
        error("wait_hours", gettext("Decide after 1 hour to 14 days (336 hours)."))
    if errors:
        raise ValidationError(errors)
    experiment, _ = Experiment.objects.update_or_create(
        campaign=campaign,
        defaults={
            "metric": metric,
            "sample_kind": sample_kind,
            "sample_size": sample_size,
            "wait_hours": wait_hours,
            "decision": decision,
            "state": State.READY,
        },
    )
    experiment.variants.all().delete()
    Variant.objects.bulk_create(
        Variant(experiment=experiment, label=label, subject=v.subject.strip(), body=v.body)
        for label, v in zip(LABELS, variants, strict=False)
    )
    return experiment


def _check_variant(campaign: Campaign, label: str, variant: VariantInput, error) -> None:
    field = f"variant_{label}"
    if not variant.subject.strip() and not variant.body.strip():
        error(
            field,
            gettext("Variant %(label)s is empty: give it a subject, a body or both.")
            % {"label": label},
        )
        return
    try:
        validate_single_line(variant.subject)
    except ValidationError as problem:
        error(field, " ".join(problem.messages))
        return
    content = VariantContent(subject=variant.subject.strip(), body=variant.body)
    copy = Campaign(
        newsletter=campaign.newsletter,
        layout=campaign.layout,
        body_format=campaign.body_format,
        preheader=campaign.preheader,
        subject=content.subject or campaign.subject,
        body=content.body or campaign.body,
    )
    result = render(render_input(campaign=copy))
    for problem in result.errors:
        error(
            field, gettext("Variant %(label)s: %(problem)s") % {"label": label, "problem": problem}
        )


def _check_metric(campaign: Campaign, metric: str, error) -> None:
    policy = campaign.newsletter.tracking_policy
    if policy == TrackingPolicy.OFF:
        error(
            "metric",
            gettext(
                "This newsletter's tracking is off: no opens, clicks or answers can be "
                "counted per variant. Turn tracking on, or do not run an experiment."
            ),
        )
    elif metric == Metric.ANSWERS and policy != TrackingPolicy.INDIVIDUAL:
        error(
            "metric",
            gettext(
                "Consultation answers can be compared only under individual tracking: "
                "under aggregate tracking no answer says which mail its reader got."
            ),
        )


def _check_sample(campaign: Campaign, kind: str, size: int, variants: int, error) -> None:
    lists = campaign.lists.filter(newsletter_id=campaign.newsletter_id).active()
    audience = audience_count(list_ids=lists.values_list("pk", flat=True))
    count = sample_count(kind=kind, size=size, audience=audience)
    if count >= audience:
        error(
            "sample_size",
            gettext(
                "The sample (%(count)d people) must be smaller than the audience "
                "(%(audience)d people), so that someone gets the winner."
            )
            % {"count": count, "audience": audience},
        )
    elif count < max(variants, MIN_VARIANTS):
        error(
            "sample_size",
            gettext("The sample (%(count)d people) needs at least one person per variant.")
            % {"count": count},
        )


@transaction.atomic
def experiment_delete(*, campaign: Campaign) -> None:
    """Remove a draft's experiment: the campaign is sent to everyone as it is."""
    campaign = _locked_campaign(campaign)
    if campaign.status != Status.DRAFT:
        raise ExperimentError(gettext("Only a draft's experiment can be removed."))
    Experiment.objects.filter(campaign=campaign).delete()


def variant_contents(campaign: Campaign) -> dict[str, VariantContent]:
    """The sample's variants, for the sending engine (campaigns' registry)."""
    return {
        label: VariantContent(subject=subject, body=body)
        for label, subject, body in Variant.objects.filter(
            experiment__campaign_id=campaign.pk
        ).values_list("label", "subject", "body")
    }


def experiment_start(*, campaign: Campaign) -> None:
    """The campaign's rows were just created (in the engine's transaction, under its lock):
    draw the sample, hold the rest, start the clock. The audience may have changed since
    the experiment was set up; a sample that no longer fits refuses the start."""
    experiment = Experiment.objects.select_for_update().filter(campaign=campaign).first()
    if experiment is None:
        return
    if campaign.editions.exists():
        raise lifecycle.CampaignStateError(EDITIONS_TOO)
    labels = list(experiment.variants.values_list("label", flat=True))
    audience = campaign.deliveries.count()
    count = sample_count(
        kind=experiment.sample_kind, size=experiment.sample_size, audience=audience
    )
    if not len(labels) <= count < audience:
        raise lifecycle.CampaignStateError(
            gettext(
                "Its experiment's sample (%(count)d people) no longer fits its audience "
                "(%(audience)d people): change the sample size."
            )
            % {"count": count, "audience": audience}
        )
    samples.sample_split(campaign=campaign, size=count, labels=labels)
    now = timezone.now()
    experiment.state = State.TESTING
    experiment.started_at = now
    experiment.decide_at = now + timedelta(hours=experiment.wait_hours)
    experiment.sample_count = count
    experiment.save(update_fields=["state", "started_at", "decide_at", "sample_count"])
    logger.info("experiment started", extra={"campaign": campaign.pk, "sample": count})


@transaction.atomic
def experiment_decide(*, experiment: Experiment, actor: str, label: str = "") -> Experiment:
    """Choose the winner (``label``, or the figures' leader) and send it to the rest.

    In one transaction under the campaign's lock: the winner becomes the campaign's
    content, the held rows are queued, the state moves to ``decided``. A second call
    (beat and an editor at once, a retried task) finds it decided and changes nothing,
    so the rest is released exactly once.
    """
    campaign = _locked_campaign(experiment.campaign)
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if experiment.state != State.TESTING:
        raise ExperimentError(gettext("This experiment is not testing: nothing to decide."))
    if campaign.status not in (Status.SENDING, Status.PAUSED):
        raise ExperimentError(
            gettext("The campaign is %(status)s: there is no rest to send the winner to.")
            % {"status": campaign.get_status_display().lower()}
        )
    figures = results.experiment_results(experiment=experiment)
    if label:
        if label not in {figure.label for figure in figures.variants}:
            raise ExperimentError(gettext("There is no variant %(label)s.") % {"label": label})
        reason = gettext("Chosen by %(actor)s.") % {"actor": actor}
    else:
        label = figures.leader
        reason = figures.verdict
    campaign_adopt_variant(campaign=campaign, label=label)
    released = samples.rest_release(campaign=campaign)
    experiment.state = State.DECIDED
    experiment.winner = label
    experiment.decided_at = timezone.now()
    experiment.decided_by = actor[:255]
    experiment.reason = reason
    experiment.save(
        update_fields=["state", "winner", "decided_at", "decided_by", "reason", "updated_at"]
    )
    if campaign.status == Status.SENDING:
        transaction.on_commit(lambda: lifecycle.dispatch(campaign.pk))
    logger.info(
        "experiment decided",
        extra={"campaign": campaign.pk, "winner": label, "released": released, "actor": actor},
    )
    return experiment


def experiments_decide_due() -> list[int]:
    """Beat: decide each automatic experiment whose time is up; the campaigns decided.

    A cancelled campaign's experiment is left testing (nobody is left to send to); one
    cancelled between the query and the lock is logged and left the same way.
    """
    decided = []
    due = Experiment.objects.filter(
        state=State.TESTING,
        decision=Decision.AUTOMATIC,
        decide_at__lte=timezone.now(),
        campaign__status__in=(Status.SENDING, Status.PAUSED),
    )
    for experiment in due.select_related("campaign"):
        try:
            experiment_decide(experiment=experiment, actor="automatic")
        except ExperimentError as error:
            logger.warning(
                "experiment not decided",
                extra={"campaign": experiment.campaign_id, "reason": str(error)},
            )
            continue
        decided.append(experiment.campaign_id)
    return decided
