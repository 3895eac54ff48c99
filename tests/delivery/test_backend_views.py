"""The sending backend page: owners only, secrets never shown back, tests queued and shown."""

import pytest
from django.urls import reverse

from delivery import sending_backends, transports
from delivery.models import BackendKind, SendingBackend
from newsletter.models import Role
from tests.factories import MembershipFactory
from tests.fake_esp import Reply

pytestmark = pytest.mark.django_db

SECRET = "key-0123456789-very-secret"


@pytest.fixture
def owner(client):
    membership = MembershipFactory(role=Role.OWNER)
    client.force_login(membership.user)
    return client, membership.newsletter


def page_url(newsletter, name="sending_backend"):
    return reverse(f"dashboard:{name}", args=[newsletter.slug])


def form_data(**values):
    data = {
        "kind": BackendKind.MAILGUN,
        "active": "on",
        "security": "starttls",
        "api_url": "https://api.eu.mailgun.net/v3",
        "rate_per_second": "10",
        "rate_per_hour": "0",
        "rate_per_day": "50000",
        "domain_rate_per_minute": "0",
        "batch_size": "0",
        "secret": SECRET,
        "secret_key": "",
    }
    data.update(values)
    return data


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_editors_and_viewers_are_refused(client, role):
    membership = MembershipFactory(role=role)
    client.force_login(membership.user)
    newsletter = membership.newsletter
    assert client.get(page_url(newsletter)).status_code == 403
    assert client.post(page_url(newsletter), form_data()).status_code == 403
    assert (
        client.post(page_url(newsletter, "sending_backend_test"), {"to": "a@b.org"}).status_code
        == 403
    )
    assert not SendingBackend.objects.exists()


def test_an_owner_saves_a_backend_and_the_secret_is_never_shown_back(owner):
    client, newsletter = owner
    response = client.post(page_url(newsletter), form_data())
    assert response.status_code == 302
    backend = SendingBackend.objects.get(newsletter=newsletter)
    assert backend.active and backend.rate_per_day == 50000
    assert SECRET not in backend.secrets

    page = client.get(page_url(newsletter)).content.decode()
    assert SECRET not in page
    assert "Set. Leave blank to keep it." in page
    assert "goes through its own backend: Mailgun" in page

    client.post(page_url(newsletter), form_data(secret="", rate_per_second="3"))
    backend.refresh_from_db()
    assert backend.rate_per_second == 3
    assert transports.read_secrets(backend) == {"api_key": SECRET}


def test_bad_settings_are_explained_and_change_nothing(owner):
    client, newsletter = owner
    response = client.post(
        page_url(newsletter), form_data(kind=BackendKind.SMTP, secret="", rate_per_second="-1")
    )
    assert response.status_code == 422
    assert "greater than or equal to 0" in response.content.decode()
    response = client.post(page_url(newsletter), form_data(kind=BackendKind.SMTP, host=""))
    assert response.status_code == 422
    assert "Enter the SMTP host." in response.content.decode()
    response = client.post(page_url(newsletter), form_data(secret=""))
    assert "Enter the API key." in response.content.decode()
    assert not SendingBackend.objects.exists()


def test_the_test_button_queues_a_test_and_the_page_shows_its_result(
    owner, smtp_sink, django_capture_on_commit_callbacks, settings
):
    settings.SENDING_ALLOW_PRIVATE_HOSTS = True  # the admin allows a relay on this machine
    client, newsletter = owner
    client.post(
        page_url(newsletter),
        form_data(
            kind=BackendKind.SMTP,
            host="127.0.0.1",
            port=str(smtp_sink.port),
            security="none",
            secret="",
            active="",
        ),
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            page_url(newsletter, "sending_backend_test"), {"to": "me@example.org"}, follow=True
        )
    assert "Test queued; waiting for a worker" in response.content.decode()
    assert len(callbacks) == 1

    backend = SendingBackend.objects.get()
    assert sending_backends.test_send(backend_id=backend.pk, to="me@example.org", requested_by="o")
    assert smtp_sink.handler.recipients() == ["me@example.org"]
    fragment = client.get(page_url(newsletter), {"part": "test"}).content.decode()
    assert "It works." in fragment and "hx-trigger" not in fragment
    assert f"went to the SMTP server 127.0.0.1:{smtp_sink.port}" in fragment


def test_an_api_url_must_be_https(owner):
    client, newsletter = owner
    response = client.post(page_url(newsletter), form_data(api_url="http://169.254.169.254/"))
    assert response.status_code == 422
    assert "Use an https:// address." in response.content.decode()
    assert not SendingBackend.objects.exists()


def test_a_refused_test_shows_the_services_words(owner, fake_esp):
    client, newsletter = owner
    sending_backends.sending_backend_save(
        newsletter=newsletter,
        values={"kind": BackendKind.MAILGUN, "api_url": f"{fake_esp.url}v3/"},
        new_secrets={"api_key": SECRET},
    )
    fake_esp.script = [Reply(401, {"message": "Invalid private key"})]
    backend = SendingBackend.objects.get()
    assert not sending_backends.test_send(
        backend_id=backend.pk, to="me@example.org", requested_by="o"
    )
    page = client.get(page_url(newsletter)).content.decode()
    assert "It failed." in page and "Invalid private key" in page


def test_testing_before_saving_says_what_to_do(owner):
    client, newsletter = owner
    response = client.post(
        page_url(newsletter, "sending_backend_test"), {"to": "me@example.org"}, follow=True
    )
    assert "Save a sending backend before testing it." in response.content.decode()
