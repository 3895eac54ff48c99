"""Archiving and deleting lists through the API: nothing a consent record names is lost."""

import pytest

from campaigns.models import Campaign
from subscribers import services as subscribers
from subscribers.models import ConsentEvent, ConsentSource, MailingList, Subscription

pytestmark = pytest.mark.django_db


def subscribed(newsletter, mailing_list, email="ada@example.org"):
    return subscribers.subscribe(
        newsletter=newsletter,
        email=email,
        lists=[mailing_list],
        source=ConsentSource.API,
        wording="x",
        attestation="test",
    ).subscriber


def test_archive_hides_a_list_from_new_subscriptions_and_campaigns(api, newsletter, news):
    person = subscribed(newsletter, news)
    response = api.post("/api/v1/lists/news/archive/")
    assert response.status_code == 200
    assert response.json()["archived"] is True and response.json()["archived_at"]
    listed = api.get("/api/v1/lists/").json()["items"]
    assert [(item["slug"], item["archived"]) for item in listed] == [("news", True)]

    refused = api.post(
        "/api/v1/subscribers/", {"email": "new@example.org", "lists": ["news"], "attestation": "x"}
    )
    assert refused.status_code == 422
    assert "Archived lists take no new subscriptions" in refused.json()["errors"]["lists"][0]
    campaign = api.post(
        "/api/v1/campaigns/", {"name": "N", "subject": "S", "body": "B", "lists": ["news"]}
    )
    assert campaign.status_code == 422
    assert "Archived lists get no new campaigns" in campaign.json()["errors"]["lists"][0]
    assert not Campaign.objects.exists()
    # What the list held is kept: the subscription, and its consent record.
    assert Subscription.objects.get(subscriber=person, mailing_list=news).status == "confirmed"
    assert ConsentEvent.objects.filter(mailing_list=news).count() == 1

    back = api.post("/api/v1/lists/news/unarchive/")
    assert back.json()["archived"] is False
    welcome = {"email": "new@example.org", "lists": ["news"], "attestation": "x"}
    assert api.post("/api/v1/subscribers/", welcome).status_code == 201


def test_replacing_a_persons_lists_leaves_archived_subscriptions_alone(
    api, newsletter, news, releases
):
    person = subscribed(newsletter, news)
    api.post("/api/v1/lists/news/archive/")
    response = api.patch(f"/api/v1/subscribers/{person.pk}/", {"lists": ["releases"]})
    assert response.status_code == 200, response.json()
    states = {item["slug"]: item["status"] for item in response.json()["lists"]}
    assert states == {"news": "confirmed", "releases": "pending"}


def test_delete_an_unused_list_but_refuse_one_that_holds_consent_records(
    api, newsletter, news, releases
):
    assert api.delete("/api/v1/lists/releases/").status_code == 204
    assert not MailingList.objects.filter(slug="releases").exists()

    subscribed(newsletter, news)
    refused = api.delete("/api/v1/lists/news/")
    assert refused.status_code == 409
    message = refused.json()["errors"]["list"][0]
    assert "consent ledger" in message and "archive it instead" in message
    assert MailingList.objects.filter(slug="news").exists()
    assert api.delete("/api/v1/lists/nope/").status_code == 404


def test_viewers_cannot_archive_or_delete(newsletter, news):
    from newsletter.models import Role
    from tests.api.conftest import make_api

    viewer = make_api(newsletter, Role.VIEWER)
    assert viewer.post("/api/v1/lists/news/archive/").status_code == 403
    assert viewer.delete("/api/v1/lists/news/").status_code == 403
    news.refresh_from_db()
    assert news.archived_at is None
