from datetime import UTC, datetime, timedelta

import pytest

from api.services import issue_token
from newsletter.models import Role
from tests.factories import MembershipFactory, SubscriberFactory
from tracking import services
from tracking.models import HourlyCount
from tracking.stats import campaign_stats, timeline

from .conftest import make_campaign, send_to, tracking_urls

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, 9, tzinfo=UTC)


def test_the_timeline_is_hourly_for_48_hours_then_daily():
    campaign = make_campaign()
    for hours, opens in ((0, 5), (1, 3), (47, 1), (48, 2), (60, 4), (72, 7), (100, 1)):
        HourlyCount.objects.create(
            campaign=campaign, hour=START + timedelta(hours=hours), opens_human=opens
        )
    periods = [
        (period.start - START, period.hours, period.opens_human) for period in timeline(campaign)
    ]
    assert periods == [
        (timedelta(hours=0), 1, 5),
        (timedelta(hours=1), 1, 3),
        (timedelta(hours=47), 1, 1),
        (timedelta(hours=48), 24, 6),
        (timedelta(hours=72), 24, 7),
        (timedelta(hours=96), 24, 1),
    ]


def test_campaign_stats_and_the_api_report_people_machines_and_links(client, subscriber):
    campaign = make_campaign("individual")
    _, html = send_to(campaign, subscriber)
    send_to(campaign, SubscriberFactory())
    campaign.recipient_count = 2  # fixed when sending starts
    campaign.save(update_fields=["recipient_count"])
    urls = tracking_urls(html)
    client.get(urls["open"][0], HTTP_USER_AGENT="Mozilla/5.0")
    client.get(urls["open"][0], HTTP_USER_AGENT="Thunderbird/115 (X11; Linux)")
    client.get(urls["click"][1], HTTP_USER_AGENT="Thunderbird/115 (X11; Linux)")
    services.flush()

    stats = campaign_stats(campaign)
    assert (stats.recipients, stats.sent) == (2, 2)
    assert (stats.opens.total, stats.opens.human, stats.opens.machine) == (2, 1, 1)
    assert (stats.opens.unique_human, stats.clicks.unique_human) == (1, 1)
    assert [(link.url, link.clicks_human) for link in stats.links] == [
        ("https://example.org/notes?a=1&b=2", 0),
        ("https://docs.example.org/", 1),
    ]
    assert sum(period.clicks_human for period in stats.timeline) == 1

    membership = MembershipFactory(newsletter=campaign.newsletter, role=Role.VIEWER)
    _, raw = issue_token(user=membership.user, newsletter=campaign.newsletter, role=Role.VIEWER)
    body = client.get(
        f"/api/v1/campaigns/{campaign.pk}/stats/", HTTP_AUTHORIZATION=f"Bearer {raw}"
    ).json()
    assert (body["total"], body["sent"], body["status"]) == (2, 2, "draft")
    assert body["opens"] == {
        "total": 2,
        "human": 1,
        "machine": 1,
        "unique_human": 1,
        "unique_machine": 1,
    }
    assert body["links"][1]["clicks_human"] == 1
    assert body["tracking_policy"] == "individual"


def test_aggregate_stats_have_no_unique_counts(subscriber):
    campaign = make_campaign("aggregate")
    stats = campaign_stats(campaign)
    assert stats.opens.unique_human is None and stats.clicks.unique_machine is None
    assert stats.opens.total == 0 and stats.timeline == []
