import pytest
from django.urls import reverse

from api.models import ApiToken
from api.services import authenticate
from newsletter.models import Membership, Role
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(client):
    membership = MembershipFactory(role=Role.OWNER, user__username="olga")
    client.force_login(membership.user)
    return membership


def settings_data(newsletter, **changes):
    data = {
        field: getattr(newsletter, field)
        for field in (
            "name",
            "description",
            "language",
            "timezone",
            "from_name",
            "from_email",
            "reply_to",
            "postal_address",
            "consent_text",
            "tracking_policy",
        )
    }
    return {**data, **changes}


def test_owner_changes_tracking_policy_timezone_and_sender(client, owner):
    newsletter = owner.newsletter
    url = reverse("dashboard:settings", args=[newsletter.slug])
    response = client.post(
        url,
        settings_data(
            newsletter,
            tracking_policy="off",
            timezone="Europe/Berlin",
            from_name="Release team",
            record_consent_ip="on",
        ),
        follow=True,
    )
    assert "Settings saved." in response.content.decode()
    newsletter.refresh_from_db()
    assert newsletter.tracking_policy == "off"
    assert newsletter.timezone == "Europe/Berlin"
    assert newsletter.from_name == "Release team"
    assert newsletter.record_consent_ip is True


def test_bad_settings_are_refused_field_by_field_and_nothing_changes(client, owner):
    newsletter = owner.newsletter
    url = reverse("dashboard:settings", args=[newsletter.slug])
    response = client.post(
        url,
        settings_data(newsletter, name="Renamed", from_email="not an address", timezone="Nowhere"),
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "Enter a valid email address." in page
    assert "Nowhere is not a known time zone." in page
    newsletter.refresh_from_db()
    assert newsletter.name != "Renamed"


def test_owner_changes_a_members_role_and_removes_them(client, owner):
    newsletter = owner.newsletter
    bob = MembershipFactory(newsletter=newsletter, user__username="bob", role=Role.EDITOR)
    client.post(
        reverse("dashboard:settings_member_role", args=[newsletter.slug, bob.pk]),
        {"role": "viewer"},
    )
    bob.refresh_from_db()
    assert bob.role == Role.VIEWER
    response = client.post(
        reverse("dashboard:settings_member_remove", args=[newsletter.slug, bob.pk]), follow=True
    )
    assert "bob was removed." in response.content.decode()
    assert not Membership.objects.filter(pk=bob.pk).exists()


def test_owner_turns_on_two_factor_for_the_team(client, owner):
    newsletter = owner.newsletter
    url = reverse("dashboard:settings", args=[newsletter.slug])
    client.post(url, settings_data(newsletter, require_two_factor="on"))
    newsletter.refresh_from_db()
    assert newsletter.require_two_factor is True


def test_settings_keep_asking_for_a_postal_address(client, owner):
    """The model lets ``create_newsletter`` leave it empty; the settings form never does."""
    newsletter = owner.newsletter
    url = reverse("dashboard:settings", args=[newsletter.slug])
    response = client.post(url, settings_data(newsletter, postal_address=""))
    assert response.status_code == 422
    assert "postal_address" in response.context["form"].errors
    newsletter.refresh_from_db()
    assert newsletter.postal_address


def test_the_last_owner_cannot_remove_themselves(client, owner):
    url = reverse("dashboard:settings_member_remove", args=[owner.newsletter.slug, owner.pk])
    response = client.post(url, follow=True)
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_an_owner_who_steps_down_lands_on_the_dashboard(client, owner):
    MembershipFactory(newsletter=owner.newsletter, role=Role.OWNER)
    url = reverse("dashboard:settings_member_role", args=[owner.newsletter.slug, owner.pk])
    response = client.post(url, {"role": "viewer"})
    assert response["Location"] == reverse("dashboard:home")


def test_a_membership_of_another_newsletter_is_not_found(client, owner):
    elsewhere = MembershipFactory()
    url = reverse("dashboard:settings_member_remove", args=[owner.newsletter.slug, elsewhere.pk])
    assert client.post(url).status_code == 404
    assert Membership.objects.filter(pk=elsewhere.pk).exists()


def test_token_is_shown_once_works_and_can_be_revoked(client, owner):
    url = reverse("dashboard:settings_tokens", args=[owner.newsletter.slug])
    response = client.post(url, {"name": "release script", "role": "editor"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    raw = response.context["created"]["raw"]
    assert raw in response.content.decode()
    assert authenticate(raw)[1] == Role.EDITOR
    listing = client.get(url).content.decode()
    assert token.prefix in listing
    assert raw not in listing
    client.post(reverse("dashboard:settings_token_revoke", args=[owner.newsletter.slug, token.pk]))
    assert authenticate(raw) is None
    assert "Revoked" in client.get(url).content.decode()


def test_a_token_with_an_unknown_role_is_refused(client, owner):
    url = reverse("dashboard:settings_tokens", args=[owner.newsletter.slug])
    response = client.post(url, {"name": "x", "role": "superuser"})
    assert response.status_code == 422
    assert not ApiToken.objects.exists()


def test_a_post_without_the_csrf_token_is_refused(owner):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner.user)
    url = reverse("dashboard:settings_tokens", args=[owner.newsletter.slug])
    assert browser.post(url, {"name": "forged", "role": "viewer"}).status_code == 403
    assert not ApiToken.objects.exists()
