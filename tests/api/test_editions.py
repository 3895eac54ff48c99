"""Editions nested under a campaign in the API: the same services as the dashboard."""

import pytest

from subscribers import services as subscribers
from subscribers.models import ConsentSource, Subscriber
from tests.api.conftest import make_api
from tests.factories import CampaignFactory, NewsletterFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(newsletter, news):
    campaign = CampaignFactory(newsletter=newsletter, subject="Release 2.0")
    campaign.lists.set([news])
    return campaign


def french_reader(newsletter, news):
    subscribers.subscribe(
        newsletter=newsletter,
        email="amelie@example.org",
        lists=[news],
        source=ConsentSource.DASHBOARD,
        wording="Yes.",
        attestation="test",
        actor="t",
    )
    Subscriber.objects.filter(email="amelie@example.org").update(language="fr")


def test_an_edition_is_created_listed_marked_ready_and_unblocks_the_send(
    api, newsletter, news, campaign
):
    french_reader(newsletter, news)
    base = f"/api/v1/campaigns/{campaign.pk}/editions/"
    created = api.post(base, {"language": "FR", "subject": "Version 2.0", "body": "Bonjour."})
    assert created.status_code == 201, created.json()
    assert created.json() | {"problems": []} == {
        "language": "fr",
        "name": "French",
        "status": "pending",
        "subject": "Version 2.0",
        "preheader": "",
        "body": "Bonjour.",
        "readers": 1,
        "flagged": False,
        "problems": [],
    }
    assert api.get(f"/api/v1/campaigns/{campaign.pk}/").json()["editions"] == ["fr"]

    refused = api.post(f"/api/v1/campaigns/{campaign.pk}/send/")
    assert refused.status_code == 409
    assert "Translations still pending: French (1 reader)" in refused.json()["errors"]["status"][0]

    ready = api.patch(f"{base}fr/", {"status": "ready"})
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert api.post(f"/api/v1/campaigns/{campaign.pk}/send/").status_code == 202
    stats = api.get(f"/api/v1/campaigns/{campaign.pk}/stats/").json()
    assert stats["editions"] == [
        {
            "language": "fr",
            "recipients": 1,
            "sent": 0,
            "failed": 0,
            "human_opens": None,
            "human_clicks": None,
        }
    ]


def test_bad_editions_are_refused_by_field_and_nothing_is_kept(api, campaign):
    base = f"/api/v1/campaigns/{campaign.pk}/editions/"
    body_error = api.post(
        base, {"language": "de", "subject": "S", "body": "Hallo {{ subscriber.shoe }}"}
    )
    assert body_error.status_code == 422
    assert "shoe" in body_error.json()["errors"]["body"][0]
    language_error = api.post(base, {"language": "deutsch!", "subject": "S", "body": "Hallo"})
    assert language_error.status_code == 422
    assert "language code" in language_error.json()["errors"]["language"][0]
    assert api.get(base).json() == []


def test_another_newsletters_token_cannot_see_or_add_editions(campaign, redis_client):
    other = make_api(NewsletterFactory(slug="other"), username="intruder")
    base = f"/api/v1/campaigns/{campaign.pk}/editions/"
    assert other.get(base).status_code == 404
    assert other.post(base, {"language": "fr", "subject": "S", "body": "B"}).status_code == 404
    assert not campaign.editions.exists()


def test_editions_are_in_the_openapi_schema(api):
    paths = api.get("/api/v1/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/campaigns/{campaign_id}/editions/"])
    assert {"get", "patch", "delete"} <= set(
        paths["/api/v1/campaigns/{campaign_id}/editions/{language}/"]
    )
