"""Request bodies and uploads have size caps, refused with a clear error before they
are read, and each upload field has its own."""

from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from newsletter.models import Role
from subscribers.models import ImportBatch, Subscriber
from tests.api.conftest import make_api
from tests.factories import MailingListFactory, MembershipFactory, NewsletterFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_limits(settings):
    settings.MB = 1024
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    settings.IMPORT_UPLOAD_MAX_BYTES = 4096
    settings.UPLOAD_REQUEST_MAX_BYTES = 8192


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_a_form_body_over_the_limit_gets_413(client, small_limits, encoding):
    newsletter = NewsletterFactory(slug="kernel")
    MailingListFactory(newsletter=newsletter, slug="releases")
    data = {"email": "a@example.org", "lists": ["releases"], "name": "x" * 3000}
    url = reverse("subscribers:subscribe", args=["kernel"])
    if encoding == "urlencoded":  # refused on Content-Length, before anything reads it
        body = urlencode(data, doseq=True)
        response = client.post(url, body, content_type="application/x-www-form-urlencoded")
    else:  # a multipart body's fields are measured while it is parsed
        response = client.post(url, data)
    assert response.status_code == 413
    assert "The request is too large: at most 2 MB." in response.content.decode()
    assert not Subscriber.objects.exists()


def test_a_dashboard_form_over_the_limit_gets_413_even_before_its_csrf_check(small_limits):
    membership = MembershipFactory(role=Role.OWNER)
    client = Client(enforce_csrf_checks=True)
    client.force_login(membership.user)
    url = reverse("dashboard:settings", args=[membership.newsletter.slug])
    client.get(url)
    token = client.cookies["csrftoken"].value
    response = client.post(url, {"csrfmiddlewaretoken": token, "name": "x" * 3000})
    assert response.status_code == 413


def test_an_api_body_over_the_limit_gets_413_in_json(small_limits, redis_client):
    api = make_api(NewsletterFactory())
    response = api.post("/api/v1/campaigns/", {"name": "n", "subject": "s", "body": "x" * 3000})
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]


def test_a_multipart_body_over_the_upload_limit_gets_413(client, small_limits):
    membership = MembershipFactory(role=Role.EDITOR)
    client.force_login(membership.user)
    MailingListFactory(newsletter=membership.newsletter, slug="news")
    response = client.post(
        reverse("dashboard:import_upload", args=[membership.newsletter.slug, "news"]),
        {"file": SimpleUploadedFile("big.csv", b"email\n" + b"a@example.org\n" * 1000)},
    )
    assert response.status_code == 413


def test_an_import_over_its_cap_is_refused_on_its_field(client, small_limits, settings, tmp_path):
    settings.IMPORT_DIR = tmp_path
    membership = MembershipFactory(role=Role.EDITOR)
    client.force_login(membership.user)
    MailingListFactory(newsletter=membership.newsletter, slug="news")
    content = b"email\n" + b"a@example.org\n" * 400  # 5.6 "MB" of a 4 "MB" cap
    response = client.post(
        reverse("dashboard:import_upload", args=[membership.newsletter.slug, "news"]),
        {"file": SimpleUploadedFile("people.csv", content, content_type="text/csv")},
    )
    assert response.status_code == 422
    assert "the most Crier takes is 4 MB" in " ".join(response.context["form"].errors["file"])
    assert list(tmp_path.iterdir()) == []


def test_an_api_import_over_its_cap_is_refused_on_its_field(small_limits, settings, tmp_path):
    settings.IMPORT_DIR = tmp_path
    newsletter = NewsletterFactory()
    MailingListFactory(newsletter=newsletter, slug="news")
    api = make_api(newsletter)
    upload = SimpleUploadedFile("people.csv", b"email\n" + b"a@example.org\n" * 400)
    response = api.post(
        "/api/v1/imports/",
        {"file": upload, "list": "news", "consent": "Signed up at the conference"},
        format="multipart",
    )
    assert response.status_code == 422
    assert "the most Crier takes is 4 MB" in response.json()["errors"]["file"][0]
    assert not ImportBatch.objects.exists()
    assert list(tmp_path.iterdir()) == []


def test_bodies_within_the_limits_pass(small_limits):
    newsletter = NewsletterFactory(slug="kernel")
    MailingListFactory(newsletter=newsletter, slug="releases")
    response = Client().post(
        reverse("subscribers:subscribe", args=["kernel"]),
        {"email": "a@example.org", "lists": ["releases"], "consent": "on"},
    )
    assert response.status_code == 200
