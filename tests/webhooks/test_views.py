import pytest
from django.urls import reverse

from newsletter.models import Role
from tests.factories import MembershipFactory, NewsletterFactory
from webhooks import services, tasks
from webhooks.events import Event
from webhooks.models import Endpoint, OutcomeStatus, WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter():
    return NewsletterFactory(slug="proj")


def login(client, newsletter, role):
    membership = MembershipFactory(newsletter=newsletter, role=role)
    client.force_login(membership.user)
    return client


def page_url(newsletter):
    return reverse("dashboard:webhooks", kwargs={"slug": newsletter.slug})


@pytest.mark.parametrize(("role", "status"), [(Role.VIEWER, 403), (Role.EDITOR, 403)])
def test_only_owners_see_the_webhooks_page(client, newsletter, role, status):
    assert login(client, newsletter, role).get(page_url(newsletter)).status_code == status


def test_strangers_do_not_learn_the_newsletter_exists(client, newsletter):
    login(client, NewsletterFactory(), Role.OWNER)
    assert client.get(page_url(newsletter)).status_code == 404


def test_an_owner_adds_an_endpoint_and_sees_its_secret_once(client, newsletter):
    owner = login(client, newsletter, Role.OWNER)
    response = owner.post(
        page_url(newsletter),
        {"url": "https://hooks.example.org/crier", "events": [Event.CONFIRMED, Event.BOUNCED]},
    )
    assert response.status_code == 200
    endpoint = Endpoint.objects.get()
    assert endpoint.events == [Event.CONFIRMED, Event.BOUNCED]
    assert endpoint.secret in response.content.decode()
    assert response["Cache-Control"].startswith("max-age=0")
    later = owner.get(page_url(newsletter)).content.decode()
    assert "https://hooks.example.org/crier" in later
    assert endpoint.secret not in later


def test_a_private_address_is_refused_with_a_message_and_nothing_saved(client, newsletter):
    response = login(client, newsletter, Role.OWNER).post(
        page_url(newsletter),
        {"url": "https://169.254.169.254/latest", "events": [Event.CONFIRMED]},
    )
    assert response.status_code == 422
    assert "not a public address" in response.content.decode()
    assert not Endpoint.objects.exists()


def test_an_owner_sends_a_test_event_then_disables_the_endpoint(client, newsletter, monkeypatch):
    monkeypatch.setattr(tasks.deliver, "delay", lambda pk: None)
    endpoint = services.endpoint_create(
        newsletter=newsletter, url="https://hooks.example.org/", events=[Event.CONFIRMED]
    )
    owner = login(client, newsletter, Role.OWNER)
    test_url = reverse("dashboard:webhook_test", args=[newsletter.slug, endpoint.pk])
    response = owner.post(test_url, follow=True)
    assert "A test event is on its way" in response.content.decode()
    assert WebhookDelivery.objects.get().event == Event.PING
    assert "ping" in response.content.decode()

    disable_url = reverse("dashboard:webhook_disable", args=[newsletter.slug, endpoint.pk])
    response = owner.post(disable_url, follow=True)
    assert "will receive no more events" in response.content.decode()
    endpoint.refresh_from_db()
    assert not endpoint.active
    assert WebhookDelivery.objects.get().status == OutcomeStatus.FAILED


def test_an_endpoint_of_another_newsletter_cannot_be_disabled(client, newsletter):
    other = services.endpoint_create(
        newsletter=NewsletterFactory(), url="https://hooks.example.org/", events=[Event.CONFIRMED]
    )
    owner = login(client, newsletter, Role.OWNER)
    response = owner.post(reverse("dashboard:webhook_disable", args=[newsletter.slug, other.pk]))
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.active
