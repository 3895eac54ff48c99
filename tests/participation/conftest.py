import re

import pytest

from campaigns.models import Campaign
from delivery import lifecycle, sending
from delivery.models import OutboxMessage
from subscribers import services as subscribers
from subscribers.models import ConsentSource, Subscriber
from tests.factories import CampaignFactory, MailingListFactory, NewsletterFactory

SITE = "https://news.example.org"


@pytest.fixture(autouse=True)
def site(settings):
    settings.SITE_URL = SITE


@pytest.fixture
def newsletter(db):
    return NewsletterFactory(slug="demo", name="Demo News", tracking_policy="aggregate")


@pytest.fixture
def news(newsletter):
    return MailingListFactory(newsletter=newsletter, slug="news", name="News")


def reader(newsletter, email: str, lists=None, name: str = "") -> Subscriber:
    """A confirmed subscriber of the newsletter (attested, as the dashboard adds one)."""
    subscribers.subscribe(
        newsletter=newsletter,
        email=email,
        name=name,
        lists=lists or list(newsletter.lists.all()),
        source=ConsentSource.DASHBOARD,
        wording="I agree.",
        attestation="test",
        actor="test",
    )
    return Subscriber.objects.with_address(email).get()


def send(campaign: Campaign, lists) -> None:
    """Send the campaign to its lists now, in this process, into the outbox."""
    campaign.lists.set(lists)
    lifecycle.campaign_start(campaign=campaign)
    while sending.send_batches(campaign_id=campaign.pk):
        pass
    campaign.refresh_from_db()


def mail_of(campaign: Campaign, email: str) -> OutboxMessage:
    return OutboxMessage.objects.get(recipients=[email], subject=campaign.subject)


def links_in(html: str, pattern: str) -> list[str]:
    """Absolute links of the site whose path matches ``pattern``, unescaped, in order."""
    return [
        link.replace("&amp;", "&")
        for link in re.findall(r'href="(' + re.escape(SITE) + r"[^\"]*)\"", html)
        if re.search(pattern, link)
    ]


def campaign_with(newsletter, body: str, **fields) -> Campaign:
    return CampaignFactory(newsletter=newsletter, body=body, **fields)
