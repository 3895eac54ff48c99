import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.test import RequestFactory

from newsletter.access import member_required, newsletters_for
from newsletter.models import Role
from tests.factories import MembershipFactory, NewsletterFactory, UserFactory

pytestmark = pytest.mark.django_db


@member_required(Role.EDITOR)
def editor_view(request, newsletter):
    return HttpResponse(f"{newsletter.slug} as {request.role}")


def call(user, newsletter):
    request = RequestFactory().get("/")
    request.user = user
    return editor_view(request, slug=newsletter.slug)


@pytest.mark.parametrize(
    ("role", "allowed"), [(Role.VIEWER, False), (Role.EDITOR, True), (Role.OWNER, True)]
)
def test_each_role_against_an_editor_action(role, allowed):
    membership = MembershipFactory(role=role)
    if allowed:
        response = call(membership.user, membership.newsletter)
        assert response.content.decode() == f"{membership.newsletter.slug} as {role}"
    else:
        with pytest.raises(PermissionDenied):
            call(membership.user, membership.newsletter)


def test_non_members_are_told_nothing_exists():
    with pytest.raises(Http404):
        call(UserFactory(), NewsletterFactory())


def test_superusers_act_as_owners_everywhere():
    response = call(UserFactory(is_superuser=True), NewsletterFactory(slug="any"))
    assert response.content.decode() == "any as owner"


def test_anonymous_users_are_sent_to_log_in():
    response = call(AnonymousUser(), NewsletterFactory())
    assert response.status_code == 302


def test_newsletters_for_lists_memberships_only():
    mine = MembershipFactory().newsletter
    NewsletterFactory()
    assert list(newsletters_for(mine.members.get())) == [mine]
