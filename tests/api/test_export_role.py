"""Exporting a list takes every address away from Crier: editors and owners may, viewers
may not — the same rule for the dashboard and for API tokens."""

import pytest
from django.urls import reverse

from api.services import issue_token
from newsletter.access import EXPORT_ROLE
from newsletter.models import Role
from tests.api.conftest import ApiClient
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def token_for(newsletter, role: Role) -> ApiClient:
    membership = MembershipFactory(newsletter=newsletter, role=role)
    return ApiClient(issue_token(user=membership.user, newsletter=newsletter, role=role)[1])


@pytest.mark.parametrize(
    ("role", "status"), [(Role.VIEWER, 403), (Role.EDITOR, 200), (Role.OWNER, 200)]
)
def test_an_api_token_exports_only_with_the_dashboards_role(newsletter, news, role, status):
    response = token_for(newsletter, role).get(f"/api/v1/lists/{news.slug}/export.csv")
    assert response.status_code == status
    assert (status == 200) == Role.includes(role, EXPORT_ROLE)
    if status == 403:
        assert "needs editor" in response.json()["detail"]


def test_an_editor_token_of_a_demoted_member_can_no_longer_export(newsletter, news):
    membership = MembershipFactory(newsletter=newsletter, role=Role.EDITOR)
    api = ApiClient(issue_token(user=membership.user, newsletter=newsletter, role=Role.EDITOR)[1])
    membership.role = Role.VIEWER
    membership.save()
    assert api.get(f"/api/v1/lists/{news.slug}/export.csv").status_code == 403


def test_the_dashboard_export_asks_for_the_same_role():
    from subscribers.dashboard import list_export

    assert list_export.required_role == EXPORT_ROLE


@pytest.mark.parametrize(("role", "status"), [(Role.VIEWER, 403), (Role.EDITOR, 200)])
def test_the_dashboard_export_by_role(client, newsletter, news, role, status):
    membership = MembershipFactory(newsletter=newsletter, role=role)
    client.force_login(membership.user)
    response = client.get(reverse("dashboard:list_export", args=[newsletter.slug, news.slug]))
    assert response.status_code == status
