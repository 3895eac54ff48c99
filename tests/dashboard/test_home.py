"""The newsletter home: campaigns and their numbers, list sizes, growth, the next send."""

import json
import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Status
from dashboard import selectors
from delivery.models import Delivery, DeliveryStatus
from newsletter.models import Role
from subscribers import ledger
from subscribers.models import ConsentAction, ConsentEvent, ConsentSource, SubscriptionStatus
from tests.factories import (
    CampaignFactory,
    MailingListFactory,
    MembershipFactory,
    NewsletterFactory,
    SubscriberFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db


def event(newsletter, action, at, **details):
    created = ledger.append(
        subscriber=SubscriberFactory(newsletter=newsletter),
        action=action,
        source=ConsentSource.FORM,
        details=details,
    )
    ConsentEvent.objects.filter(pk=created.pk).update(created_at=at)


def test_growth_counts_joins_and_departures_per_local_day():
    newsletter = NewsletterFactory(timezone="Europe/Paris")
    now = timezone.now()
    today = timezone.localdate(now, timezone=zoneinfo.ZoneInfo(newsletter.timezone))
    late_yesterday_utc = datetime.combine(today, datetime.min.time(), tzinfo=UTC) - timedelta(
        minutes=30
    )  # already today in Paris
    event(newsletter, ConsentAction.CONFIRMED, now)
    event(newsletter, ConsentAction.IMPORTED, now)
    event(newsletter, ConsentAction.SUBSCRIBED, now, opt_in="single")
    event(newsletter, ConsentAction.SUBSCRIBED, now, opt_in="double")  # not yet confirmed
    event(newsletter, ConsentAction.UNSUBSCRIBED, late_yesterday_utc)
    event(newsletter, ConsentAction.UNSUBSCRIBED, now - timedelta(days=2))
    event(newsletter, ConsentAction.CONFIRMED, now - timedelta(days=40))  # outside the window
    event(NewsletterFactory(), ConsentAction.CONFIRMED, now)  # another newsletter

    growth = selectors.growth(newsletter)

    assert len(growth.days) == selectors.GROWTH_DAYS
    assert growth.days[-1] == today
    assert (growth.joined[-1], growth.left[-1]) == (3, 1)
    assert growth.left[-3] == 1
    assert sum(growth.joined) == 3
    assert sum(growth.left) == 2


def test_home_reads_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    membership = MembershipFactory(role=Role.OWNER)
    for _ in range(5):
        CampaignFactory(newsletter=membership.newsletter, status=Status.SENT, recipient_count=10)
        MailingListFactory(newsletter=membership.newsletter)
    client.force_login(membership.user)
    with django_assert_max_num_queries(13):
        client.get(reverse("dashboard:newsletter", args=[membership.newsletter.slug]))


def test_finished_days_are_counted_once_and_today_each_time(django_assert_num_queries):
    newsletter = NewsletterFactory()
    with django_assert_num_queries(2):
        selectors.growth(newsletter)
    event(newsletter, ConsentAction.CONFIRMED, timezone.now())
    with django_assert_num_queries(1):
        assert selectors.growth(newsletter).joined[-1] == 1


def test_home_shows_campaigns_with_sent_counts_lists_and_the_next_send(client):
    membership = MembershipFactory(role=Role.VIEWER)
    newsletter = membership.newsletter
    sent = CampaignFactory(
        newsletter=newsletter, name="October news", status=Status.SENT, recipient_count=4
    )
    for subscriber in SubscriberFactory.create_batch(3, newsletter=newsletter):
        Delivery.objects.create(campaign=sent, subscriber=subscriber, status=DeliveryStatus.SENT)
    Delivery.objects.create(
        campaign=sent,
        subscriber=SubscriberFactory(newsletter=newsletter),
        status=DeliveryStatus.FAILED,
    )
    CampaignFactory(
        newsletter=newsletter,
        name="November news",
        status=Status.SCHEDULED,
        send_at=timezone.now() + timedelta(days=2),
    )
    releases = MailingListFactory(newsletter=newsletter, name="Releases")
    SubscriptionFactory.create_batch(2, mailing_list=releases)
    SubscriptionFactory(mailing_list=releases, status=SubscriptionStatus.PENDING)
    event(newsletter, ConsentAction.CONFIRMED, timezone.now())
    client.force_login(membership.user)

    response = client.get(reverse("dashboard:newsletter", args=[newsletter.slug]))

    page = response.content.decode()
    campaigns = {c.name: c.sent_count for c in response.context["campaigns"]}
    assert campaigns == {"October news": 3, "November news": 0}
    assert [(ml.name, size.confirmed, size.pending) for ml, size in response.context["lists"]] == [
        ("Releases", 2, 1)
    ]
    assert response.context["next_send"].name == "November news"
    assert "Settings" not in page  # a viewer is not offered the owner's pages
    assert 'data-chart="growth-data"' in page
    payload = json.loads(
        page.split('<script id="growth-data" type="application/json">')[1].split("</script>")[0]
    )
    assert payload["series"][0]["values"][-1] == 1
    assert len(payload["x"]) == selectors.GROWTH_DAYS


def test_owner_home_links_to_settings(client):
    membership = MembershipFactory(role=Role.OWNER)
    client.force_login(membership.user)
    page = client.get(reverse("dashboard:newsletter", args=[membership.newsletter.slug]))
    assert reverse("dashboard:settings", args=[membership.newsletter.slug]) in page.content.decode()
