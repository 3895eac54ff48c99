"""Each variant's figures: how many of its sample did what the experiment counts, with a
95 % confidence interval (Wilson), and whether the leader's lead is significant.

Machine opens and clicks (privacy proxies, scanners, prefetchers: ``tracking``) never
count. Under individual tracking a variant's figure is people (each reader once, from
``Engagement``); under aggregate tracking no row says who did what, so it is the
variant's human opens or clicks counted on its own tokens, at most one per recipient
for the interval's sake: the comparison is in aggregate only.
"""

import math
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef
from django.utils.translation import gettext

from delivery.models import Delivery, DeliveryStatus
from newsletter.models import TrackingPolicy
from participation.models import Answer
from tracking.models import Engagement, VariantCount

from .models import Experiment, Metric

Z_95 = 1.959964


@dataclass(frozen=True)
class Figures:
    label: str
    subject: str
    sent: int
    count: int

    @property
    def rate(self) -> float:
        return self.count / self.sent if self.sent else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.count, self.sent)


@dataclass(frozen=True)
class Results:
    metric: str
    aggregate: bool
    variants: list[Figures]
    leader: str
    significant: bool
    p_value: float | None

    @property
    def verdict(self) -> str:
        """The decision in plain words: who leads, and whether that means anything."""
        leader = next(figure for figure in self.variants if figure.label == self.leader)
        if not any(figure.count for figure in self.variants):
            return gettext(
                "Nothing counted yet, so no variant leads: variant %(label)s would be kept."
            ) % {"label": leader.label}
        if self.significant:
            return gettext(
                "Variant %(label)s won with %(rate).1f%%: the difference is significant at 95%%."
            ) % {"label": leader.label, "rate": leader.rate * 100}
        return gettext(
            "Variant %(label)s led with %(rate).1f%%, but the difference is not significant: "
            "the variants may well do the same."
        ) % {"label": leader.label, "rate": leader.rate * 100}


def wilson(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion: sound for small samples and for rates
    near 0 or 1, where the normal approximation gives impossible bounds."""
    if trials == 0:
        return (0.0, 0.0)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - spread), min(1.0, centre + spread))


def two_proportion_p(s1: int, n1: int, s2: int, n2: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test; None without data."""
    if not n1 or not n2:
        return None
    pooled = (s1 + s2) / (n1 + n2)
    error = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if error == 0:
        return 1.0
    z = abs(s1 / n1 - s2 / n2) / error
    return math.erfc(z / math.sqrt(2))


def experiment_results(*, experiment: Experiment) -> Results:
    campaign = experiment.campaign
    policy = campaign.newsletter.tracking_policy
    individual = policy == TrackingPolicy.INDIVIDUAL
    sample = Delivery.objects.filter(campaign=campaign).exclude(variant="")
    sent = dict(
        sample.filter(status=DeliveryStatus.SENT)
        .values_list("variant")
        .annotate(n=Count("id"))
        .values_list("variant", "n")
    )
    counts = _counts(experiment, sample, individual)
    variants = [
        Figures(
            label=label,
            subject=subject or campaign.subject,
            sent=sent.get(label, 0),
            count=min(counts.get(label, 0), sent.get(label, 0)),
        )
        for label, subject in experiment.variants.values_list("label", "subject")
    ]
    # The best rate; on a tie, the first variant (A is the editor's first idea).
    ranked = sorted(variants, key=lambda figure: (-figure.rate, figure.label))
    leader = ranked[0] if ranked else None
    p_value = None
    if len(ranked) > 1:
        first, second = ranked[0], ranked[1]
        p_value = two_proportion_p(first.count, first.sent, second.count, second.sent)
    return Results(
        metric=experiment.metric,
        aggregate=not individual,
        variants=variants,
        leader=leader.label if leader else "",
        significant=p_value is not None and p_value < 0.05,
        p_value=p_value,
    )


def _counts(experiment: Experiment, sample, individual: bool) -> dict[str, int]:
    """Per variant: people who did it (individual), or human hits (aggregate)."""
    if experiment.started_at is None:
        return {}  # not sent yet
    if experiment.metric == Metric.ANSWERS:
        answered = Answer.objects.filter(
            subscriber_id=OuterRef("subscriber_id"),
            question__consultation__newsletter_id=experiment.campaign.newsletter_id,
            answered_at__gte=experiment.started_at,
        )
        return _per_variant(sample.filter(Exists(answered)))
    column = "opens_human" if experiment.metric == Metric.OPENS else "clicks_human"
    if individual:
        first = (
            "first_human_open_at" if experiment.metric == Metric.OPENS else "first_human_click_at"
        )
        engaged = Engagement.objects.filter(
            delivery_id=OuterRef("pk"), **{f"{first}__isnull": False}
        )
        return _per_variant(sample.filter(Exists(engaged)))
    return dict(
        VariantCount.objects.filter(campaign=experiment.campaign).values_list("variant", column)
    )


def _per_variant(rows) -> dict[str, int]:
    return dict(rows.values_list("variant").annotate(n=Count("id")).values_list("variant", "n"))
