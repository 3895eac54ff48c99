"""An A/B test end to end: the sample split, the rest held, the winner by human opens only,
sent to exactly the rest (asserted on the outbox)."""

import re
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Status
from delivery import lifecycle, sweeper
from delivery.models import Delivery, DeliveryStatus, OutboxMessage
from experiments import services
from experiments.models import Experiment, State
from tracking import services as tracking
from tracking.models import CampaignCount, VariantCount

from .conftest import SITE, audience, experiment_on, send_all

pytestmark = pytest.mark.django_db

READER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
APPLE_PROXY = "Mozilla/5.0"


def pixel(message: OutboxMessage) -> str:
    return re.search(re.escape(SITE) + r'(/t/o/[^"]+)', message.body("html")).group(1)


def recipients() -> Counter:
    return Counter(
        address for message in OutboxMessage.objects.all() for address in message.recipients
    )


@pytest.mark.parametrize("policy", ["aggregate", "individual"])
def test_the_winner_by_human_opens_goes_to_exactly_the_rest(client, newsletter, policy):
    newsletter.tracking_policy = policy
    newsletter.save()
    campaign = audience(newsletter, 24)
    experiment = experiment_on(campaign, sample_size=10)

    assert lifecycle.campaign_start(campaign=campaign) == 24
    rows = Counter(Delivery.objects.filter(campaign=campaign).values_list("status", "variant"))
    assert rows == {("queued", "A"): 5, ("queued", "B"): 5, ("held", ""): 14}

    send_all(campaign)
    sample = list(OutboxMessage.objects.all())
    assert Counter(message.subject for message in sample) == {"Subject A": 5, "Subject B": 5}
    campaign.refresh_from_db()
    assert campaign.status == Status.SENDING  # the rest is waiting for the winner
    assert sweeper.sweep().finished == []

    # A's readers' mail is fetched by machines only (many times); two of B's by people.
    for message in sample:
        if message.subject == "Subject A":
            for _ in range(3):
                client.get(pixel(message), HTTP_USER_AGENT=APPLE_PROXY)
    for message in [m for m in sample if m.subject == "Subject B"][:2]:
        client.get(pixel(message), HTTP_USER_AGENT=READER)
    Delivery.objects.filter(campaign=campaign).update(sent_at=timezone.now() - timedelta(hours=1))
    tracking.flush()
    if policy == "aggregate":
        assert dict(VariantCount.objects.values_list("variant", "opens_human")) == {"A": 0, "B": 2}
        assert VariantCount.objects.get(variant="A").opens_machine == 15

    Experiment.objects.filter(pk=experiment.pk).update(decide_at=timezone.now())
    assert services.experiments_decide_due() == [campaign.pk]
    experiment.refresh_from_db()
    assert (experiment.state, experiment.winner) == (State.DECIDED, "B")
    assert "not significant" in experiment.reason

    send_all(campaign)
    # Everyone exactly one message; the rest got the winner's subject.
    assert set(recipients().values()) == {1}
    assert len(recipients()) == 24
    assert Counter(message.subject for message in OutboxMessage.objects.all()) == {
        "Subject A": 5,
        "Subject B": 19,
    }
    campaign.refresh_from_db()
    assert (campaign.status, campaign.subject) == (Status.SENT, "Subject B")
    assert not Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.HELD).exists()
    assert CampaignCount.objects.get(campaign=campaign).opens_human == 2

    # A second decision (beat and an editor at once) changes nothing, sends nothing.
    with pytest.raises(services.ExperimentError):
        services.experiment_decide(experiment=experiment, actor="editor", label="A")
    assert services.experiments_decide_due() == []
    send_all(campaign)
    assert OutboxMessage.objects.count() == 24


def test_the_editor_decides_while_paused_and_resuming_sends_the_rest(newsletter):
    campaign = audience(newsletter, 6)
    experiment = experiment_on(campaign, sample_kind="percent", sample_size=50, decision="editor")
    lifecycle.campaign_start(campaign=campaign)
    send_all(campaign)
    assert OutboxMessage.objects.count() == 3
    lifecycle.campaign_pause(campaign=campaign)
    # The editor's decision is not beat's: the clock passing decides nothing.
    Experiment.objects.filter(pk=experiment.pk).update(decide_at=timezone.now())
    assert services.experiments_decide_due() == []

    services.experiment_decide(experiment=experiment, actor="editor@example.org", label="A")
    experiment.refresh_from_db()
    assert experiment.reason == "Chosen by editor@example.org."
    assert Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.QUEUED).count() == 3
    lifecycle.campaign_resume(campaign=Campaign.objects.get(pk=campaign.pk))
    send_all(campaign)
    assert sorted(recipients().values()) == [1] * 6
    assert Counter(m.subject for m in OutboxMessage.objects.all())["Subject A"] == 5


def test_cancelling_skips_the_held_rest_and_nothing_is_decided(newsletter):
    campaign = audience(newsletter, 6)
    experiment = experiment_on(campaign, sample_size=2)
    lifecycle.campaign_start(campaign=campaign)
    lifecycle.campaign_cancel(campaign=campaign)
    assert set(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True)) == {
        "skipped"
    }
    Experiment.objects.filter(pk=experiment.pk).update(decide_at=timezone.now())
    assert services.experiments_decide_due() == []
    with pytest.raises(services.ExperimentError, match="cancelled"):
        services.experiment_decide(experiment=experiment, actor="editor")


def test_a_sample_that_no_longer_fits_refuses_the_start_and_creates_nothing(newsletter):
    campaign = audience(newsletter, 12)
    experiment_on(campaign, sample_size=10)
    Delivery.objects.all().delete()
    campaign.lists.first().subscriptions.filter(
        subscriber__email__in=[f"reader{n}@example.org" for n in range(4)]
    ).delete()
    with pytest.raises(lifecycle.CampaignStateError, match="sample"):
        lifecycle.campaign_start(campaign=campaign)
    assert not Delivery.objects.filter(campaign=campaign).exists()
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT
