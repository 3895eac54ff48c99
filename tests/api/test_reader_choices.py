"""The reader's choices in the API, for the newsletter's own integrations: read them all,
change frequency, pause and format, and tracking only ever towards less."""

from datetime import timedelta

import pytest
from django.utils import timezone

from subscribers import ledger
from subscribers.models import ConsentAction, ConsentSource, SubscriptionStatus
from tests.factories import SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/subscribers/"


@pytest.fixture
def reader(news, releases):
    subscriber = SubscriberFactory(newsletter=news.newsletter, email="ada@example.org")
    for mailing_list in (news, releases):
        SubscriptionFactory(
            subscriber=subscriber, mailing_list=mailing_list, status=SubscriptionStatus.CONFIRMED
        )
    return subscriber


def test_a_subscriber_shows_every_reader_choice(api, reader):
    body = api.get(f"{URL}{reader.pk}/").json()
    assert body["tracking"] == "newsletter"
    assert body["mail_format"] == "html"
    assert body["paused_until"] is None and body["paused_indefinitely"] is False
    assert {item["slug"]: item["frequency"] for item in body["lists"]} == {
        "news": "every_issue",
        "releases": "every_issue",
    }
    schema = api.get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert schema["Membership"]["properties"]["frequency"]["$ref"].endswith("/Frequency")
    assert schema["Frequency"]["enum"] == ["every_issue", "weekly_digest", "monthly_digest"]


def test_patch_sets_frequency_pause_format_and_a_stricter_tracking_in_the_ledger(api, reader):
    until = (timezone.now() + timedelta(days=10)).replace(microsecond=0)
    response = api.patch(
        f"{URL}{reader.pk}/",
        {
            "frequencies": {"releases": "monthly_digest"},
            "paused_until": until.isoformat(),
            "mail_format": "text",
            "tracking": "none",
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert {item["slug"]: item["frequency"] for item in body["lists"]}["releases"] == (
        "monthly_digest"
    )
    assert body["tracking"] == "none" and body["mail_format"] == "text"
    assert body["paused_until"].startswith(until.strftime("%Y-%m-%dT%H:%M:%S"))
    reader.refresh_from_db()
    assert reader.tracking_off and reader.tracking_opt_out
    event = reader.consent_events.last()
    assert (event.action, event.source) == (
        ConsentAction.PREFERENCES_CHANGED,
        ConsentSource.API,
    )
    assert event.details["frequency"] == {"releases": "monthly_digest"}
    assert event.details["actor"]
    assert ledger.verify_chain(reader).valid

    # Until the reader comes back, then not paused at all.
    body = api.patch(f"{URL}{reader.pk}/", {"paused_indefinitely": True}).json()
    assert body["paused_indefinitely"] is True and body["paused_until"] is None
    body = api.patch(f"{URL}{reader.pk}/", {"paused_indefinitely": False}).json()
    assert body["paused_indefinitely"] is False and body["paused_until"] is None


def test_the_api_cannot_track_a_reader_more_than_they_chose(api, reader):
    reader.set_tracking_choice("aggregate")
    reader.save()
    response = api.patch(f"{URL}{reader.pk}/", {"tracking": "newsletter", "name": "Changed"})
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["tracking"]
    assert "preference center" in response.json()["errors"]["tracking"][0]
    reader.refresh_from_db()
    assert reader.tracking_choice == "aggregate" and reader.name != "Changed"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"frequencies": {"nope": "weekly_digest"}}, "frequencies"),
        ({"frequencies": {"news": "daily"}}, "frequencies.news"),
        ({"paused_until": "2001-01-01T00:00:00Z"}, "paused_until"),
        ({"paused_until": "2099-01-01T00:00:00Z", "paused_indefinitely": True}, "paused_until"),
        ({"mail_format": "pdf"}, "mail_format"),
        ({"tracking": "sometimes"}, "tracking"),
    ],
)
def test_bad_choices_name_their_field_and_change_nothing(api, reader, payload, field):
    before = list(reader.consent_events.values_list("id", flat=True))
    response = api.patch(f"{URL}{reader.pk}/", {**payload, "mail_format": "text"} | payload)
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"], response.json()
    reader.refresh_from_db()
    assert reader.mail_format == "html" and not reader.paused
    assert list(reader.consent_events.values_list("id", flat=True)) == before
    assert set(reader.subscriptions.values_list("frequency", flat=True)) == {"every_issue"}


def test_another_newsletters_reader_is_not_found(api, newsletter):
    stranger = SubscriptionFactory().subscriber
    response = api.patch(f"{URL}{stranger.pk}/", {"tracking": "none"})
    assert response.status_code == 404
    stranger.refresh_from_db()
    assert not stranger.tracking_off
