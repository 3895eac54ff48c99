import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from campaigns.models import Status
from campaigns.services import campaign_render
from delivery.messages import Addressee, CampaignMessages
from delivery.models import BounceType, Delivery, DeliveryEvent, DeliveryStatus, FeedbackKind
from tests.factories import CampaignFactory, NewsletterFactory, SubscriberFactory
from tracking import selectors
from tracking.models import CampaignCount, HourlyCount, Link

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


SENT_AT = datetime(2026, 3, 1, 9, tzinfo=UTC)


def sent_campaign(policy: str = "aggregate", *, recipients: int = 6):
    """A sent campaign with rollups and feedback: of its recipients, all but the
    last two were delivered; one hard bounce, one soft bounce, one spam report."""
    campaign = CampaignFactory(
        newsletter=NewsletterFactory(tracking_policy=policy),
        name="Release 2.0",
        status=Status.SENT,
        recipient_count=recipients,
    )
    deliveries = Delivery.objects.bulk_create(
        Delivery(
            campaign=campaign,
            subscriber=subscriber,
            status=DeliveryStatus.SENT,
            created_at=SENT_AT - timedelta(minutes=1),  # when sending started
            sent_at=SENT_AT,
            delivered_at=SENT_AT + timedelta(minutes=1) if index < recipients - 2 else None,
        )
        for index, subscriber in enumerate(SubscriberFactory.create_batch(recipients))
    )
    hard, soft, spam = deliveries[-1], deliveries[-2], deliveries[0]
    Delivery.objects.filter(pk=hard.pk).update(
        bounced_at=SENT_AT + timedelta(minutes=2), bounce_type=BounceType.HARD
    )
    Delivery.objects.filter(pk=soft.pk).update(
        bounced_at=SENT_AT + timedelta(minutes=3),
        bounce_type=BounceType.SOFT,
        last_error="452 4.2.2 Mailbox full",
    )
    Delivery.objects.filter(pk=spam.pk).update(complained_at=SENT_AT + timedelta(hours=5))
    DeliveryEvent.objects.create(
        esp="postmark",
        event_id=f"bounce-{hard.pk}",
        kind=FeedbackKind.BOUNCED,
        bounce_type=BounceType.HARD,
        delivery=hard,
        detail="550 5.1.1 <recipient>: no such user",
    )
    CampaignCount.objects.create(
        campaign=campaign,
        opens_human=40,
        opens_machine=25,
        clicks_human=12,
        clicks_machine=3,
        scanner_visits=2,
        unique_opens_human=30,
        unique_opens_machine=20,
        unique_clicks_human=9,
        unique_clicks_machine=2,
    )
    Link.objects.create(
        campaign=campaign, position=0, url="https://example.org/notes", clicks_human=9
    )
    Link.objects.create(
        campaign=campaign,
        position=1,
        url='=HYPERLINK("https://evil.example/","x")',
        clicks_human=3,
        clicks_machine=3,
    )
    for hours, opens in ((0, 30), (1, 20), (60, 15)):
        HourlyCount.objects.create(
            campaign=campaign,
            hour=SENT_AT + timedelta(hours=hours),
            opens_human=opens - 10,
            opens_machine=10 if hours < 60 else 5,
            clicks_human=4,
            clicks_machine=1,
        )
    return campaign, hard
