import pytest

from campaigns.models import Campaign, Status
from delivery.models import Delivery, OutboxMessage
from newsletter.models import Role
from subscribers import services as subscribers
from subscribers.models import ConsentSource
from tests.api.conftest import make_api
from tests.conftest import wait_for
from tests.factories import NewsletterFactory

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
    assert api.patch(f"/api/v1/campaigns/{campaign_id}/", {"body": "x"}).status_code == 422


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
