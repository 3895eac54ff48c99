"""Send in the reader's time zone: a campaign delivered at 9:00 reaches a reader in Tokyo
and one in New York each at their own 9:00; until then workers claim nothing and the
progress says how many wait. The clock is moved by patching ``timezone.now``."""

from datetime import UTC, datetime
from unittest import mock

import pytest

from delivery import lifecycle, sending, sweeper
from delivery.models import Delivery, DeliveryStatus, OutboxMessage
from delivery.progress import campaign_progress
from delivery.timing import month_end, next_local_hour, week_end
from subscribers.models import Subscriber
from tests.factories import (
    CampaignFactory,
    MailingListFactory,
    NewsletterFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db

# Sunday 1 March 2026, 20:00 UTC: Monday 05:00 in Tokyo, Sunday 15:00 in New York.
STARTED = datetime(2026, 3, 1, 20, tzinfo=UTC)
TOKYO_NINE = datetime(2026, 3, 2, 0, tzinfo=UTC)
NEW_YORK_NINE = datetime(2026, 3, 2, 14, tzinfo=UTC)


def at(moment: datetime):
    return mock.patch("django.utils.timezone.now", return_value=moment)


def send_what_is_due(campaign, moment: datetime) -> list[list[str]]:
    """Run the workers and the sweeper at this moment; the recipients of what left."""
    before = set(OutboxMessage.objects.values_list("pk", flat=True))
    with at(moment):
        sweeper.sweep()
        while sending.send_batches(campaign_id=campaign.pk):
            pass
    return [m.recipients for m in OutboxMessage.objects.exclude(pk__in=before).order_by("id")]


@pytest.fixture
def campaign():
    newsletter = NewsletterFactory(timezone="Europe/Paris")
    releases = MailingListFactory(newsletter=newsletter)
    for email, zone in (("kenji@example.org", "Asia/Tokyo"), ("ruth@example.org", "")):
        subscription = SubscriptionFactory(mailing_list=releases, subscriber__email=email)
        Subscriber.objects.filter(pk=subscription.subscriber_id).update(time_zone=zone)
    Subscriber.objects.filter(email="ruth@example.org").update(time_zone="America/New_York")
    campaign = CampaignFactory(newsletter=newsletter, local_hour=9)
    campaign.lists.set([releases])
    return campaign


def test_each_reader_gets_it_at_nine_on_their_own_clock(campaign):
    with at(STARTED):
        assert lifecycle.campaign_start(campaign=campaign) == 2
        progress = campaign_progress(campaign=campaign)
    assert (progress.queued, progress.waiting) == (2, 2)

    assert send_what_is_due(campaign, STARTED) == []
    assert send_what_is_due(campaign, datetime(2026, 3, 1, 23, 59, tzinfo=UTC)) == []
    assert send_what_is_due(campaign, TOKYO_NINE) == [["kenji@example.org"]]
    with at(TOKYO_NINE):
        assert campaign_progress(campaign=campaign).waiting == 1
    assert send_what_is_due(campaign, datetime(2026, 3, 2, 13, 59, tzinfo=UTC)) == []
    assert send_what_is_due(campaign, NEW_YORK_NINE) == [["ruth@example.org"]]
    sent = dict(Delivery.objects.values_list("subscriber__email", "sent_at"))
    assert sent == {"kenji@example.org": TOKYO_NINE, "ruth@example.org": NEW_YORK_NINE}
    campaign.refresh_from_db()
    assert campaign.status == "sent"


def test_a_reader_without_a_time_zone_gets_it_at_the_newsletters_hour(campaign):
    Subscriber.objects.update(time_zone="")
    with at(STARTED):
        lifecycle.campaign_start(campaign=campaign)
    # 9:00 on Monday in Paris is 08:00 UTC.
    due = set(Delivery.objects.values_list("next_attempt_at", flat=True))
    assert due == {datetime(2026, 3, 2, 8, tzinfo=UTC)}
    assert Delivery.objects.filter(status=DeliveryStatus.QUEUED).count() == 2


def test_local_moments_follow_each_zones_clock():
    # Already past 9:00 in Tokyo: the next day's. Exactly 9:00: now.
    assert next_local_hour(TOKYO_NINE, "Asia/Tokyo", 9) == TOKYO_NINE
    assert next_local_hour(STARTED, "Asia/Tokyo", 4) == datetime(2026, 3, 2, 19, tzinfo=UTC)
    # New York's clocks go forward on 8 March 2026: 9:00 is then 13:00 UTC.
    assert next_local_hour(datetime(2026, 3, 8, 12, tzinfo=UTC), "America/New_York", 9) == (
        datetime(2026, 3, 8, 13, tzinfo=UTC)
    )
    assert week_end(STARTED, "Asia/Tokyo") == datetime(2026, 3, 8, 15, tzinfo=UTC)
    assert week_end(STARTED, "UTC") == datetime(2026, 3, 2, tzinfo=UTC)
    assert month_end(datetime(2026, 12, 31, 23, tzinfo=UTC), "UTC") == datetime(
        2027, 1, 1, tzinfo=UTC
    )
