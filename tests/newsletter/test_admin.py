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


def test_an_instance_admin_suppresses_an_address_everywhere_by_typing_it(admin_client):
    from subscribers import suppressions
    from subscribers.models import Suppression, address_digest

    url = reverse("admin:subscribers_suppression_add")
    form = {"email": "Gone@Example.org", "newsletter": "", "reason": "manual", "note": "asked"}
    assert admin_client.post(url, form).status_code == 302
    suppression = Suppression.objects.get()
    assert suppression.instance_wide
    assert suppression.email_digest == address_digest("gone@example.org")
    assert suppressions.reasons("gone@example.org", NewsletterFactory()) == {"manual"}
    again = admin_client.post(url, form)
    assert again.status_code == 200
    assert "already suppressed" in again.content.decode()
    page = admin_client.get(reverse("admin:subscribers_suppression_change", args=[suppression.pk]))
    assert page.status_code == 200 and "Gone@Example.org" not in page.content.decode()
