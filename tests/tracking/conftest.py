import re
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.services import campaign_render
from delivery.messages import Addressee, CampaignMessages
from delivery.models import Delivery, DeliveryStatus
from tests.factories import CampaignFactory, NewsletterFactory, SubscriberFactory
from tracking import selectors

SITE = "https://news.example.org"
BODY = (
    'Hello {{ subscriber.name|default:"friend" }},\n\n'
    "Read [the release notes](https://example.org/notes?a=1&b=2), "
    "[the docs](https://docs.example.org/), [the docs again](https://docs.example.org/) "
    "or [write to us](mailto:team@example.org).\n"
)


@pytest.fixture(autouse=True)
def tracking_setup(settings, redis_client):
    """Mail links on a known site, the test Redis empty, no cached policy or link."""
    settings.SITE_URL = SITE
    selectors.forget()
    yield
    selectors.forget()


def make_campaign(policy: str = "aggregate", **newsletter_fields):
    newsletter = NewsletterFactory(tracking_policy=policy, **newsletter_fields)
    return CampaignFactory(newsletter=newsletter, body=BODY, public=True)


def send_to(campaign, subscriber, *, seconds_ago: int = 3600) -> tuple[Delivery, str]:
    """A sent delivery row and the HTML its subscriber received."""
    delivery = Delivery.objects.create(
        campaign=campaign,
        subscriber=subscriber,
        status=DeliveryStatus.SENT,
        sent_at=timezone.now() - timedelta(seconds=seconds_ago),
    )
    messages = CampaignMessages(campaign, campaign_render(campaign=campaign))
    addressee = Addressee(
        delivery.pk,
        subscriber.pk,
        subscriber.email,
        subscriber.name,
        {},
        "News",
        tracking_opt_out=subscriber.tracking_opt_out,
    )
    message = messages.build(addressee)
    return delivery, message.alternatives[0][0]


def tracking_urls(html: str) -> dict[str, list[str]]:
    """The pixel, click and hidden links of a message, as paths on the site."""
    found = re.findall(re.escape(SITE) + r'(/t/[^"]+)', html)
    return {
        "open": [url for url in found if url.startswith("/t/o/")],
        "click": [url for url in found if url.startswith("/t/c/")],
    }


@pytest.fixture
def subscriber(db):
    return SubscriberFactory()
