"""Setting an experiment up: each bad input a clear error naming its field, nothing saved."""

import pytest
from django.core.exceptions import ValidationError

from campaigns.models import Status
from experiments import results, services
from experiments.models import Experiment, Variant
from experiments.services import VariantInput

from .conftest import audience, experiment_on

pytestmark = pytest.mark.django_db


def errors_of(campaign, **fields) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as raised:
        experiment_on(campaign, **fields)
    assert not Experiment.objects.exists()
    assert not Variant.objects.exists()
    return raised.value.message_dict


def test_a_sample_larger_than_the_audience(newsletter):
    campaign = audience(newsletter, 8)
    assert errors_of(campaign, sample_size=9)["sample_size"] == [
        "The sample (9 people) must be smaller than the audience (8 people), "
        "so that someone gets the winner."
    ]
    assert "sample_size" in errors_of(campaign, sample_kind="percent", sample_size=100)
    assert "sample_size" in errors_of(campaign, sample_size=1)  # one person, two variants


def test_an_empty_variant(newsletter):
    campaign = audience(newsletter, 8)
    variants = [VariantInput(subject="Subject A"), VariantInput(subject="  ", body="")]
    assert errors_of(campaign, sample_size=4, variants=variants) == {
        "variant_B": ["Variant B is empty: give it a subject, a body or both."]
    }


def test_more_than_four_variants_or_fewer_than_two(newsletter):
    campaign = audience(newsletter, 20)
    five = [VariantInput(subject=f"Subject {n}") for n in range(5)]
    assert errors_of(campaign, variants=five)["variants"] == [
        "Give between 2 and 4 variants; there are 5."
    ]
    assert "variants" in errors_of(campaign, variants=[VariantInput(subject="Alone")])


def test_a_campaign_that_is_not_a_draft(newsletter):
    campaign = audience(newsletter, 8)
    campaign.status = Status.SENT
    campaign.save()
    assert errors_of(campaign, sample_size=4)["campaign"] == [
        "An experiment can only be set up on a draft; this campaign is sent."
    ]


def test_a_variant_that_does_not_render_or_breaks_a_header(newsletter):
    campaign = audience(newsletter, 8)
    variants = [
        VariantInput(body="Hi\n{{ subscriber.nmae }}"),
        VariantInput(subject="Two\nlines"),
    ]
    found = errors_of(campaign, sample_size=4, variants=variants)
    assert set(found) == {"variant_A", "variant_B"}
    assert found["variant_A"][0].startswith("Variant A: ")


def test_the_metric_must_be_countable_under_the_tracking_policy(newsletter):
    campaign = audience(newsletter, 8)
    assert (
        "individual tracking" in errors_of(campaign, sample_size=4, metric="answers")["metric"][0]
    )
    newsletter.tracking_policy = "off"
    newsletter.save()
    assert "tracking is off" in errors_of(campaign, sample_size=4)["metric"][0]


def test_saving_again_replaces_the_variants(newsletter):
    campaign = audience(newsletter, 8)
    experiment_on(campaign, sample_size=4)
    three = [VariantInput(subject=f"Subject {n}") for n in "XYZ"]
    experiment = experiment_on(campaign, sample_size=4, variants=three)
    assert list(experiment.variants.values_list("label", "subject")) == [
        ("A", "Subject X"),
        ("B", "Subject Y"),
        ("C", "Subject Z"),
    ]
    services.experiment_delete(campaign=campaign)
    assert not Variant.objects.exists()


def test_wilson_interval_and_the_two_proportion_test():
    low, high = results.wilson(10, 100)
    assert (round(low, 4), round(high, 4)) == (0.0552, 0.1744)
    assert results.wilson(0, 0) == (0.0, 0.0)
    assert results.wilson(0, 10)[0] == 0.0
    # 20 % against 10 % of 200 each: significant; of 20 each: not.
    assert results.two_proportion_p(40, 200, 20, 200) < 0.05
    assert results.two_proportion_p(4, 20, 2, 20) > 0.05
    assert results.two_proportion_p(0, 10, 0, 10) == 1.0
    assert results.two_proportion_p(1, 0, 0, 10) is None


def test_the_verdict_says_plainly_whether_the_difference_is_significant():
    def verdict(a: int, b: int, sent: int) -> str:
        figures = [results.Figures("A", "x", sent, a), results.Figures("B", "y", sent, b)]
        p_value = results.two_proportion_p(b, sent, a, sent)
        return results.Results("opens", True, figures, "B", p_value < 0.05, p_value).verdict

    assert verdict(20, 40, 200) == (
        "Variant B won with 20.0%: the difference is significant at 95%."
    )
    assert verdict(2, 4, 20) == (
        "Variant B led with 20.0%, but the difference is not significant: "
        "the variants may well do the same."
    )
