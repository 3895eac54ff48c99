"""Time zones and local hours in the API: a subscriber's time zone (validated, all or
nothing) and a campaign's local hour."""

import pytest

from tests.factories import LayoutFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(news):
    subscriber = SubscriberFactory(newsletter=news.newsletter, email="ada@example.org")
    SubscriptionFactory(subscriber=subscriber, mailing_list=news, status="confirmed")
    return subscriber


def test_a_subscribers_time_zone_is_shown_set_and_cleared(api, reader):
    url = f"/api/v1/subscribers/{reader.pk}/"
    assert api.get(url).json()["time_zone"] == ""
    response = api.patch(url, {"time_zone": "Asia/Tokyo"})
    assert response.status_code == 200, response.content
    assert response.json()["time_zone"] == "Asia/Tokyo"
    assert api.patch(url, {"time_zone": ""}).json()["time_zone"] == ""


def test_an_unknown_time_zone_is_refused_by_name_and_nothing_changes(api, reader):
    url = f"/api/v1/subscribers/{reader.pk}/"
    response = api.patch(url, {"time_zone": "Mars/Olympus", "mail_format": "text"})
    assert response.status_code == 422
    assert "Mars/Olympus is not a known time zone." in response.json()["errors"]["time_zone"][0]
    reader.refresh_from_db()
    assert (reader.time_zone, reader.mail_format) == ("", "html")


def test_a_campaign_takes_a_local_hour_and_refuses_one_outside_the_day(api, news):
    LayoutFactory(newsletter=news.newsletter)
    payload = {"name": "Tue", "subject": "Hi", "body": "Hello", "lists": ["news"]}
    created = api.post("/api/v1/campaigns/", {**payload, "local_hour": 9})
    assert created.status_code == 201, created.content
    assert created.json()["local_hour"] == 9
    url = f"/api/v1/campaigns/{created.json()['id']}/"
    assert api.patch(url, {"local_hour": None}).json()["local_hour"] is None
    refused = api.patch(url, {"local_hour": 24})
    assert refused.status_code == 422
    assert "local_hour" in refused.json()["errors"]
