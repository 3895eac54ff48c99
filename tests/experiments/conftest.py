import pytest

from campaigns.models import Campaign
from delivery import sending
from experiments import services
from experiments.services import VariantInput
from subscribers import services as subscribers
from subscribers.models import ConsentSource
from tests.factories import CampaignFactory, MailingListFactory, NewsletterFactory
from tracking import selectors

SITE = "https://news.example.org"


@pytest.fixture(autouse=True)
def site(settings, redis_client):
    settings.SITE_URL = SITE
    selectors.forget()
    yield
    selectors.forget()


def audience(newsletter, size: int):
    """A campaign on a list of ``size`` confirmed people."""
    releases = MailingListFactory(newsletter=newsletter, slug="releases", name="Releases")
    for number in range(size):
        subscribers.subscribe(
            newsletter=newsletter,
            email=f"reader{number}@example.org",
            name=f"Reader {number}",
            lists=[releases],
            source=ConsentSource.DASHBOARD,
            wording="I agree.",
            attestation="test",
            actor="t",
        )
    campaign = CampaignFactory(
        newsletter=newsletter,
        subject="Release 2.0",
        body="Read [the notes](https://example.org/notes).",
    )
    campaign.lists.set([releases])
    return campaign


def experiment_on(campaign: Campaign, **overrides):
    fields = {
        "metric": "opens",
        "sample_kind": "count",
        "sample_size": 10,
        "wait_hours": 4,
        "decision": "automatic",
        "variants": [VariantInput(subject="Subject A"), VariantInput(subject="Subject B")],
        **overrides,
    }
    return services.experiment_save(campaign=campaign, **fields)


def send_all(campaign) -> None:
    while sending.send_batches(campaign_id=campaign.pk):
        pass


@pytest.fixture
def newsletter(db):
    return NewsletterFactory(slug="kernel", name="Kernel News", tracking_policy="aggregate")
