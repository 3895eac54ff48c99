"""The way in without /admin/: a forgotten password, an invitation's link, a new newsletter."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from campaigns.services import content_problems
from delivery.models import OutboxMessage
from newsletter import emails, invitations
from newsletter.models import Invitation, InvitationStatus, Membership, Newsletter, Role
from tests.factories import (
    PASSWORD,
    CampaignFactory,
    MembershipFactory,
    NewsletterFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


# A forgotten password


def test_the_login_page_links_to_the_password_reset(client):
    page = client.get(reverse("dashboard:login")).content.decode()
    assert reverse("dashboard:password_reset") in page


def test_a_reset_answers_the_same_for_a_known_and_an_unknown_address(
    client, django_capture_on_commit_callbacks
):
    UserFactory(username="ada", email="ada@example.org")
    url = reverse("dashboard:password_reset")
    with django_capture_on_commit_callbacks() as known_callbacks:
        known = client.post(url, {"email": "ada@example.org"})
    with django_capture_on_commit_callbacks() as unknown_callbacks:
        unknown = client.post(url, {"email": "nobody@example.org"})
    assert (known.status_code, known["Location"]) == (
        unknown.status_code,
        unknown["Location"],
    )
    assert known["Location"] == reverse("dashboard:password_reset_done")
    assert (len(known_callbacks), len(unknown_callbacks)) == (1, 0)


def test_a_reset_with_a_bad_address_names_the_field(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("dashboard:password_reset"), {"email": "not an address"})
    assert response.status_code == 422
    assert "email" in response.context["form"].errors
    assert callbacks == []


def test_reset_requests_are_rate_limited_per_client_address(client, settings):
    settings.LOGIN_ATTEMPTS_PER_IP = 2
    url = reverse("dashboard:password_reset")
    for number in range(2):
        assert client.post(url, {"email": f"x{number}@example.org"}).status_code == 302
    response = client.post(url, {"email": "x3@example.org"})
    assert response.status_code == 429
    assert "Retry-After" in response
    other = client.post(url, {"email": "x4@example.org"}, REMOTE_ADDR="192.0.2.9")
    assert other.status_code == 302


def test_a_reset_link_leads_to_a_new_password_and_a_login_with_it(client):
    ada = UserFactory(username="ada", email="ada@example.org")
    emails.send_password_reset(user_id=ada.pk, language="en")
    link = re.search(r"https?://\S+/password/set/\S+/", OutboxMessage.objects.get().body("plain"))
    path = urlsplit(link.group(0)).path
    form = client.get(path, follow=True)
    assert form.context["validlink"] and not form.context["first_password"]
    assert "Choose a new password" in form.content.decode()
    set_url = form.redirect_chain[-1][0]
    assert "set-password" in set_url  # the token left the address bar
    mismatch = client.post(set_url, {"new_password1": "one long phrase", "new_password2": "x"})
    assert mismatch.status_code == 200 and mismatch.context["form"].errors
    response = client.post(
        set_url, {"new_password1": "one long phrase", "new_password2": "one long phrase"}
    )
    assert response["Location"] == reverse("dashboard:password_reset_complete")
    login = client.post(
        reverse("dashboard:login"), {"username": "ada", "password": "one long phrase"}
    )
    assert login["Location"] == reverse("dashboard:home")


# An invitation's link


@pytest.fixture
def owner(client):
    membership = MembershipFactory(
        role=Role.OWNER, user__username="olga", newsletter__name="Project News"
    )
    return membership


def mailed_link(invitation: Invitation) -> str:
    assert emails.send_invitation(invitation_id=invitation.pk)
    mail = OutboxMessage.objects.filter(recipients=[invitation.email]).order_by("-pk").first()
    return urlsplit(re.search(r"https?://\S+/invitations/\S+/", mail.body("plain")).group(0)).path


def invite(owner, email="ada@example.org", role=Role.EDITOR) -> Invitation:
    return invitations.invitation_create(
        newsletter=owner.newsletter, email=email, role=role, invited_by=owner.user
    )


def test_an_owner_invites_from_the_members_page(client, owner, django_capture_on_commit_callbacks):
    client.force_login(owner.user)
    url = reverse("dashboard:settings_members", args=[owner.newsletter.slug])
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, {"email": "ada@example.org", "role": "editor"}, follow=True)
    assert "Invitation sent to ada@example.org." in response.content.decode()
    assert len(callbacks) == 1
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "ada@example.org",
        Role.EDITOR,
        owner.user,
    )
    page = client.get(url).content.decode()
    assert "ada@example.org" in page and "Being sent…" in page


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "nope", "role": "editor"}, "email"),
        ({"email": "ada@example.org", "role": "admin"}, "role"),
        ({"email": "olga@example.org", "role": "editor"}, "email"),  # already a member
    ],
)
def test_a_bad_invitation_names_the_field_and_stores_nothing(client, owner, data, field):
    client.force_login(owner.user)
    url = reverse("dashboard:settings_members", args=[owner.newsletter.slug])
    response = client.post(url, data)
    assert response.status_code == 422
    assert field in response.context["invite_form"].errors
    assert not Invitation.objects.exists()


def test_an_owner_sends_again_and_revokes_from_the_members_page(client, owner):
    invitation = invite(owner)
    first = mailed_link(invitation)
    client.force_login(owner.user)
    slug = owner.newsletter.slug
    response = client.post(
        reverse("dashboard:settings_invitation_resend", args=[slug, invitation.pk]), follow=True
    )
    assert "the earlier link no longer works" in response.content.decode()
    assert client.get(first).status_code == 404
    second = mailed_link(invitation)
    assert client.get(second).status_code == 200
    response = client.post(
        reverse("dashboard:settings_invitation_revoke", args=[slug, invitation.pk]), follow=True
    )
    assert "is revoked" in response.content.decode()
    assert client.get(second).status_code == 404
    again = client.post(
        reverse("dashboard:settings_invitation_revoke", args=[slug, invitation.pk]), follow=True
    )
    assert "already revoked" in again.content.decode()


def test_another_newsletters_invitation_is_not_found(client, owner):
    elsewhere = invite(MembershipFactory(role=Role.OWNER))
    client.force_login(owner.user)
    for name in ("settings_invitation_resend", "settings_invitation_revoke"):
        url = reverse(f"dashboard:{name}", args=[owner.newsletter.slug, elsewhere.pk])
        assert client.post(url).status_code == 404
    elsewhere.refresh_from_db()
    assert elsewhere.status == InvitationStatus.PENDING


def test_a_new_person_signs_up_from_the_link_then_logs_in(client, owner):
    link = mailed_link(invite(owner, role=Role.EDITOR))
    page = client.get(link)
    assert page.status_code == 200
    assert "Join Project News" in page.content.decode()
    bad = client.post(link, {"username": "ada", "password1": PASSWORD, "password2": "other"})
    assert bad.status_code == 422
    assert "password2" in bad.context["form"].errors
    assert not get_user_model().objects.filter(username="ada").exists()

    response = client.post(link, {"username": "ada", "password1": PASSWORD, "password2": PASSWORD})
    newsletter_url = reverse("dashboard:newsletter", args=[owner.newsletter.slug])
    location = urlsplit(response["Location"])
    assert location.path == reverse("dashboard:login")
    assert parse_qs(location.query) == {"next": [newsletter_url]}
    ada = get_user_model().objects.get(username="ada")
    assert ada.email == "ada@example.org"
    assert Membership.objects.get(user=ada).role == Role.EDITOR
    assert client.get(link).status_code == 404  # once only
    login = client.post(
        response["Location"], {"username": "ada", "password": PASSWORD, "next": newsletter_url}
    )
    assert login["Location"] == newsletter_url
    assert client.get(newsletter_url).status_code == 200


def test_an_existing_account_logs_in_to_accept(client, owner):
    bob = UserFactory(username="bob", email="bob@example.org")
    link = mailed_link(invite(owner, email="BOB@example.org", role=Role.VIEWER))
    page = client.get(link).content.decode()
    assert "Log in to accept" in page
    assert f"{reverse('dashboard:login')}?next=" in page
    assert client.post(link, {"username": "bob2", "password1": PASSWORD}).status_code == 200
    assert get_user_model().objects.count() == 2  # no second account for the address

    client.force_login(bob)
    assert "Accept as bob" in client.get(link).content.decode()
    response = client.post(link)
    assert response["Location"] == reverse("dashboard:newsletter", args=[owner.newsletter.slug])
    assert Membership.objects.get(user=bob).role == Role.VIEWER


def test_a_used_or_unknown_link_says_it_does_not_work(client):
    response = client.get(reverse("dashboard:invitation", args=["no-such-token"]))
    assert response.status_code == 404
    assert "This invitation does not work any more" in response.content.decode()
    assert client.post(reverse("dashboard:invitation", args=["no-such-token"])).status_code == 404


# A new newsletter


@pytest.fixture
def admin(client):
    user = UserFactory(username="root", is_superuser=True, is_staff=True)
    client.force_login(user)
    return user


def newsletter_data(**changes):
    return {
        "name": "Kernel News",
        "slug": "",
        "from_name": "Kernel",
        "from_email": "news@kernel.example.org",
        "postal_address": "1 Example Street, Paris",
        "language": "en",
        "timezone": "Europe/Paris",
        **changes,
    }


def test_an_instance_admin_creates_a_newsletter_and_owns_it(client, admin):
    home = client.get(reverse("dashboard:home")).content.decode()
    assert reverse("dashboard:newsletter_create") in home
    form = client.get(reverse("dashboard:newsletter_create"))
    assert form.status_code == 200
    assert form.context["form"]["timezone"].value() == "UTC"
    response = client.post(reverse("dashboard:newsletter_create"), newsletter_data())
    newsletter = Newsletter.objects.get()
    assert response["Location"] == newsletter.get_absolute_url()
    assert (newsletter.slug, newsletter.timezone, newsletter.sender) == (
        "kernel-news",
        "Europe/Paris",
        "Kernel <news@kernel.example.org>",
    )
    assert Membership.objects.get(newsletter=newsletter).user == admin
    assert newsletter.layouts.count() == 3
    campaign = CampaignFactory(newsletter=newsletter, layout=newsletter.layouts.first())
    assert content_problems(campaign=campaign) == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"from_email": "nope"}, "from_email"),
        ({"postal_address": ""}, "postal_address"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"language": "xx"}, "language"),
        ({"slug": "not a slug"}, "slug"),
        ({"slug": "taken"}, "slug"),
        ({"name": "Taken"}, "slug"),  # the slug made from the name is taken
    ],
)
def test_a_bad_newsletter_names_the_field_and_creates_nothing(client, admin, changes, field):
    NewsletterFactory(slug="taken")
    response = client.post(reverse("dashboard:newsletter_create"), newsletter_data(**changes))
    assert response.status_code == 422
    assert field in response.context["form"].errors
    assert Newsletter.objects.count() == 1


def test_only_instance_admins_create_newsletters(client):
    owner = MembershipFactory(role=Role.OWNER)
    client.force_login(owner.user)
    url = reverse("dashboard:newsletter_create")
    assert client.get(url).status_code == 403
    assert client.post(url, newsletter_data()).status_code == 403
    assert Newsletter.objects.count() == 1
    assert url not in client.get(reverse("dashboard:home")).content.decode()


def test_the_permission_alone_lets_an_account_create_newsletters(client):
    from django.contrib.auth.models import Permission

    creator = UserFactory(username="creator")
    creator.user_permissions.add(Permission.objects.get(codename="add_newsletter"))
    client.force_login(creator)
    client.post(reverse("dashboard:newsletter_create"), newsletter_data())
    newsletter = Newsletter.objects.get()
    assert Membership.objects.get(newsletter=newsletter).user == creator
    assert client.get(reverse("dashboard:newsletter", args=["kernel-news"])).status_code == 200
    other = NewsletterFactory()
    assert client.get(reverse("dashboard:newsletter", args=[other.slug])).status_code == 404
