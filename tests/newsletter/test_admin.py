import pytest
from django.urls import reverse

from newsletter.models import Membership, Newsletter, Role
from tests.factories import NewsletterFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_superuser_creates_a_newsletter_with_an_owner_in_the_admin(admin_client):
    owner = UserFactory(username="ada")
    response = admin_client.post(
        reverse("admin:newsletter_newsletter_add"),
        {
            "name": "Release News",
            "slug": "release-news",
            "description": "",
            "language": "en",
            "timezone": "Europe/Paris",
            "from_name": "Release Team",
            "from_email": "release@example.org",
            "reply_to": "",
            "postal_address": "1 Example Street",
            "consent_text": "I agree to receive Release News.",
            "tracking_policy": "off",
            "membership_set-TOTAL_FORMS": "1",
            "membership_set-INITIAL_FORMS": "0",
            "membership_set-0-user": owner.pk,
            "membership_set-0-role": Role.OWNER,
        },
    )
    assert response.status_code == 302, response.context["adminform"].errors
    newsletter = Newsletter.objects.get(slug="release-news")
    assert newsletter.tracking_policy == "off"
    assert Membership.objects.get(newsletter=newsletter).user == owner


def test_admin_lists_newsletters(admin_client):
    NewsletterFactory(name="Kernel Weekly")
    response = admin_client.get(reverse("admin:newsletter_newsletter_changelist"))
    assert "Kernel Weekly" in response.content.decode()
