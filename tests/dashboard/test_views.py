import pytest
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse

from delivery.models import OutboxMessage
from tests.factories import PASSWORD, MembershipFactory, NewsletterFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_dashboard_requires_login(client):
    response = client.get(reverse("dashboard:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("dashboard:login"))


def test_root_leads_to_the_dashboard(client):
    assert client.get("/")["Location"] == reverse("dashboard:home")


def test_login_with_wrong_password_says_so(client):
    UserFactory(username="ada")
    response = client.post(reverse("dashboard:login"), {"username": "ada", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_login_then_see_only_my_newsletters(client):
    membership = MembershipFactory(newsletter__name="Mine")
    NewsletterFactory(name="Theirs")
    response = client.post(
        reverse("dashboard:login"),
        {"username": membership.user.username, "password": PASSWORD},
        follow=True,
    )
    page = response.content.decode()
    assert "Mine" in page
    assert "Theirs" not in page


def test_newsletter_page_is_hidden_from_non_members(client):
    newsletter = NewsletterFactory()
    client.force_login(UserFactory())
    assert client.get(newsletter.get_absolute_url()).status_code == 404


def test_members_page_shows_members_and_roles(client):
    membership = MembershipFactory(user__username="ada", role="owner")
    client.force_login(membership.user)
    url = reverse("dashboard:settings_members", args=[membership.newsletter.slug])
    page = client.get(url).content.decode()
    assert "ada" in page
    assert "Owner" in page


def test_dashboard_pages_send_a_strict_content_security_policy(client):
    client.force_login(UserFactory())
    policy = client.get(reverse("dashboard:home"))["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy


def test_outbox_is_for_staff_only(client):
    client.force_login(UserFactory())
    response = client.get(reverse("dashboard:outbox"))
    assert response.status_code == 302


def test_outbox_lists_messages_and_shows_one(staff_client):
    message = EmailMultiAlternatives("Hello list", "Text part here.", to=["ada@example.org"])
    message.attach_alternative("<p>HTML part</p><script>alert(1)</script>", "text/html")
    message.send()
    stored = OutboxMessage.objects.get()

    listing = staff_client.get(reverse("dashboard:outbox")).content.decode()
    assert "Hello list" in listing and "ada@example.org" in listing

    detail = staff_client.get(stored.get_absolute_url()).content.decode()
    assert "Text part here." in detail
    assert 'sandbox title="HTML part of the message"' in detail


def test_outbox_html_part_is_served_sandboxed(staff_client):
    message = EmailMultiAlternatives("Hi", "Text", to=["ada@example.org"])
    message.attach_alternative("<p>HTML part</p><script>alert(1)</script>", "text/html")
    message.send()
    stored = OutboxMessage.objects.get()
    response = staff_client.get(reverse("dashboard:outbox_message_html", args=[stored.pk]))
    policy = response["Content-Security-Policy"]
    assert "sandbox" in policy
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
    assert "<p>HTML part</p>" in response.content.decode()


def test_outbox_htmx_refresh_returns_only_the_table(staff_client):
    response = staff_client.get(reverse("dashboard:outbox"), HTTP_HX_REQUEST="true")
    assert "The outbox is empty." in response.content.decode()
    assert "<html" not in response.content.decode()


def test_send_test_message_rejects_an_invalid_address(staff_client):
    response = staff_client.post(reverse("dashboard:outbox_send_test"), {"to": "not-an-address"})
    assert response.status_code == 422
    assert "Enter a valid email address." in response.content.decode()


def test_send_test_message_is_queued_after_commit(staff_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(
            reverse("dashboard:outbox_send_test"), {"to": "ops@example.org"}, follow=True
        )
    assert "Test message queued" in response.content.decode()
    assert len(callbacks) == 1
