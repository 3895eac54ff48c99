import pytest

from campaigns.models import Campaign, Status
from delivery.models import Delivery, OutboxMessage
from newsletter.models import Role
from subscribers import services as subscribers
from subscribers.models import ConsentSource
from tests.api.conftest import make_api
from tests.conftest import wait_for
from tests.factories import CampaignFactory, NewsletterFactory

BODY = 'Hello {{ subscriber.name|default:"friend" }},\n\nProj **2.0** is out.\n'


def audience(newsletter, mailing_list, count=3):
    for n in range(count):
        subscribers.subscribe(
            newsletter=newsletter,
            email=f"reader{n}@example.org",
            lists=[mailing_list],
            source=ConsentSource.API,
            wording="x",
            attestation="test audience",
        )


def create(api, **overrides):
    payload = {
        "name": "Proj 2.0",
        "subject": "Proj 2.0 is out",
        "body": BODY,
        "lists": ["news"],
        "public": True,
        **overrides,
    }
    return api.post("/api/v1/campaigns/", payload)


@pytest.mark.django_db
def test_create_read_and_list_a_campaign(api, news):
    response = create(api)
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["status"] == "draft"
    assert created["lists"] == ["news"]
    assert created["template"]  # the stock layouts were installed
    assert created["body_format"] == "markdown"
    assert api.get(f"/api/v1/campaigns/{created['id']}/").json()["subject"] == "Proj 2.0 is out"
    assert [item["id"] for item in api.get("/api/v1/campaigns/").json()["items"]] == [created["id"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"body": "Hi {{ subscriber.shoe_size }}"}, "body", "shoe_size"),
        ({"lists": ["nope"]}, "lists", "No such list in this newsletter: nope."),
        ({"template": "Missing"}, "template", "No layout is called"),
        ({"subject": ""}, "subject", ""),
        ({"body_format": "html"}, "body_format", ""),
    ],
)
def test_bad_input_gets_422_per_field_and_nothing_is_kept(api, news, overrides, field, fragment):
    response = create(api, **overrides)
    assert response.status_code == 422
    messages = response.json()["errors"][field]
    assert any(fragment in message for message in messages)
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_patch_a_draft_and_schedule_it(api, news, releases):
    campaign_id = create(api).json()["id"]
    response = api.patch(
        f"/api/v1/campaigns/{campaign_id}/",
        {
            "subject": "Proj 2.0, at last",
            "lists": ["news", "releases"],
            "send_at": "2099-01-01T10:00:00Z",
        },
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["subject"] == "Proj 2.0, at last"
    assert body["lists"] == ["news", "releases"]
    assert body["status"] == "scheduled"
    # Editing a scheduled campaign keeps it scheduled, at the same time.
    edited = api.patch(f"/api/v1/campaigns/{campaign_id}/", {"body": "Changed."})
    assert edited.status_code == 200, edited.json()
    assert (edited.json()["status"], edited.json()["send_at"]) == ("scheduled", body["send_at"])
    assert edited.json()["body"] == "Changed."


@pytest.mark.django_db
def test_send_pause_resume_and_stats(api, newsletter, news, django_capture_on_commit_callbacks):
    audience(newsletter, news)
    campaign_id = create(api).json()["id"]
    with django_capture_on_commit_callbacks() as dispatched:
        sent = api.post(f"/api/v1/campaigns/{campaign_id}/send/")
    assert sent.status_code == 202
    assert sent.json() == {"status": "sending", "recipients": 3}
    assert dispatched
    assert api.post(f"/api/v1/campaigns/{campaign_id}/send/").status_code == 409
    assert api.post(f"/api/v1/campaigns/{campaign_id}/pause/").json()["status"] == "paused"
    assert api.post(f"/api/v1/campaigns/{campaign_id}/resume/").json()["status"] == "sending"
    stats = api.get(f"/api/v1/campaigns/{campaign_id}/stats/").json()
    assert (stats["total"], stats["queued"], stats["sent"]) == (3, 3, 0)


@pytest.mark.django_db
def test_test_send_is_queued_for_valid_addresses_only(
    api, news, django_capture_on_commit_callbacks
):
    campaign_id = create(api).json()["id"]
    bad = api.post(f"/api/v1/campaigns/{campaign_id}/test/", {"to": ["nope"]})
    assert bad.status_code == 422
    with django_capture_on_commit_callbacks() as queued:
        good = api.post(f"/api/v1/campaigns/{campaign_id}/test/", {"to": ["qa@example.org"]})
    assert good.status_code == 202 and good.json() == {"queued": 1}
    assert len(queued) == 1


@pytest.mark.django_db
def test_viewers_read_but_cannot_write_and_other_newsletters_see_nothing(
    newsletter, news, redis_client
):
    editor = make_api(newsletter)
    campaign_id = create(editor).json()["id"]
    viewer = make_api(newsletter, role=Role.VIEWER, username="viewer")
    assert viewer.get(f"/api/v1/campaigns/{campaign_id}/").status_code == 200
    assert viewer.post(f"/api/v1/campaigns/{campaign_id}/send/").status_code == 403
    assert create(viewer).status_code == 403
    stranger = make_api(NewsletterFactory(), username="stranger")
    assert stranger.get(f"/api/v1/campaigns/{campaign_id}/").status_code == 404
    assert stranger.post(f"/api/v1/campaigns/{campaign_id}/send/").status_code == 404


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_end_to_end_create_send_and_read_the_stats_with_a_real_worker(newsletter, news, worker):
    audience(newsletter, news, count=5)
    api = make_api(newsletter)
    campaign_id = create(api).json()["id"]
    assert api.post(f"/api/v1/campaigns/{campaign_id}/send/").status_code == 202
    done = wait_for(
        lambda: (
            (stats := api.get(f"/api/v1/campaigns/{campaign_id}/stats/").json())["status"]
            == Status.SENT
            and stats
        )
    )
    assert (done["total"], done["sent"], done["failed"]) == (5, 5, 0)
    assert Delivery.objects.filter(status="sent").count() == 5
    assert OutboxMessage.objects.filter(subject="Proj 2.0 is out").count() == 5


@pytest.mark.django_db
def test_null_send_at_unschedules_and_a_started_campaign_cannot_change(api, newsletter, news):
    campaign_id = create(api, send_at="2099-01-01T10:00:00Z").json()["id"]
    back = api.patch(f"/api/v1/campaigns/{campaign_id}/", {"send_at": None})
    assert back.status_code == 200, back.json()
    assert (back.json()["status"], back.json()["send_at"]) == ("draft", None)
    audience(newsletter, news)
    assert api.post(f"/api/v1/campaigns/{campaign_id}/send/").status_code == 202
    refused = api.patch(f"/api/v1/campaigns/{campaign_id}/", {"subject": "Too late"})
    assert refused.status_code == 409
    assert "has not started" in refused.json()["errors"]["status"][0]
    assert Campaign.objects.get(pk=campaign_id).subject == "Proj 2.0 is out"


@pytest.mark.django_db
def test_the_lists_of_a_sending_campaign_cannot_be_patched(api, newsletter, news, releases):
    """Changing who a campaign goes to once it sends would leave its queued rows behind:
    refused, and nothing changes."""
    campaign_id = create(api).json()["id"]
    audience(newsletter, news)
    assert api.post(f"/api/v1/campaigns/{campaign_id}/send/").status_code == 202
    rows = sorted(Delivery.objects.filter(campaign_id=campaign_id).values_list("pk", "status"))
    for change in ({"lists": ["releases"]}, {"lists": ["news", "releases"]}, {"segment": None}):
        refused = api.patch(f"/api/v1/campaigns/{campaign_id}/", change)
        assert refused.status_code == 409, refused.json()
        assert "has not started" in refused.json()["errors"]["status"][0]
    campaign = Campaign.objects.get(pk=campaign_id)
    assert list(campaign.lists.values_list("slug", flat=True)) == ["news"]
    assert campaign.status == Status.SENDING
    assert (
        sorted(Delivery.objects.filter(campaign_id=campaign_id).values_list("pk", "status")) == rows
    )


@pytest.mark.django_db
def test_unschedule_returns_a_scheduled_campaign_to_draft(api, news):
    campaign_id = create(api, send_at="2099-01-01T10:00:00Z").json()["id"]
    response = api.post(f"/api/v1/campaigns/{campaign_id}/unschedule/")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["send_at"]) == ("draft", None)
    again = api.post(f"/api/v1/campaigns/{campaign_id}/unschedule/")
    assert again.status_code == 409
    assert again.json()["errors"]["status"] == ["It is draft."]


