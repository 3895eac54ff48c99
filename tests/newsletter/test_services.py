import pytest
from django.core.exceptions import ValidationError

from newsletter import services
from newsletter.models import Membership, Role
from tests.factories import MembershipFactory, NewsletterFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_member_add_gives_an_account_a_role():
    newsletter = NewsletterFactory()
    ada = UserFactory(username="ada")
    membership = services.member_add(newsletter=newsletter, user=ada, role="editor")
    assert (membership.user, membership.role) == (ada, Role.EDITOR)


def test_member_add_refuses_inactive_accounts_and_existing_members():
    newsletter = NewsletterFactory()
    gone = UserFactory(username="gone", is_active=False)
    member = MembershipFactory(newsletter=newsletter)
    for user in (gone, member.user):
        with pytest.raises(ValidationError):
            services.member_add(newsletter=newsletter, user=user, role="viewer")
    assert Membership.objects.filter(newsletter=newsletter).count() == 1


def test_the_last_owner_can_be_neither_demoted_nor_removed():
    owner = MembershipFactory(role=Role.OWNER)
    with pytest.raises(ValidationError, match="at least one owner"):
        services.member_change_role(membership=owner, role=Role.EDITOR)
    with pytest.raises(ValidationError, match="at least one owner"):
        services.member_remove(membership=owner)
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_an_owner_can_step_down_once_another_owner_exists():
    first = MembershipFactory(role=Role.OWNER)
    second = MembershipFactory(newsletter=first.newsletter, role=Role.EDITOR)
    services.member_change_role(membership=second, role=Role.OWNER)
    services.member_change_role(membership=first, role=Role.VIEWER)
    services.member_remove(membership=first)
    assert list(Membership.objects.values_list("user", "role")) == [(second.user_id, "owner")]


def test_newsletter_update_saves_changes_and_refuses_bad_ones():
    newsletter = NewsletterFactory(timezone="UTC")
    services.newsletter_update(
        newsletter=newsletter, changes={"timezone": "Europe/Paris", "tracking_policy": "off"}
    )
    newsletter.refresh_from_db()
    assert (newsletter.timezone, newsletter.tracking_policy) == ("Europe/Paris", "off")
    with pytest.raises(ValidationError):
        services.newsletter_update(newsletter=newsletter, changes={"timezone": "Mars/Olympus"})
    with pytest.raises(ValidationError):
        services.newsletter_update(newsletter=newsletter, changes={"slug": "other"})
    newsletter.refresh_from_db()
    assert (newsletter.timezone, newsletter.slug) == ("Europe/Paris", newsletter.slug)
