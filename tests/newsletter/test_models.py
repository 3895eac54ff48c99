import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from newsletter.models import Membership, Role
from tests.factories import MembershipFactory, NewsletterFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_sender_header_quotes_the_display_name():
    newsletter = NewsletterFactory(from_name="Ada, the Project", from_email="news@example.org")
    assert newsletter.sender == '"Ada, the Project" <news@example.org>'


def test_a_user_has_one_membership_per_newsletter():
    membership = MembershipFactory()
    with pytest.raises(IntegrityError):
        Membership.objects.create(
            newsletter=membership.newsletter, user=membership.user, role=Role.OWNER
        )


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.VIEWER, {Role.VIEWER}),
        (Role.EDITOR, {Role.VIEWER, Role.EDITOR}),
        (Role.OWNER, {Role.VIEWER, Role.EDITOR, Role.OWNER}),
    ],
)
def test_each_role_allows_what_the_lesser_roles_allow(role, allowed):
    membership = MembershipFactory(role=role)
    assert {wanted for wanted in Role if Role.includes(membership.role, wanted)} == allowed


def test_unknown_timezone_is_rejected_with_its_name():
    newsletter = NewsletterFactory.build(timezone="Mars/Olympus")
    with pytest.raises(ValidationError) as error:
        newsletter.full_clean()
    assert "Mars/Olympus is not a known time zone." in error.value.message_dict["timezone"]


def test_newsletter_defaults_to_aggregate_tracking_and_english():
    newsletter = NewsletterFactory()
    newsletter.full_clean()
    assert newsletter.tracking_policy == "aggregate"
    assert newsletter.language == "en"
    assert newsletter.members.count() == 0
    user = UserFactory()
    MembershipFactory(newsletter=newsletter, user=user)
    assert list(user.newsletters.all()) == [newsletter]