@pytest.mark.django_db
def test_duplicate_copies_any_campaign_as_a_new_draft(api, newsletter, news, releases):
    audience(newsletter, news)
    original = create(api, lists=["news", "releases"]).json()
    assert api.post(f"/api/v1/campaigns/{original['id']}/send/").status_code == 202
    response = api.post(f"/api/v1/campaigns/{original['id']}/duplicate/")
    assert response.status_code == 201, response.json()
    copy = response.json()
    assert copy["id"] != original["id"]
    assert copy["status"] == "draft"
    assert copy["slug"] != original["slug"]
    assert copy["name"] == "Proj 2.0 (copy)"
    for field in ("subject", "body", "body_format", "template", "public", "lists"):
        assert copy[field] == original[field], field
    assert not Delivery.objects.filter(campaign_id=copy["id"]).exists()
    assert Delivery.objects.filter(campaign_id=original["id"]).count() == 3


@pytest.mark.django_db
def test_delete_a_draft_but_never_a_campaign_with_messages(api, newsletter, news):
    draft = create(api).json()["id"]
    assert api.delete(f"/api/v1/campaigns/{draft}/").status_code == 204
    assert not Campaign.objects.filter(pk=draft).exists()
    assert api.delete(f"/api/v1/campaigns/{draft}/").status_code == 404

    scheduled = create(api, send_at="2099-01-01T10:00:00Z").json()["id"]
    assert api.delete(f"/api/v1/campaigns/{scheduled}/").status_code == 204

    audience(newsletter, news)
    sent = create(api).json()["id"]
    api.post(f"/api/v1/campaigns/{sent}/send/")
    refused = api.delete(f"/api/v1/campaigns/{sent}/")
    assert refused.status_code == 409
    assert "never started" in refused.json()["errors"]["status"][0]
    assert Delivery.objects.filter(campaign_id=sent).count() == 3


@pytest.mark.django_db
def test_viewers_cannot_duplicate_delete_or_unschedule(newsletter, news):
    viewer = make_api(newsletter, Role.VIEWER)
    campaign = CampaignFactory(newsletter=newsletter, status=Status.SCHEDULED)
    assert viewer.post(f"/api/v1/campaigns/{campaign.pk}/duplicate/").status_code == 403
    assert viewer.post(f"/api/v1/campaigns/{campaign.pk}/unschedule/").status_code == 403
    assert viewer.delete(f"/api/v1/campaigns/{campaign.pk}/").status_code == 403
    assert Campaign.objects.filter(newsletter=newsletter).count() == 1
