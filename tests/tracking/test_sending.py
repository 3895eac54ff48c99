"""Through the real sending engine: send, open, click, flush, read the statistics."""

from datetime import timedelta

import pytest
from django.db.models import F

from delivery import lifecycle
from delivery.models import Delivery, OutboxMessage
from tests.delivery.test_engine import confirmed, send_all
from tests.factories import CampaignFactory, MailingListFactory, NewsletterFactory
from tracking import services, tokens
from tracking.stats import campaign_stats

from .conftest import BODY, tracking_urls

pytestmark = pytest.mark.django_db


def test_a_sent_campaign_is_tracked_per_person_except_those_who_opted_out(
    client, django_assert_max_num_queries
):
    newsletter = NewsletterFactory(tracking_policy="individual")
    news = MailingListFactory(newsletter=newsletter)
    ada = confirmed(newsletter, [news], "ada@example.org")
    bob = confirmed(newsletter, [news], "bob@example.org")
    bob.tracking_opt_out = True
    bob.save()
    campaign = CampaignFactory(newsletter=newsletter, body=BODY)
    campaign.lists.set([news])
    lifecycle.campaign_start(campaign=campaign)
    send_all(campaign)
    # Read an hour later: a fetch within seconds of sending would count as a machine.
    Delivery.objects.update(sent_at=F("sent_at") - timedelta(hours=1))

    mails = {message.recipients[0]: message.body("html") for message in OutboxMessage.objects.all()}
    ada_delivery = Delivery.objects.get(subscriber=ada).pk
    for address, expected in (("ada@example.org", ada_delivery), ("bob@example.org", 0)):
        pixel = tracking_urls(mails[address])["open"][0]
        claim = tokens.read(tokens.OPEN, pixel.split("/")[3].removesuffix(".gif"))
        assert claim.delivery_id == expected
        client.get(pixel, HTTP_USER_AGENT="Thunderbird/115 (X11; Linux)")
        client.get(tracking_urls(mails[address])["click"][0], HTTP_USER_AGENT="Thunderbird (X11)")
    services.flush()

    with django_assert_max_num_queries(7):
        stats = campaign_stats(campaign)
    assert (stats.recipients, stats.sent) == (2, 2)
    assert (stats.opens.human, stats.clicks.human) == (2, 2)
    assert (stats.opens.unique_human, stats.clicks.unique_human) == (1, 1)  # Ada only
    assert stats.links[0].clicks_human == 2
