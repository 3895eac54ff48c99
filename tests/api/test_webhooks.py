import pytest

from newsletter.models import Role
from tests.api.conftest import make_api
from tests.factories import NewsletterFactory
from webhooks import services, tasks
from webhooks.models import Endpoint, OutcomeStatus, WebhookDelivery

pytestmark = pytest.mark.django_db
URL = "https://hooks.example.org/crier"


@pytest.fixture
def owner(newsletter, redis_client):
    return make_api(newsletter, role=Role.OWNER, username="owner")


def test_an_owner_registers_an_endpoint_and_gets_its_secret_only_then(owner):
    response = owner.post(
        "/api/v1/webhooks/",
        {"url": URL, "events": ["subscriber.confirmed", "campaign.sent"], "description": "CRM"},
    )
    assert response.status_code == 201
    created = response.json()
    endpoint = Endpoint.objects.get()
    assert created["secret"] == endpoint.secret
    assert created["events"] == ["subscriber.confirmed", "campaign.sent"]

    listed = owner.get("/api/v1/webhooks/").json()
    assert [item["url"] for item in listed] == [URL]
    assert "secret" not in listed[0]
    assert "secret" not in owner.get(f"/api/v1/webhooks/{endpoint.pk}/").json()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"url": "http://hooks.example.org/", "events": ["campaign.sent"]}, "url"),
        ({"url": "https://10.0.0.1/", "events": ["campaign.sent"]}, "url"),
        ({"url": "https://exa mple.org/", "events": ["campaign.sent"]}, "url"),
        ({"url": URL, "events": ["ping"]}, "events.0"),
        ({"url": URL, "events": []}, "events"),
    ],
)
def test_bad_endpoints_get_a_message_per_field_and_nothing_is_saved(owner, payload, field):
    response = owner.post("/api/v1/webhooks/", payload)
    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert not Endpoint.objects.exists()


def test_editors_and_viewers_may_not_touch_webhooks(newsletter, redis_client):
    endpoint = services.endpoint_create(newsletter=newsletter, url=URL, events=["campaign.sent"])
    editor = make_api(newsletter, role=Role.EDITOR)
    assert editor.get("/api/v1/webhooks/").status_code == 403
    assert (
        editor.post("/api/v1/webhooks/", {"url": URL, "events": ["campaign.sent"]}).status_code
        == 403
    )
    assert editor.post(f"/api/v1/webhooks/{endpoint.pk}/disable/").status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.active


def test_another_newsletters_endpoint_is_not_found(owner):
    theirs = services.endpoint_create(
        newsletter=NewsletterFactory(), url=URL, events=["campaign.sent"]
    )
    assert owner.get(f"/api/v1/webhooks/{theirs.pk}/").status_code == 404
    assert owner.post(f"/api/v1/webhooks/{theirs.pk}/disable/").status_code == 404


def test_test_event_deliveries_and_disable(owner, newsletter, monkeypatch):
    monkeypatch.setattr(tasks.deliver, "delay", lambda pk: None)
    endpoint = services.endpoint_create(newsletter=newsletter, url=URL, events=["campaign.sent"])

    response = owner.post(f"/api/v1/webhooks/{endpoint.pk}/test/")
    assert response.status_code == 202
    assert response.json()["event"] == "ping"
    deliveries = owner.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/").json()
    assert [item["status"] for item in deliveries] == ["pending"]

    disabled = owner.post(f"/api/v1/webhooks/{endpoint.pk}/disable/").json()
    assert disabled["active"] is False and disabled["disabled_at"]
    assert WebhookDelivery.objects.get().status == OutcomeStatus.FAILED
    assert owner.post(f"/api/v1/webhooks/{endpoint.pk}/test/").status_code == 409
