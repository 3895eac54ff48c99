"""The sending-backend page shows only the chosen service's fields, names the instance's
default backend, tests an SMTP connection without sending, says where a test message
went, and gives each service its own delivery-report webhook."""

import re

import pytest
from django.urls import reverse

from delivery import sending_backends
from delivery.models import SendingBackend
from newsletter.models import Role
from tests.conftest import free_port
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(client):
    membership = MembershipFactory(role=Role.OWNER)
    client.force_login(membership.user)
    client.newsletter = membership.newsletter
    return client


def page(client, **query) -> str:
    url = reverse("dashboard:sending_backend", args=[client.newsletter.slug])
    return client.get(url, query).content.decode()


def field_names(html: str) -> set[str]:
    return set(re.findall(r'<(?:input|select)[^>]* name="([a-z_]+)"', html))


PROVIDER = {"host", "port", "security", "username", "api_url", "region", "sender_domain",
            "secret", "secret_key", "webhook_signing_key", "batch_size"}  # fmt: skip
EXPECTED = {
    "smtp": {"host", "port", "security", "username", "secret"},
    "amazon_ses": {"region", "secret", "secret_key", "api_url"},
    "mailgun": {"api_url", "sender_domain", "secret", "webhook_signing_key", "batch_size"},
    "postmark": {"api_url", "secret"},
    "mailjet": {"api_url", "secret", "secret_key"},
    "outbox": set(),
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_only_the_chosen_services_fields_are_shown(owner, kind):
    html = page(owner, kind=kind)
    assert field_names(html) & PROVIDER == EXPECTED[kind]


def test_secret_fields_are_named_as_the_service_names_them(owner):
    assert ">SMTP password</label>" in page(owner, kind="smtp")
    ses = page(owner, kind="amazon_ses")
    assert ">Access key ID</label>" in ses and ">Secret access key</label>" in ses
    assert ">Server token</label>" in page(owner, kind="postmark")


def test_the_service_select_fetches_its_fields_in_place(owner):
    html = page(owner)
    select = re.search(r'<select name="kind"[^>]*>', html).group(0)
    assert 'hx-trigger="change"' in select and 'hx-select="#provider-fields"' in select


def test_switching_service_keeps_nothing_of_the_other(owner):
    slug = owner.newsletter.slug
    base = {"active": "on", "rate_per_second": 0, "rate_per_hour": 0, "rate_per_day": 0,
            "domain_rate_per_minute": 0}  # fmt: skip
    url = reverse("dashboard:sending_backend", args=[slug])
    owner.post(url, {**base, "kind": "smtp", "host": "smtp.example.org", "port": 2525,
                     "security": "starttls", "username": ""})  # fmt: skip
    response = owner.post(
        url, {**base, "kind": "postmark", "secret": "pm-token", "host": "smtp.example.org"}
    )
    assert response.status_code == 302
    backend = SendingBackend.objects.get()
    assert (backend.kind, backend.host, backend.port) == ("postmark", "", None)


@pytest.mark.parametrize(
    ("backend", "settings_values", "named"),
    [
        ("delivery.backends.outbox.EmailBackend", {}, "the built-in outbox"),
        (
            "django.core.mail.backends.smtp.EmailBackend",
            {"EMAIL_HOST": "relay.example.org", "EMAIL_PORT": 587},
            "the SMTP server relay.example.org:587",
        ),
        ("anymail.backends.mailgun.EmailBackend", {}, "Mailgun (anymail)"),
    ],
)
def test_the_instances_default_backend_is_named(owner, settings, backend, settings_values, named):
    settings.EMAIL_BACKEND = backend
    for name, value in settings_values.items():
        setattr(settings, name, value)
    html = page(owner)
    assert f"goes through the instance's default backend: {named}" in html


def test_the_smtp_connection_test_sends_no_message(owner, smtp_sink, settings):
    settings.SENDING_ALLOW_PRIVATE_HOSTS = True
    backend = sending_backends.sending_backend_save(
        newsletter=owner.newsletter,
        values={"kind": "smtp", "host": "127.0.0.1", "port": smtp_sink.port, "security": "none"},
        new_secrets={},
    )
    assert "Test the connection" in page(owner)
    assert sending_backends.connection_check(backend_id=backend.pk)
    assert smtp_sink.handler.received == []
    fragment = page(owner, part="test")
    assert "It works." in fragment
    assert "connected to 127.0.0.1, EHLO answered 250" in fragment
    assert "QUIT. No message was sent." in fragment


def test_a_failed_connection_test_says_why(owner, settings):
    settings.SENDING_ALLOW_PRIVATE_HOSTS = True
    backend = sending_backends.sending_backend_save(
        newsletter=owner.newsletter,
        values={"kind": "smtp", "host": "127.0.0.1", "port": free_port(), "security": "none"},
        new_secrets={},
    )
    assert not sending_backends.connection_check(backend_id=backend.pk)
    fragment = page(owner, part="test")
    assert "It failed." in fragment and "ConnectionRefusedError" in fragment


def test_the_connection_test_is_queued_from_the_page(owner, django_capture_on_commit_callbacks):
    sending_backends.sending_backend_save(
        newsletter=owner.newsletter,
        values={"kind": "smtp", "host": "smtp.example.org"},
        new_secrets={},
    )
    with django_capture_on_commit_callbacks() as callbacks:
        response = owner.post(
            reverse("dashboard:sending_backend_check", args=[owner.newsletter.slug]), follow=True
        )
    assert "Test queued; waiting for a worker" in response.content.decode()
    assert len(callbacks) == 1


def test_an_api_service_says_its_test_sends_a_message(owner):
    sending_backends.sending_backend_save(
        newsletter=owner.newsletter, values={"kind": "postmark"}, new_secrets={"server_token": "t"}
    )
    html = page(owner)
    assert "Test the connection" not in html
    assert "Postmark offers no way to check a key without sending" in html


@pytest.mark.parametrize("staff", [True, False])
def test_the_outbox_is_linked_only_when_the_test_went_there(owner, staff):
    owner_user = owner.newsletter.membership_set.get().user
    owner_user.is_staff = staff
    owner_user.save()
    backend = sending_backends.sending_backend_save(
        newsletter=owner.newsletter, values={"kind": "outbox"}, new_secrets={}
    )
    assert sending_backends.test_send(backend_id=backend.pk, to="me@example.org", requested_by="o")
    fragment = page(owner, part="test")
    assert "went to the built-in outbox" in fragment
    assert (reverse("dashboard:outbox") in fragment) is staff


def test_no_outbox_link_when_the_test_went_elsewhere(owner, smtp_sink, settings):
    settings.SENDING_ALLOW_PRIVATE_HOSTS = True
    owner_user = owner.newsletter.membership_set.get().user
    owner_user.is_staff = True
    owner_user.save()
    backend = sending_backends.sending_backend_save(
        newsletter=owner.newsletter,
        values={"kind": "smtp", "host": "127.0.0.1", "port": smtp_sink.port, "security": "none"},
        new_secrets={},
    )
    assert sending_backends.test_send(backend_id=backend.pk, to="me@example.org", requested_by="o")
    fragment = page(owner, part="test")
    assert "went to the SMTP server 127.0.0.1" in fragment
    assert reverse("dashboard:outbox") not in fragment


def test_each_api_backend_shows_its_own_webhook_and_can_renew_its_secret(owner, settings):
    settings.SITE_URL = "https://news.example.org"
    backend = sending_backends.sending_backend_save(
        newsletter=owner.newsletter, values={"kind": "postmark"}, new_secrets={"server_token": "t"}
    )
    webhook = sending_backends.webhook_of(backend)
    html = page(owner)
    expected = (
        f"https://crier:{webhook.password}@news.example.org/webhooks/anymail/postmark/tracking/"
        f"{backend.webhook_key}/"
    )
    assert expected in html
    owner.post(reverse("dashboard:sending_backend_webhook_renew", args=[owner.newsletter.slug]))
    backend.refresh_from_db()
    assert sending_backends.webhook_of(backend).password != webhook.password


def test_smtp_has_no_webhook(owner):
    sending_backends.sending_backend_save(
        newsletter=owner.newsletter,
        values={"kind": "smtp", "host": "smtp.example.org"},
        new_secrets={},
    )
    assert "Delivery reports" not in page(owner)
