import pytest
from django.test import Client

from api.services import issue_token
from newsletter.models import Role
from tests.factories import MailingListFactory, MembershipFactory, NewsletterFactory


class ApiClient:
    """The Django test client with a bearer token and JSON bodies."""

    def __init__(self, token: str) -> None:
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def get(self, path: str, data=None):
        return self.client.get(path, data)

    def post(self, path: str, data=None, **kwargs):
        if "format" in kwargs:
            kwargs.pop("format")
            return self.client.post(path, data)
        return self.client.post(path, data, content_type="application/json")

    def patch(self, path: str, data):
        return self.client.patch(path, data, content_type="application/json")

    def delete(self, path: str):
        return self.client.delete(path)


@pytest.fixture
def newsletter(db):
    return NewsletterFactory(slug="proj", consent_text="Yes, send me Proj News.")


@pytest.fixture
def news(newsletter):
    return MailingListFactory(newsletter=newsletter, slug="news", name="News")


@pytest.fixture
def releases(newsletter):
    return MailingListFactory(newsletter=newsletter, slug="releases", name="Releases")


def make_api(newsletter, role=Role.EDITOR, username="robot") -> ApiClient:
    membership = MembershipFactory(newsletter=newsletter, user__username=username, role=role)
    _, raw = issue_token(user=membership.user, newsletter=newsletter, role=role)
    return ApiClient(raw)


@pytest.fixture
def api(newsletter, redis_client):
    return make_api(newsletter)
